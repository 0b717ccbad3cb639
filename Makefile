# The targets CI and README use. Everything runs from a fresh clone with Go
# installed; `make e2e`-style targets that need more say what is missing.
GO      ?= go
PROMU   ?= promu
BIN     := msgraph_lro_exporter
PKGS    := ./...

# Version information, from one source: VERSION holds the number; git the
# revision, branch and commit date. A plain `go build` finds the same
# (version.go), from the embedded VERSION and what Go records of git.
VERSION    := $(shell cat VERSION)
REVISION   := $(shell git rev-parse HEAD 2>/dev/null)
BRANCH     := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
BUILD_DATE := $(shell date -u +%Y%m%d-%H:%M:%S)
VPKG       := github.com/prometheus/common/version
LDFLAGS    := -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) -X $(VPKG).Branch=$(BRANCH) \
              -X $(VPKG).BuildUser=$(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null) -X $(VPKG).BuildDate=$(BUILD_DATE)

.PHONY: staticcheck bench-scale soak chart chart-test fuzz all build test vet fmt-check unit check-metrics rules e2e bench promu docker clean

all: test build

## build: ./msgraph_lro_exporter with VERSION, the git revision, branch and build date
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

## test: formatting, go vet, staticcheck, and every unit and in-process integration test with the race detector, one package at a time
test: fmt-check vet staticcheck unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# One package at a time, so that each says "ok" as it passes rather than
# all waiting for the slowest.
unit:
	@rc=0; for p in $$($(GO) list $(PKGS)); do \
		echo "--- go test -race -count=1 $$p"; \
		$(GO) test -race -count=1 $$p || rc=1; \
	done; exit $$rc

## bench-scale: cold and warm scrapes, their floors and peak RSS at 10,000 and 50,000 operations, through the binary (BENCH_SCALE=ops/latency,… picks the cases; BASELINE=<git rev> measures that revision's build in the same run)
bench-scale:
	@base=""; if [ -n "$(BASELINE)" ]; then \
		d=$$(mktemp -d); git archive $(BASELINE) | tar -x -C $$d && (cd $$d && $(GO) build -o $$d/baseline .) || exit 1; \
		base=$$d/baseline; echo "baseline: $(BASELINE) built as $$base"; \
	fi; \
	BENCH_BASELINE_BIN=$$base $(GO) test -run '^$$' -bench 'ScrapeAtScale' -benchtime=1x -count=3 -timeout 60m .

## soak: the long soak under faults (10,000 scrapes, about 7 minutes with -race on two cores; make test runs its short form, 120)
soak:
	MSGRAPH_LRO_SOAK=long $(GO) test -race -count=1 -timeout 30m -run TestSoakWithFaults -v ./collector/

## check-metrics: run the demo and lint its /metrics with promtool, and both encoders' output (needs promtool: apt-get install prometheus)
check-metrics:
	MSGRAPH_LRO_REQUIRE_PROMTOOL=1 $(GO) test -count=1 -run 'TestDemoMetricsPassPromtool' .
	MSGRAPH_LRO_REQUIRE_PROMTOOL=1 $(GO) test -count=1 -run 'TestHandlerTextMatchesProtobuf' ./collector/

## rules: check examples/prometheus.yml and examples/alerts.yml, run the alert unit tests, check examples/alertmanager.yml and its routes (needs promtool and amtool: apt-get install prometheus prometheus-alertmanager)
rules:
	@command -v promtool >/dev/null 2>&1 || { echo "promtool not found: apt-get install -y prometheus"; exit 1; }
	@command -v amtool >/dev/null 2>&1 || { echo "amtool not found: apt-get install -y prometheus-alertmanager"; exit 1; }
	cd examples && promtool check config prometheus.yml
	cd examples && promtool check rules alerts.yml
	cd examples && promtool test rules alerts_test.yml
	cd examples && amtool check-config alertmanager.yml
	cd examples && amtool config routes test --config.file=alertmanager.yml --verify.receivers=msgraph-lro-pager severity=critical alertname=MsgraphLroOperationStuck
	cd examples && amtool config routes test --config.file=alertmanager.yml --verify.receivers=msgraph-lro-ticket severity=warning alertname=MsgraphLroOperationFailed
	cd examples && amtool config routes test --config.file=alertmanager.yml --verify.receivers=msgraph-lro-ticket alertname=MsgraphLroOperationFailed

## e2e: the exporter, real Prometheus and real Alertmanager (apt-get install -y prometheus prometheus-alertmanager); fails if they are missing
e2e:
	$(GO) test -tags e2e -count=1 -v -run TestE2E .

## promu: release build with version information (.promu.yml reads VERSION; needs promu)
promu:
	@command -v $(PROMU) >/dev/null 2>&1 || { echo "promu not found: go install github.com/prometheus/promu@latest (then make sure $$(go env GOPATH)/bin is in PATH), or use make build"; exit 1; }
	$(PROMU) build --prefix .

