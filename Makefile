# Kubernaut — build, generate, test and run locally.
#
# Everything this Makefile needs comes from the Go module proxy and is built into bin/:
# the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# kwok) and controller-gen. Nothing is downloaded from anywhere else and no Docker is needed.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

ROOT := $(abspath .)
BIN := $(ROOT)/bin

# Versions of the control plane. Changing one rebuilds that part once.
KUBE_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.7.3
KWOK_VERSION ?= v0.8.0
CONTROLLER_GEN_VERSION ?= v0.23.0

# The control-plane binaries live in one folder, which the test harness and envtest use.
CLUSTER_BIN := $(BIN)/cluster
KUBE_STAMP := $(CLUSTER_BIN)/.kube-$(KUBE_VERSION)
ETCD_STAMP := $(CLUSTER_BIN)/.etcd-$(ETCD_VERSION)
KWOK_STAMP := $(CLUSTER_BIN)/.kwok-$(KWOK_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(KUBE_VERSION)))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION)

export KUBERNAUT_CLUSTER_BIN := $(CLUSTER_BIN)
export KUBEBUILDER_ASSETS := $(CLUSTER_BIN)

GO_TEST_FLAGS ?=
E2E_TIMEOUT ?= 20m

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-20s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build the kubernaut binary into bin/.
	go build -o $(BIN)/kubernaut ./cmd/kubernaut

.PHONY: tools
tools: cluster-bin $(CONTROLLER_GEN) ## Build every tool the tests and the demo need.

.PHONY: cluster-bin
cluster-bin: $(KUBE_STAMP) $(ETCD_STAMP) $(KWOK_STAMP) ## Build the local control plane into bin/cluster (once per version).

$(KUBE_STAMP):
	@mkdir -p $(CLUSTER_BIN)
	@echo ">> building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $(KUBE_VERSION) (once; ~8 min on 2 cores)"
	cd test/tools/kube && go build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $(CLUSTER_BIN)/ \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler \
		k8s.io/kubernetes/cmd/kubectl
	rm -f $(CLUSTER_BIN)/.kube-* && touch $@

$(ETCD_STAMP):
	@mkdir -p $(CLUSTER_BIN)
	@echo ">> building etcd $(ETCD_VERSION) (once)"
	cd test/tools/etcd && go build -trimpath -ldflags "-s -w" -o $(CLUSTER_BIN)/etcd go.etcd.io/etcd/server/v3
	rm -f $(CLUSTER_BIN)/.etcd-* && touch $@

$(KWOK_STAMP):
	@mkdir -p $(CLUSTER_BIN)/kwok-stages
	@echo ">> building kwok $(KWOK_VERSION) (once)"
	GOBIN=$(CLUSTER_BIN) go install -trimpath -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	dir=$$(go mod download -json sigs.k8s.io/kwok@$(KWOK_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
		cp $$dir/kustomize/stage/node/fast/node-initialize.yaml \
		   $$dir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
		   $$dir/kustomize/stage/pod/fast/pod-ready.yaml \
		   $$dir/kustomize/stage/pod/fast/pod-complete.yaml \
		   $$dir/kustomize/stage/pod/fast/pod-delete.yaml $(CLUSTER_BIN)/kwok-stages/; \
		chmod u+w $(CLUSTER_BIN)/kwok-stages/*
	rm -f $(CLUSTER_BIN)/.kwok-* && touch $@

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

##@ Generate

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code and the CRDs (manifests/crd/bases).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=manifests/crd/bases

.PHONY: verify
verify: generate ## Regenerate everything and fail if anything changed; gofmt and go vet.
	@if [ -n "$$(git status --porcelain -- api manifests/crd)" ]; then \
		echo "generated files drifted; run 'make generate' and commit:"; git status --porcelain -- api manifests/crd; git diff -- api manifests/crd | head -50; exit 1; fi
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	go vet ./...
