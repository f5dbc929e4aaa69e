# slapgo — build, test and run targets. `make help` lists them.

GO      ?= go
BIN     := bin/slapgo
STATIC  := bin/slapgo-static
MODULE  := github.com/slapgo/slapgo

# Stamped into the binary (see internal/buildinfo); overridable:
#   make build VERSION=v1.2.0
VERSION ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null),dev)
COMMIT  ?= $(or $(shell git rev-parse --verify --quiet --short=12 HEAD 2>/dev/null),unknown)
LDFLAGS := -X $(MODULE)/internal/buildinfo.Version=$(VERSION) \
           -X $(MODULE)/internal/buildinfo.Commit=$(COMMIT)

# Unit and in-process scenario tests; live and cluster runs take longer.
TEST_TIMEOUT    ?= 15m
LIVE_TIMEOUT    ?= 30m
CLUSTER_TIMEOUT ?= 60m

# has_pkgs PATTERN: true when PATTERN matches at least one package, so that
# targets for packages still to come do not fail before they exist.
has_pkgs = [ -n "$$($(GO) list $(1) 2>/dev/null)" ]

.DEFAULT_GOAL := build
.PHONY: help deps build static test test-unit test-features test-live test-cluster \
        run stop sim bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

deps: ## download the Go modules
	$(GO) mod download

build: deps ## build bin/slapgo
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/slapgo

static: deps ## build a statically linked bin/slapgo-static (for FROM scratch images)
	CGO_ENABLED=1 $(GO) build -trimpath -tags osusergo,netgo,sqlite_omit_load_extension \
		-ldflags '$(LDFLAGS) -linkmode external -extldflags -static' -o $(STATIC) ./cmd/slapgo

test: test-unit test-features test-live ## every test: vet, unit, cluster (when Docker answers), scenarios on the simulator and on the live stack

test-unit: deps ## go vet, then every package's tests
	$(GO) vet ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

test-features: deps ## the Gherkin scenarios on the in-process simulator backend (reports in reports/)
	@if $(call has_pkgs,./features/...); then \
		mkdir -p reports && \
		SLAPGO_FEATURES_BACKEND=sim SLAPGO_FEATURES_REPORTS=$(CURDIR)/reports \
		$(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./features/; \
	else echo "test-features: no features package yet"; fi

test-live: build ## the Gherkin scenarios on a real master and node agents on loopback (reports in reports/)
	@if $(call has_pkgs,./features/...); then \
		mkdir -p reports && \
		SLAPGO_FEATURES_BACKEND=live SLAPGO_BIN=$(CURDIR)/$(BIN) SLAPGO_FEATURES_REPORTS=$(CURDIR)/reports \
		$(GO) test -timeout $(LIVE_TIMEOUT) -count=1 -run TestFeatures ./features/; \
	else echo "test-live: no features package yet"; fi

test-cluster: static ## master and node agents in containers built locally: deploy, node loss, partition, restarts
	SLAPGO_BIN=$(CURDIR)/$(STATIC) TESTCONTAINERS_RYUK_DISABLED=true \
		$(GO) test -timeout $(CLUSTER_TIMEOUT) -count=1 -v ./cluster/
	SLAPGO_BIN=$(CURDIR)/$(STATIC) TESTCONTAINERS_RYUK_DISABLED=true \
		$(GO) test -timeout $(CLUSTER_TIMEOUT) -count=1 ./features/backend/clusterbackend/

run: build ## start a local grid and deploy the sample software
	$(BIN) demo

stop: ## stop the local grid
	$(BIN) demo stop

sim: build ## run the baseline simulation scenario into out/sim/baseline
	$(BIN) sim run fixtures/scenarios/baseline.yaml --seed 1 --out out/sim/baseline

bench: build ## Go benchmarks of core/ (for benchstat), then `slapgo bench all`, into bench/results
	mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -count 5 ./core/... > bench/results/go-bench.txt \
		|| { cat bench/results/go-bench.txt; exit 1; }
	@echo "bench/results/go-bench.txt: compare two runs with benchstat old.txt new.txt"
	$(BIN) bench all --out bench/results

lint: ## gofmt and go vet must be clean
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean: ## remove built binaries and generated outputs
	rm -rf bin out reports
