# massconn — see README.md. Every target works from a clean clone on a machine
# that .ci/run has prepared (Go, PostgreSQL 15 binaries, Node.js + npm).

SHELL := /bin/bash
# The k6 release is the one xk6-massconn/go.mod pins (the single source);
# build-k6.sh and massconn-bench get it from here.
K6_VERSION ?= $(shell awk '$$1 == "go.k6.io/k6" {print $$2}' xk6-massconn/go.mod)
export K6_VERSION
GO ?= go

.PHONY: all build test lint unit-test run bench nchan bench-server bench-floor bench-k6 bench-k6-tls bench-adapters bench-steps clean

all: build

build: bin/massconn-server bin/massconn-fleet bin/k6

bin/xk6: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../bin/xk6 go.k6.io/xk6/cmd/xk6

bin/golangci-lint: tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o ../../bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

bin/massconn-server: $(shell find server internal -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
	$(GO) build -o $@ ./server/cmd/massconn-server

bin/massconn-fleet: $(shell find fleet internal -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
	$(GO) build -o $@ ./fleet/cmd/massconn-fleet

# The measurement tools: every bench-* target below is a subcommand of it.
bin/massconn-bench: $(shell find cmd fleet server internal -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
	$(GO) build -o $@ ./cmd/massconn-bench

# k6 with the extension, exactly as a user builds it (xk6 --with MODULE=./dir).
bin/k6: bin/xk6 $(shell find xk6-massconn -name '*.go' ! -name '*_test.go' 2>/dev/null) xk6-massconn/go.mod xk6-massconn/go.sum
	scripts/build-k6.sh $@

# The WebSocket peer nobody here wrote: the npm `ws` package, for interop tests.
xk6-massconn/engine/testdata/wspeer/node_modules: xk6-massconn/engine/testdata/wspeer/package.json
	cd xk6-massconn/engine/testdata/wspeer && npm ci --no-audit --no-fund
	touch $@

# Centrifugo v6, a real server nobody here wrote, for the centrifugo adapter
# tests; built from its Go module (about 90 s cold) and cached in bin/.
CENTRIFUGO_VERSION ?= v6.9.1
bin/centrifugo:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)

# Socket.IO and graphql-ws servers and the official Phoenix client, for the
# protocol adapter tests.
xk6-massconn/engine/testdata/protopeers/node_modules: xk6-massconn/engine/testdata/protopeers/package.json xk6-massconn/engine/testdata/protopeers/package-lock.json
	cd xk6-massconn/engine/testdata/protopeers && npm ci --no-audit --no-fund
	touch $@

# tsc and k6's own types, to check every script we ship against
# xk6-massconn/index.d.ts (TestScriptsTypeCheck).
xk6-massconn/typecheck/node_modules: xk6-massconn/typecheck/package.json xk6-massconn/typecheck/package-lock.json
	cd xk6-massconn/typecheck && npm ci --no-audit --no-fund
	touch $@

# EventSource clients nobody here wrote (the npm eventsource package; the
# same script drives Chromium's own EventSource) for the /sse tests.
server/testdata/ssepeers/node_modules: server/testdata/ssepeers/package.json server/testdata/ssepeers/package-lock.json
	cd server/testdata/ssepeers && npm ci --no-audit --no-fund
	touch $@

lint: bin/golangci-lint
	@out=$$(gofmt -l cmd server internal fleet infra xk6-massconn 2>/dev/null); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd xk6-massconn && $(GO) vet ./...
	bin/golangci-lint run --allow-parallel-runners ./...
	cd xk6-massconn && ../bin/golangci-lint run --allow-parallel-runners --config ../.golangci.yml ./...

# Tests find the binaries under test through these, never by guessing.
# infra/ runs docker compose, the compose fleet and the Ansible playbook on a
# real engine: longer than go test's default 10 minutes on a cold machine
# (image builds), hence -timeout.
unit-test: export K6_BINARY = $(CURDIR)/bin/k6
unit-test: export MASSCONN_SERVER = $(CURDIR)/bin/massconn-server
unit-test: export MASSCONN_FLEET = $(CURDIR)/bin/massconn-fleet
unit-test: export WSPEER_DIR = $(CURDIR)/xk6-massconn/engine/testdata/wspeer
unit-test: export PROTOPEERS_DIR = $(CURDIR)/xk6-massconn/engine/testdata/protopeers
unit-test: export CENTRIFUGO_BINARY = $(CURDIR)/bin/centrifugo
unit-test: export SSEPEERS_DIR = $(CURDIR)/server/testdata/ssepeers
unit-test: server/testdata/ssepeers/node_modules xk6-massconn/engine/testdata/wspeer/node_modules xk6-massconn/engine/testdata/protopeers/node_modules xk6-massconn/typecheck/node_modules bin/centrifugo bin/massconn-server bin/massconn-fleet bin/k6
	cd xk6-massconn && $(GO) test -count=1 ./...
	$(GO) test -count=1 -timeout 60m ./...

test: lint unit-test

# The main job: one benchmark scenario (capacity by default) against
# throwaway Postgres + server(s) + insert loop, report in results/.
# Scale with e.g. make bench CONNECTIONS=200000 DURATION=60s SCENARIO=fanout.
bench: bin/massconn-server bin/massconn-fleet bin/k6
	scripts/bench.sh

# Just the target side (Postgres, server, insert loop) until Ctrl-C, for
# pointing your own k6 scripts at.
# Environment: LISTEN INSERT_EVERY INSERT_TABLE SERVER DATABASE_URL.
run: bin/massconn-server bin/massconn-bench
	bin/massconn-bench run

# nginx+nchan until Ctrl-C: someone else's server for
# massconn-fleet run --target (docs/scenarios.md, "Against your own server").
# Environment: NCHAN_ARGS (bin/massconn-bench nchan --help).
nchan: bin/massconn-bench
	bin/massconn-bench nchan $(NCHAN_ARGS)

# The Node.js target of bench-server: a small npm ws broadcast server.
server/testdata/nodews/node_modules: server/testdata/nodews/package.json server/testdata/nodews/package-lock.json
	cd server/testdata/nodews && npm ci --no-audit --no-fund
	touch $@

# Environment: CONNS ROUNDS SETTLE BENCH_MAX_DURATION SERVER_FLAGS DATABASE_URL
# TARGETS PUBLISH_SIZE (bin/massconn-bench server --help).
bench-server: bin/massconn-server bin/massconn-bench server/testdata/nodews/node_modules
	bin/massconn-bench server

# The machine's physical floor, now: CPU of a loopback write, read,
# connect+accept and bare WebSocket upgrade with raw syscalls.
bench-floor: bin/massconn-bench
	bin/massconn-bench floor $(FLOOR_FLAGS)

# Environment: STOCK_CONNS MASSCONN_CONNS FD_HEADROOM HOLD_MS MASSCONN_LOCAL_ADDRS
# FLOOD_CONNS FLOOD_SECONDS K6_TIMEOUT (bin/massconn-bench k6 --help).
bench-k6: bin/massconn-server bin/k6 bin/xk6 bin/massconn-bench
	bin/massconn-bench k6

# The protocol adapters at 10,000 connections against Centrifugo and Socket.IO.
# Environment: CONNECTIONS PUBS EVERY_MS K6_TIMEOUT (bin/massconn-bench adapters --help).
bench-adapters: bin/k6 bin/centrifugo bin/massconn-bench xk6-massconn/engine/testdata/protopeers/node_modules
	bin/massconn-bench adapters

# ws:// against wss:// (gws over TLS, ECDSA P-256), stock k6 against xk6-massconn.
# Environment: STOCK_CONNS MASSCONN_CONNS MASSCONN_LOCAL_ADDRS HOLD_MS TLS_CURVES SCHEMES
# K6_TIMEOUT (bin/massconn-bench k6-tls --help).
bench-k6-tls: bin/k6 bin/xk6 bin/massconn-bench
	bin/massconn-bench k6-tls

# Programs (steps) and churn (lifetime): RSS per connection, massconn_rtt, reconnects/s.
# Environment: STEPS_CONNS HOLD_MS RTT_CONNS RTT_DURATION CHURN_CONNS CHURN_RATE
# CHURN_HOLD_MS CHURN_MAX_IN_FLIGHT LOCAL_ADDRS PHASES K6_TIMEOUT (bin/massconn-bench steps --help).
bench-steps: bin/k6 bin/massconn-server bin/massconn-bench xk6-massconn/engine/testdata/wspeer/node_modules
	bin/massconn-bench steps

clean:
	rm -rf bin results
