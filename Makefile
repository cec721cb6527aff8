# Shoal build, test and benchmark entry points. CI runs `make lint`,
# `make test` and `make fuzz FUZZTIME=30000x` (see .ci/run).

GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
BIN := bin/shoal
FUZZTIME ?= 30s

.PHONY: all build deps run test bench bench-ab bench-metrics bench-migrate bench-failover bench-stability pgo fuzz jepsen lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/shoal

# A local 3-node cluster on ports 7000-7002; Ctrl-C stops it.
run: build
	./$(BIN) dev --nodes 3 --port 7000

# The Debian packages the tests need (redis-server, redis-cli, iptables,
# redis-py, ...), installed when missing: the same script CI runs.
deps:
	.ci/deps

test: build deps
	.ci/gotest -race -count=1 -timeout 25m ./...

bench: build
	SHOAL_BIN=$(CURDIR)/$(BIN) bench/run.sh

# Before/after: the ops and cluster rows of bench/run.sh with a build of
# BASE (a git revision, default HEAD~1) in Redis's place, against bin/shoal.
BASE ?= HEAD~1
bench-ab: build
	SHOAL_BIN=$(CURDIR)/$(BIN) bench/ab.sh $(BASE)

# The cost of metrics: bench/run.sh's cluster rows with the same binary on
# both sides, metrics on and scraped every second on one side, once on each
# side (bench/metrics.sh); prints on/off ratios and their geometric means.
# About 6 minutes on 2 cores.
bench-metrics: build
	SHOAL_BIN=$(CURDIR)/$(BIN) bench/metrics.sh

# Slot migration, Shoal (SHOAL MIGRATE) vs Redis Cluster (redis-cli
# --cluster reshard): one third of the slots moved on idle clusters with 1M
# keys of 64 B and 10k keys of 100 KB; then, with 1M keys of 64 B, the same
# move under a go-redis load and 30 handovers of 64 slots back and forth
# under it. About 4.5 minutes on 2 cores. See BENCHMARKS.md.
bench-migrate: build
	@echo "nproc $$(nproc); start: $$(uptime)"
	$(GO) run ./bench/migrate -shoal $(CURDIR)/$(BIN) -keys 1000000 -d 64
	$(GO) run ./bench/migrate -shoal $(CURDIR)/$(BIN) -keys 10000 -d 102400
	$(GO) run ./bench/migrate -shoal $(CURDIR)/$(BIN) -keys 1000000 -d 64 -load -handovers 30
	@echo "end: $$(uptime)"

# Failover time, Shoal vs Redis Cluster (cluster-node-timeout 15000 and 1000
# ms): KILLS (20) master kills each; see BENCHMARKS.md. About 15 minutes.
bench-failover: build
	SHOAL_BIN=$(CURDIR)/$(BIN) bench/failover.sh

# Leader changes of a 3-node cluster over 5 minutes of load cycles without
# faults (issue 9 asks for none); also part of `make bench`.
bench-stability: build
	SHOAL_BIN=$(CURDIR)/$(BIN) bench/run.sh stability

# Regenerate cmd/shoal/default.pgo, the CPU profile that go build uses for
# profile-guided optimization (BENCHMARKS.md, "Profile-guided optimization").
pgo:
	bench/pgo.sh

# Run every fuzz target for FUZZTIME. Targets are discovered with
# `go test -list '^Fuzz' ./...`, so new ones are picked up automatically.
# All targets run even if one fails; the target fails if any did. FUZZTIME
# is a duration (30s) or a count of inputs (30000x, what CI runs: see
# .ci/run for why a count).
fuzz:
	@list=$$($(GO) test -list '^Fuzz' ./...) || { printf '%s\n' "$$list"; exit 1; }; \
	targets=$$(printf '%s\n' "$$list" | awk '/^Fuzz/ { names[n++] = $$1; next } \
		/^ok[ \t]/ { for (i = 0; i < n; i++) print $$2 "|" names[i]; n = 0 }'); \
	if [ -z "$$targets" ]; then echo "no fuzz targets found"; exit 0; fi; \
	failed=""; \
	for t in $$targets; do \
		pkg=$${t%|*}; name=$${t#*|}; \
		echo "==> $$pkg $$name (fuzztime $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || failed="$$failed $$pkg.$$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failures:$$failed"; exit 1; fi

jepsen:
	@if ls integration/*.go >/dev/null 2>&1; then \
		SHOAL_JEPSEN_PROFILE=long $(GO) test -count=1 -v -run Jepsen -timeout 60m ./integration; \
	else \
		echo "no integration package yet; skipping jepsen"; \
	fi

lint:
	$(GO) vet ./...
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path './bin/*' -not -path '*/testdata/*' \
		-print0 | xargs -0 -r $(GOFMT) -l) || { echo "gofmt failed"; exit 1; }; \
	if [ -n "$$files" ]; then echo "gofmt -l lists files that need formatting:"; echo "$$files"; exit 1; fi

clean:
	rm -rf bin
