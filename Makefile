# okra's Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO          ?= go
PYTHON      ?= python3
MOTO_VERSION := 5.2.5
VENV        := .venv
MOTO_SERVER := $(VENV)/bin/moto_server
BIN         := bin
FUNCTIONS   := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
TEST_TIMEOUT ?= 40m

export OKRA_MOTO_SERVER := $(abspath $(MOTO_SERVER))

# scipy is the reference the canary judge's Mann-Whitney test is checked
# against (internal/judge's TestScipyCrossCheck); numpy is pinned with it.
SCIPY_VERSION := 1.17.1
NUMPY_VERSION := 2.4.6
export OKRA_SCIPY_PYTHON := $(abspath $(VENV)/bin/python)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.moto-$(MOTO_VERSION):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

.PHONY: emulator
emulator: $(VENV)/.moto-$(MOTO_VERSION) ## Install the local AWS emulator (moto) into .venv

$(VENV)/.scipy-$(SCIPY_VERSION): $(VENV)/.moto-$(MOTO_VERSION)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'scipy==$(SCIPY_VERSION)' 'numpy==$(NUMPY_VERSION)'
	touch $@

.PHONY: scipy
scipy: $(VENV)/.scipy-$(SCIPY_VERSION) ## Install scipy into .venv (the judge's statistical reference)

.PHONY: kube-assets
kube-assets: ## Install etcd and build (once, cached) the kube-apiserver the ArgoCD tests run against
	tools/etcd/install.sh >/dev/null
	tools/kube-apiserver/build.sh >/dev/null

.PHONY: build
build: ## Build one Lambda bootstrap per function (linux/arm64) and the okra CLI
	@mkdir -p $(BIN)/functions
	@for fn in $(FUNCTIONS); do \
		echo "building functions/$$fn"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w' \
			-o $(BIN)/functions/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/okra ./cmd/okra

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd infra && $(INFRA_ENV) $(GO) vet ./...

.PHONY: test
test: emulator scipy kube-assets ## Build and run every test, integration tests against the local emulators included
	$(GO) build ./...
	OKRA_REQUIRE_SCIPY=1 KUBEBUILDER_ASSETS="$$(dirname "$$(tools/kube-apiserver/build.sh)")" $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory test-infra
	$(MAKE) --no-print-directory fuzz

FUZZTIME ?= 5s
FUZZ_TARGETS := ./internal/events:FuzzParseClusterEvent ./internal/events:FuzzParseSpecChanges \
	./internal/events:FuzzParseExecutionStatusChange ./internal/cell:FuzzDecode ./internal/mumoshucell:FuzzConvertMumoshuCell

.PHONY: fuzz
fuzz: ## Run every fuzz target for $(FUZZTIME) (make test runs them briefly)
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; done

.PHONY: test-short
test-short: ## Unit tests only (no emulator)
	$(GO) test -short ./...

SOAK_TIMEOUT ?= 90m

.PHONY: soak
soak: emulator ## Seeded chaos soak (SOAK_ROLLOUTS=200, SOAK_SEED, SOAK_DISTURBANCES, SOAK_PARALLEL); writes docs/reliability.md
	SOAK_ROLLOUTS=$${SOAK_ROLLOUTS:-200} $(GO) test -count=1 -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' -v ./internal/e2e/ 2>&1 \
		| grep -v -E '^\s+(=== RUN|--- PASS|--- SKIP)' | grep -v -E '^=== (RUN|PAUSE|CONT)'; exit $${PIPESTATUS[0]}

BENCH_FLAGS ?=

.PHONY: bench
bench: emulator ## Run the benchmarks and write docs/benchmarks.md; BENCH_FLAGS='-only budget' runs some parts
	$(GO) run ./internal/bench/cmd/okra-bench -out docs/benchmarks.md $(BENCH_FLAGS)

# Size budgets of the bootstraps (internal/bench's SizeBudget says why).
ONBOARDING_FUNCTIONS := cluster-events reconcile config-change
ONBOARDING_MAX_BYTES := 31457280
FUNCTION_MAX_BYTES   := 18874368

