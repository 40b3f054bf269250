#!/usr/bin/env bash
# make demo: runs `stride run` with the shipped flows on loopback, drives it
# like a client would, and prints what happened. Exit 0 only when every
# expectation held.
set -uo pipefail
cd "$(dirname "$0")/.."

ADDR=${DEMO_ADDR:-127.0.0.1:18080}
ADMIN=${DEMO_ADMIN_ADDR:-127.0.0.1:18081}
WORK=.demo
rm -rf "$WORK" && mkdir -p "$WORK"

./bin/stride run --flows flows --data "$WORK/data" --addr "$ADDR" --admin-addr "$ADMIN" >"$WORK/stride.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT

for _ in $(seq 1 50); do
  curl -fsS "http://$ADMIN/admin/health" >/dev/null 2>&1 && break
  sleep 0.1
done

pass=0 fail=0
expect() { # name, want, got
  if [ "$2" = "$3" ]; then pass=$((pass+1)); printf '  ok    %-52s %s\n' "$1" "$3"
  else fail=$((fail+1)); printf '  FAIL  %-52s want %s, got %s\n' "$1" "$2" "$3"; fi
}

echo "Stride demo — engine on http://$ADDR, admin on http://$ADMIN"
echo
echo "Flows loaded:"
curl -fsS "http://$ADMIN/admin/flows" | jq -r '.flows[] | "  \(.id)  (\(.trigger), \(.status))  \(.file)"'
echo
echo "Requests:"
body=$(curl -sS -X POST "http://$ADDR/examples/activity" -H 'Content-Type: application/json' \
  -d '{"user":"26FWFL","day":"2026-11-22","steps":15720,"distanceKm":12.32}')
expect "activity echo: renamed and computed fields" '26FWFL 12320' "$(echo "$body" | jq -r '"\(.userId) \(.distanceMeters)"')"
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' -X POST "http://$ADDR/examples/activity" -d 'not json')
expect "malformed JSON answered by on_error" 400 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X GET "http://$ADDR/examples/activity")
expect "wrong method" 405 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/nowhere")
expect "unknown path" 404 "$code"

kill -TERM $PID; wait $PID; rc=$?
expect "clean shutdown on SIGTERM (exit code)" 0 "$rc"
trap - EXIT
echo
echo "Summary: $pass passed, $fail failed (log: $WORK/stride.log)"
[ "$fail" -eq 0 ]
