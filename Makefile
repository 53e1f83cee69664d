# tfstate-operator. `make demo` runs the operator end to end locally; `make test` runs every test.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

CONTROLLER_GEN := $(CURDIR)/bin/controller-gen
# Tools built from the Go module proxy are cached outside the repo (see hack/tools.sh).
TOOLS_DIR ?= $(or $(TFSTATE_TOOLS_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/tfstate-operator/tools)
export TFSTATE_TOOLS_DIR := $(TOOLS_DIR)
export KUBEBUILDER_ASSETS := $(TOOLS_DIR)
export MINIO_BIN := $(TOOLS_DIR)/minio
export TFSTATE_TERRAFORM := $(TOOLS_DIR)/terraform
GO_TEST_FLAGS ?= -count=1 -timeout 30m
# e.g. make bench BENCH_FLAGS='-n 100 -fail 0' (go run ./hack/bench -h lists the flags).
BENCH_FLAGS ?=

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers, and the chart templates made from them.
	$(CONTROLLER_GEN) rbac:roleName=tfstate-operator-manager crd:allowDangerousTypes=false paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	$(MAKE) chart

.PHONY: chart
chart: ## Regenerate the chart's CRD and RBAC templates from config/ (part of manifests).
	go run ./hack/chartgen

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deep-copy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files differ from what is committed.
	@git diff --exit-code -- api config charts || { echo "generated files drifted: run 'make manifests generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- api config charts)" || { git status --porcelain -- api config charts; echo "untracked generated files: commit them" >&2; exit 1; }

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: build
build: ## Build the manager binary into bin/manager, as the Dockerfile does (static).
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/manager .

.PHONY: tools
tools: ## Build or fetch kube-apiserver, etcd, minio, terraform and controller-gen (cached).
	hack/tools.sh all

$(CONTROLLER_GEN):
	hack/tools.sh controller-gen

##@ Test and demo

.PHONY: test
test: tools verify-generated vet ## Run every test: unit, envtest, MinIO and end-to-end Terraform.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: tools ## Scale benchmark: N StateBackends against an emulated provider (see README).
	go run ./hack/bench $(BENCH_FLAGS)

.PHONY: demo
demo: tools build ## Local control plane + MinIO + operator + a StateBackend + terraform apply with the issued Secret.
	go run ./hack/demo

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
