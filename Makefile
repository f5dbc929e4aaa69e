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

# Tools of `make lint`, pinned; `go run` fetches each through the Go module
# proxy once, then runs it from the build cache.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEADCODE    := golang.org/x/tools/cmd/deadcode@v0.52.0

# Debian packages the tests need: a static busybox (the cluster image, the
# live scenarios, the storm benchmark), a C compiler, libc and make (the
# hello fixture, `make static`), ip (network namespaces), useradd & co.
# (privileged format), postgresql (the PostgreSQL store's tests), chromium
# (the portal's browser tests). `make test-deps` installs the missing ones.
TEST_DEBS := busybox-static gcc libc6-dev make iproute2 passwd postgresql chromium

# Every test skipped for a missing prerequisite or -short appends one line
# here (internal/testenv); `make test` empties it first and prints it last.
SKIP_LOG := $(CURDIR)/reports/skips.txt
export SLAPGO_SKIP_LOG := $(SKIP_LOG)

# The packages of test-unit: all but ./features, whose scenarios
# test-features runs (with its reports).
UNIT_PKGS = $(shell $(GO) list ./... | grep -vx '$(MODULE)/features')

# has_pkgs PATTERN: true when PATTERN matches at least one package, so that
# targets for packages still to come do not fail before they exist.
has_pkgs = [ -n "$$($(GO) list $(1) 2>/dev/null)" ]

.DEFAULT_GOAL := build
.PHONY: help check-build-env deps build static test test-deps test-unit test-features test-live test-cluster \
        skips run stop sim bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

check-build-env: ## check what building needs (Go >= 1.26, a C compiler with the C library, make) and say how to install what is missing
	@tools/check-build-env.sh "$(GO)"

deps: check-build-env ## download the Go modules
	$(GO) mod download

build: deps ## build bin/slapgo
	@[ -x $(BIN) ] || echo "compiling slapgo: the first time takes minutes (about 6 on 2 cores); later builds take seconds"
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/slapgo

static: deps ## build a statically linked bin/slapgo-static (for FROM scratch images)
	CGO_ENABLED=1 $(GO) build -trimpath -tags osusergo,netgo,sqlite_omit_load_extension \
		-ldflags '$(LDFLAGS) -linkmode external -extldflags -static' -o $(STATIC) ./cmd/slapgo

test: test-deps ## every test: vet, unit, cluster (when Docker answers), scenarios on the simulator and on the live stack; then the skips
	@mkdir -p reports && : > $(SKIP_LOG)
	@status=0; $(MAKE) --no-print-directory test-unit test-features test-live || status=$$?; \
	$(MAKE) --no-print-directory skips; exit $$status

test-deps: ## install the Debian packages the tests need, when some are missing (apt-get, as root)
	@missing=""; for p in $(TEST_DEBS); do \
		dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "test-deps: missing Debian packages:$$missing; the tests that need them skip (fail under CI=true)"; exit 0; \
	fi; \
	echo "test-deps: installing$$missing"; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

test-unit: deps ## go vet, then every package's tests but the scenarios (test-features runs those)
	@case " $$GOFLAGS " in *-short*) echo "test-unit: GOFLAGS has -short: the long tests are skipped (listed by make skips)";; esac
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(UNIT_PKGS)

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

skips: ## list the tests skipped since `make test` began (reports/skips.txt)
	@if [ -s $(SKIP_LOG) ]; then \
		echo "== $$(wc -l < $(SKIP_LOG)) test(s) SKIPPED (a missing prerequisite fails instead under CI=true):"; \
		sort $(SKIP_LOG) | sed 's/^/   /'; \
	else echo "== no test skipped"; fi

run: build ## start a local grid and deploy the sample software
	$(BIN) demo

stop: ## stop the local grid
	$(BIN) demo stop

sim: build ## run the baseline simulation scenario into out/sim/baseline
	$(BIN) sim run fixtures/scenarios/baseline.yaml --seed 1 --out out/sim/baseline

bench: build test-deps ## Go benchmarks of core/ (for benchstat), then `slapgo bench all` (its storms need busybox and useradd), into bench/results, and README's Performance table
	mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -count 5 ./core/... > bench/results/go-bench.txt \
		|| { cat bench/results/go-bench.txt; exit 1; }
	@echo "bench/results/go-bench.txt: compare two runs with benchstat old.txt new.txt"
	$(BIN) bench all --out bench/results --sim-nodes 100,1000,10000
	$(GO) test ./bench -count 1 -run TestReadmePerformanceTableIsLatest -args -update-readme

lint: ## gofmt, go vet, go mod tidy, staticcheck and deadcode (with and without the tests) must be clean (tools pinned above)
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) run $(STATICCHECK) ./...
	@dead=$$($(GO) run $(DEADCODE) -test ./...) || exit 1; \
	if [ -n "$$dead" ]; then echo "deadcode -test: functions that neither the code nor a test reaches (delete or use them):"; \
		echo "$$dead"; exit 1; fi
	@# What only tests reach: deadcode from the commands alone, against tools/deadcode-allow.txt.
	tools/deadcode-check.sh "$(GO) run $(DEADCODE)"

clean: ## remove built binaries and generated outputs
	rm -rf bin out reports
