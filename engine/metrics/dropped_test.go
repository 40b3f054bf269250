package metrics_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/metrics"
)

// One counter, stride_message_log_dropped_total, for the entries dropped
// for either cause; runtime tests check that the guard's Dropped, which
// feeds it, counts both.
func TestMessageLogDroppedCounter(t *testing.T) {
	m := metrics.New(nil)
	dropped := int64(7)
	m.WatchDisk(func() uint64 { return 5 << 30 }, func() int64 { return dropped })
	scrape := func() string {
		w := httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		return w.Body.String()
	}
	out := scrape()
	for _, want := range []string{"stride_message_log_dropped_total 7", "# HELP stride_message_log_dropped_total", "fallen behind", "stride_data_free_bytes 5.36870912e+09"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
	dropped = 12
	if !strings.Contains(scrape(), "stride_message_log_dropped_total 12") {
		t.Error("the counter is not read at scrape time")
	}
}