## docker: the image, with VERSION, the git revision and the build date in the binary and the OCI labels
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg BUILD_DATE=$$(date -u +%Y-%m-%dT%H:%M:%SZ) -t msgraph-lro-exporter:$(VERSION) -t msgraph-lro-exporter .

clean:
	rm -f $(BIN)

## bench: the figures of README's Performance table and its Kubernetes section's operations per replica (3 to 4 minutes; not in CI: timings on a shared 2-core machine are noise there)
bench:
	$(GO) test -run '^$$' -bench 'DecodeOperation|ValidJSON' -benchmem -count=3 ./graph/
	$(GO) test -run '^$$' -bench 'ServeBatch' -benchmem -count=3 ./graph/graphtest/
	$(GO) test -run '^$$' -bench 'Parse50000' -benchtime=1x -count=3 ./config/
	$(GO) test -run '^$$' -bench 'ColdScrape1000' -benchtime=3x -benchmem ./collector/
	$(GO) test -run '^$$' -bench 'ColdScrapePerReplica' -benchtime=1x ./collector/
	$(GO) test -run '^$$' -bench 'WarmScrape|BaselineConstMetrics|InfoOrder' -benchmem -count=3 ./collector/
	$(GO) test -run '^$$' -bench 'ResidentMemory' -benchtime=1x -count=3 .
	BENCH_EXPORTER_ENV=GOMEMLIMIT=48MiB $(GO) test -run '^$$' -bench 'ResidentMemory' -benchtime=1x -count=3 .

FUZZTIME ?= 30s
# Every fuzz target, as package:Name.
FUZZ_TARGETS := ./graph:FuzzDecodeOperation ./graph:FuzzParseTimestamp ./graph:FuzzParseRetryAfter \
                ./graph:FuzzParseOperationURL ./graph:FuzzBatchAnswer ./graph:FuzzReadBatchAnswer ./graph:FuzzMembers ./graph:FuzzValidJSON ./graph:FuzzBatchInner ./graph:FuzzEscapeSegment ./config:FuzzParse

## fuzz: run each fuzz target for FUZZTIME (default 30s); a failing input is saved under <package>/testdata/fuzz/<target>/ and fails the run
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "--- fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

CHART        := charts/msgraph-lro-exporter
HELM_VERSION := v3.22.0
TOOLS        := $(CURDIR)/.tools
HELM         := $(TOOLS)/helm-$(HELM_VERSION)
STATICCHECK_VERSION := v0.8.2
STATICCHECK  := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)

# staticcheck from the Go module proxy, built once per version into .tools/.
$(STATICCHECK):
	@mkdir -p $(TOOLS)/bin-staticcheck-$(STATICCHECK_VERSION)
	GOBIN=$(TOOLS)/bin-staticcheck-$(STATICCHECK_VERSION) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/bin-staticcheck-$(STATICCHECK_VERSION)/staticcheck $@

## staticcheck: staticcheck's default checks over every package, tests included, none turned off (builds staticcheck $(STATICCHECK_VERSION) from the Go module proxy into .tools/)
staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

# Helm from the Go module proxy, built once per version into .tools/.
$(HELM):
	@mkdir -p $(TOOLS)/bin-$(HELM_VERSION)
	GOBIN=$(TOOLS)/bin-$(HELM_VERSION) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS)/bin-$(HELM_VERSION)/helm $@

## chart: copy examples/alerts.yml and examples/grafana-dashboard.json into the chart (one source; CI fails if the copies differ)
chart:
	cp examples/alerts.yml $(CHART)/files/alerts.yml
	cp examples/grafana-dashboard.json $(CHART)/files/grafana-dashboard.json

## chart-test: helm lint and helm template of every $(CHART)/ci values file; the manifests decoded strictly into their Kubernetes and Prometheus Operator types, the PrometheusRule through promtool and against examples/alerts.yml, the config through --config.check (needs promtool and openssl; builds Helm $(HELM_VERSION) from the Go module proxy)
chart-test: $(HELM) build
	@command -v promtool >/dev/null 2>&1 || { echo "promtool not found: apt-get install -y prometheus"; exit 1; }
	@command -v openssl >/dev/null 2>&1 || { echo "openssl not found: apt-get install -y openssl"; exit 1; }
	cmp examples/alerts.yml $(CHART)/files/alerts.yml || { echo "$(CHART)/files/alerts.yml differs from examples/alerts.yml: run make chart"; exit 1; }
	cmp examples/grafana-dashboard.json $(CHART)/files/grafana-dashboard.json || { echo "$(CHART)/files/grafana-dashboard.json differs from examples/grafana-dashboard.json: run make chart"; exit 1; }
	@set -e; for f in $(CHART)/ci/*-values.yaml; do \
		echo "--- helm lint --strict $$f"; $(HELM) lint --strict --quiet $(CHART) --values $$f; \
	done
	cd $(CHART)/test && HELM=$(HELM) PROMTOOL=$$(command -v promtool) EXPORTER=$(CURDIR)/$(BIN) $(GO) test -count=1 -v .