.PHONY: sizes
sizes: build ## Build, then fail if a function's bootstrap exceeds its size budget (30 MiB onboarding, 18 MiB others)
	@over=0; for fn in $(FUNCTIONS); do \
		max=$(FUNCTION_MAX_BYTES); case " $(ONBOARDING_FUNCTIONS) " in *" $$fn "*) max=$(ONBOARDING_MAX_BYTES);; esac; \
		size=$$(stat -c %s $(BIN)/functions/$$fn/bootstrap); \
		if [ $$size -gt $$max ]; then echo "$$fn: $$size bytes, over its budget of $$max"; over=1; \
		else echo "$$fn: $$size bytes (budget $$max)"; fi; \
	done; exit $$over

CFN_LINT_VERSION := 1.58.0
CFN_LINT         := $(VENV)/bin/cfn-lint
INFRA_ENV        := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
SYNTH_CONTEXT    ?=
STACK_TEMPLATE   := Okra.template.json

# cfn-lint-serverless adds the serverless rules (ES*, WS*) to cfn-lint;
# 0.3.6 needs only cfn-lint and runs with 1.58.0.
CFN_LINT_SERVERLESS_VERSION := 0.3.6
# checkov gets a virtualenv of its own inside .venv: it pins boto3 1.35,
# which would downgrade the boto3 moto runs with.
CHECKOV_VERSION  := 3.3.30
CHECKOV_VENV     := $(VENV)/checkov
CHECKOV          := $(CHECKOV_VENV)/bin/checkov

$(VENV)/.cfn-lint-$(CFN_LINT_VERSION)-serverless-$(CFN_LINT_SERVERLESS_VERSION): $(VENV)/.moto-$(MOTO_VERSION)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cfn-lint==$(CFN_LINT_VERSION)' 'cfn-lint-serverless==$(CFN_LINT_SERVERLESS_VERSION)'
	touch $@

.PHONY: cfn-lint
cfn-lint: $(VENV)/.cfn-lint-$(CFN_LINT_VERSION)-serverless-$(CFN_LINT_SERVERLESS_VERSION) ## Install cfn-lint and its serverless rules into .venv

$(CHECKOV_VENV)/.checkov-$(CHECKOV_VERSION):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	touch $@

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.checkov-$(CHECKOV_VERSION) ## Install checkov into .venv/checkov

.PHONY: synth
synth: build ## Synthesize the CDK stack into cdk.out/ offline; SYNTH_CONTEXT='-c key=value ...'
	cd infra && $(INFRA_ENV) $(GO) run . -o $(abspath cdk.out) -c functionsDir=$(abspath $(BIN))/functions $(SYNTH_CONTEXT)

.PHONY: test-infra
test-infra: cfn-lint checkov ## CDK stack tests (template, IAM, cdk-nag, cfn-lint with serverless rules, checkov, golden)
	cd infra && $(INFRA_ENV) OKRA_REQUIRE_SCANNERS=1 OKRA_CFN_LINT=$(abspath $(CFN_LINT)) OKRA_CHECKOV=$(abspath $(CHECKOV)) \
		$(GO) test -count=1 ./...

.PHONY: scan
scan: synth cfn-lint checkov ## Run cfn-lint (with the serverless rules) and checkov on the template `make synth` wrote
	$(CFN_LINT) --format parseable --append-rules cfn_lint_serverless.rules -- cdk.out/$(STACK_TEMPLATE)
	$(CHECKOV) --quiet --compact --framework cloudformation -f cdk.out/$(STACK_TEMPLATE)

SCENARIO ?= default

.PHONY: demo
demo: emulator ## Run a full cluster hot-swap locally (SCENARIO=default|bad-canary)
	$(GO) run ./cmd/okra demo --scenario $(SCENARIO)

.PHONY: presubmit
presubmit: lint test ## What CI runs

.PHONY: clean
clean: ## Remove build output and the emulator virtualenv
	rm -rf $(BIN) $(VENV)
