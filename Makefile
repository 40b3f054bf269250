# Stride — the two commands a new machine needs are `make demo` and `make test`.
GO       ?= go
BIN      := bin/stride
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
STATICCHECK_VERSION := v0.8.2

.PHONY: build test vet lint fmt schema bench soak demo clean release image screenshots cluster-demo

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/stride

# vet, then every test with the race detector. Fuzz targets run their seed
# corpora (testdata/fuzz and f.Add) as part of go test. Then the shipped
# flows: validated, and their flow tests (*.test.yaml) run.
test: vet
	$(GO) test -race -count=1 ./...
	$(GO) run ./cmd/stride validate flows
	$(GO) run ./cmd/stride test flows

vet:
	$(GO) vet ./...

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Regenerate the JSON Schemas (flows, flow tests, mapping files) from the
# types that decode them.
schema:
	$(GO) run ./cmd/stride schema > schemas/flow.schema.json
	$(GO) run ./cmd/stride schema --kind flowtest > schemas/flowtest.schema.json
	$(GO) run ./cmd/stride schema --kind mapping > schemas/mapping.schema.json

# Go micro-benchmarks, then the loopback load benchmarks (bounded in time).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./... | tee bench.out
	$(GO) run ./cmd/stride-bench -duration 3s -rounds 3 -bin $(BIN) binary http webhook reload rss e2e daily cluster | tee bench.md
	$(GO) run ./cmd/stride-bench -bin $(BIN) -rate 200 -minutes 0.5 -every 10s soak | tee -a bench.md

# The soak: the real binary with the shipped Fitbit flows against the
# sandbox, RATE unique signed notifications a second for MINUTES, a line
# every EVERY (RSS, goroutines, disk, queue depth), then drained or not
# and bytes on disk per notification. MEMORY_LIMIT is stride run's
# --memory-limit (empty: its default).
RATE ?= 200
MINUTES ?= 2
EVERY ?= 1m
MEMORY_LIMIT ?=
soak: build
	$(GO) run ./cmd/stride-bench -bin $(BIN) -rate $(RATE) -minutes $(MINUTES) -every $(EVERY) -memory-limit "$(MEMORY_LIMIT)" soak

# The monitor's browser tests (headless Chromium), saving a PNG of each
# page they pass to docs/screenshots (shown in the README).
screenshots:
	STRIDE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'InABrowser' ./cmd/stride

# The shipped Fitbit flows against the sandbox, end to end, with a report.
demo: build
	$(GO) run ./cmd/stride-demo -bin $(BIN) -flows flows

# Three NATS JetStream servers and three stride processes with the shipped
# flows and the sandbox, on loopback: a burst, a process killed, a NATS
# server stopped; prints what happened (see docs/SCALE-OUT.md).
cluster-demo:
	$(GO) test -count=1 -v -run 'TestClusterOfThreeOnNATS' ./cmd/stride | grep -E 'cluster_test|^(ok|FAIL|---)'

# Static binaries for every platform, version and commit stamped, time
# zones embedded, with SHA-256 checksums: dist/stride-OS-ARCH, dist/SHA256SUMS.
release:
	@mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "build dist/stride-$$os-$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags timetzdata \
			-ldflags "-s -w $(LDFLAGS)" -o dist/stride-$$os-$$arch ./cmd/stride; \
	done
	cd dist && sha256sum stride-* > SHA256SUMS && cat SHA256SUMS

# The container image (Dockerfile): scratch, nothing pulled. Uses docker
# or podman, whichever is there.
image: release
	cp /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt
	$$(command -v docker || command -v podman) build -t stride:$(VERSION) .

clean:
	rm -rf bin dist .demo bench.out bench.md
