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
# Argo's own workflow-controller, for the end-to-end suite (test/tools/argo pins it).
ARGO_VERSION ?= v3.7.18
# Alertmanager for the gateway's side-by-side benchmark: v0.32 and later do not build from the
# Go module proxy (their UI assets are not in the module).
ALERTMANAGER_VERSION ?= v0.31.1
# Prometheus for the backtest's tests: the module version the project already depends on (the
# server builds without its UI assets, which only the builtinassets tag embeds).
PROMETHEUS_VERSION ?= v0.316.0

# The control-plane binaries live in one folder, which the test harness and envtest use.
CLUSTER_BIN := $(BIN)/cluster
KUBE_STAMP := $(CLUSTER_BIN)/.kube-$(KUBE_VERSION)
ETCD_STAMP := $(CLUSTER_BIN)/.etcd-$(ETCD_VERSION)
KWOK_STAMP := $(CLUSTER_BIN)/.kwok-$(KWOK_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
ARGO_STAMP := $(CLUSTER_BIN)/.argo-$(ARGO_VERSION)
ALERTMANAGER_STAMP := $(CLUSTER_BIN)/.alertmanager-$(ALERTMANAGER_VERSION)
PROMETHEUS_STAMP := $(CLUSTER_BIN)/.prometheus-$(PROMETHEUS_VERSION)
ARGOEXEC_STAMP := $(CLUSTER_BIN)/.argoexec-cli-$(ARGO_VERSION)

# The real node's parts (issue 18): kubelet and kube-proxy from test/tools/kube, containerd 2.x
# from the Go module proxy, and Debian's runc, CNI plugins, iptables and conntrack.
CONTAINERD_VERSION ?= v2.2.10
NODE_BIN := $(BIN)/node
CONTAINERD_STAMP := $(NODE_BIN)/.containerd-$(CONTAINERD_VERSION)
KUBELET_STAMP := $(NODE_BIN)/.kubelet-$(KUBE_VERSION)
NODE_DEBS := runc containernetworking-plugins iptables conntrack

KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(KUBE_VERSION)))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION)

export KUBERNAUT_CLUSTER_BIN := $(CLUSTER_BIN)

GO_TEST_FLAGS ?=
E2E_TIMEOUT ?= 20m

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-20s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build the kubernaut binary, the gateway's own (kubernaut-gateway) and the kubectl plugin (kubectl-kubernaut) into bin/.
	go build -o $(BIN)/kubernaut ./cmd/kubernaut
	go build -o $(BIN)/kubernaut-gateway ./cmd/kubernaut-gateway
	go build -o $(BIN)/kubectl-kubernaut ./cmd/kubectl-kubernaut

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

.PHONY: argo-bin
argo-bin: $(ARGO_STAMP) ## Build Argo's workflow-controller into bin/cluster (once per version).

$(ARGO_STAMP):
	@mkdir -p $(CLUSTER_BIN)
	@echo ">> building Argo's workflow-controller $(ARGO_VERSION) (once; ~3 min on 2 cores)"
	cd test/tools/argo && go build -trimpath -ldflags "-s -w" -o $(CLUSTER_BIN)/workflow-controller github.com/argoproj/argo-workflows/v3/cmd/workflow-controller
	rm -f $(CLUSTER_BIN)/.argo-* && touch $@

.PHONY: alertmanager-bin
alertmanager-bin: $(ALERTMANAGER_STAMP) ## Build a real Alertmanager into bin/cluster (once per version; ~2 min).

$(ALERTMANAGER_STAMP):
	@mkdir -p $(CLUSTER_BIN)
	@echo ">> building Alertmanager $(ALERTMANAGER_VERSION) (once)"
	GOBIN=$(CLUSTER_BIN) GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION)
	rm -f $(CLUSTER_BIN)/.alertmanager-* && touch $@

.PHONY: prometheus-bin
prometheus-bin: $(PROMETHEUS_STAMP) ## Build a real Prometheus into bin/cluster (once per version; the backtest's tests read its HTTP API).

$(PROMETHEUS_STAMP):
	@mkdir -p $(CLUSTER_BIN)
	@echo ">> building Prometheus $(PROMETHEUS_VERSION) (once)"
	GOBIN=$(CLUSTER_BIN) GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)
	rm -f $(CLUSTER_BIN)/.prometheus-* && touch $@

.PHONY: node-bin
node-bin: node-debs $(CONTAINERD_STAMP) $(KUBELET_STAMP) ## Build a real node's parts into bin/node (once per version): kubelet, kube-proxy, containerd.

# Debian's runc, CNI plugins, iptables and conntrack: installed only where one is missing (as
# root; nothing else on the host is changed).
.PHONY: node-debs
node-debs:
	@missing=""; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	[ -x /usr/lib/cni/bridge ] || missing="$$missing containernetworking-plugins"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v conntrack >/dev/null || missing="$$missing conntrack"; \
	if [ -n "$$missing" ]; then \
		echo ">> installing Debian packages:$$missing (a real node needs them)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(CONTAINERD_STAMP):
	@mkdir -p $(NODE_BIN)
	@echo ">> building containerd $(CONTAINERD_VERSION), its runc shim and ctr (once; ~7 min on 2 cores)"
	GOBIN=$(NODE_BIN) go install -trimpath -tags "no_btrfs urfave_cli_no_docs" \
		-ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)" \
		github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD_VERSION) \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION) \
		github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD_VERSION)
	rm -f $(NODE_BIN)/.containerd-* && touch $@

$(KUBELET_STAMP): $(KUBE_STAMP)
	@mkdir -p $(NODE_BIN)
	@echo ">> building kubelet and kube-proxy $(KUBE_VERSION) (once; ~2 min after the control plane)"
	cd test/tools/kube && go build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $(NODE_BIN)/ \
		k8s.io/kubernetes/cmd/kubelet \
		k8s.io/kubernetes/cmd/kube-proxy
	rm -f $(NODE_BIN)/.kubelet-* && touch $@

# Argo's executor, for the real node: resource templates run by the real argoexec; and the
# argo CLI, whose `argo resume` approves a plan on the real node. The module's zip lacks
# workflow/executor/osspecific/signal_linux.go (a symlink to signal_darwin.go upstream; module
# zips drop symlinks: "undefined: Setpgid") and the UI the CLI's `argo server` embeds
# (ui/dist/app, built by yarn upstream), so both build from a copy of the module with that file
# restored and a one-page placeholder UI (a go build -overlay may not touch the module cache).
# cgo on, as the workflow-controller's build, to reuse its build cache: the real node's image
# adds libc.
.PHONY: argoexec-bin
argoexec-bin: $(ARGOEXEC_STAMP) ## Build Argo's argoexec and argo CLI into bin/cluster (once per version; the real node's executor image, `argo resume`).

$(ARGOEXEC_STAMP): $(ARGO_STAMP)
	@echo ">> building Argo's argoexec and argo CLI $(ARGO_VERSION) (once; ~4 min after the workflow-controller)"
	rm -rf $(BIN)/argoexec-build && mkdir -p $(BIN)/argoexec-build
	cp test/tools/argo/go.mod test/tools/argo/go.sum $(BIN)/argoexec-build/
	src=$$(cd test/tools/argo && go list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v3) && \
		cp -r $$src $(BIN)/argoexec-build/argo-src && chmod -R u+w $(BIN)/argoexec-build/argo-src && \
		cp $$src/workflow/executor/osspecific/signal_darwin.go $(BIN)/argoexec-build/argo-src/workflow/executor/osspecific/signal_linux.go
	mkdir -p $(BIN)/argoexec-build/argo-src/ui/dist/app && \
		echo '<!DOCTYPE html><html><head><base href="/"></head><body>Argo UI not built (kubernaut test build)</body></html>' \
		> $(BIN)/argoexec-build/argo-src/ui/dist/app/index.html
	cd $(BIN)/argoexec-build && go mod edit -module kubernaut/argoexec -replace github.com/argoproj/argo-workflows/v3=./argo-src && \
		go build -trimpath -ldflags "-s -w" -o $(CLUSTER_BIN)/ github.com/argoproj/argo-workflows/v3/cmd/argoexec github.com/argoproj/argo-workflows/v3/cmd/argo
	rm -rf $(BIN)/argoexec-build
	rm -f $(CLUSTER_BIN)/.argoexec-* && touch $@

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

##@ Generate

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy, the CRDs (manifests/crd/bases), the Argo templates (templates/), the Grafana dashboards and docs/configuration.md.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=manifests/crd/bases
	go run ./templates/gen templates
	go run ./catalog/gen manifests/base/actions-rbac.yaml
	go run ./hack/dashboards manifests/monitoring/dashboards
	go test ./cmd/kubernaut -count=1 -run '^TestConfigurationReference$$' -args -update

GENERATED := api manifests/crd templates manifests/base/actions-rbac.yaml manifests/monitoring/dashboards docs/configuration.md

.PHONY: verify
verify: generate ## Regenerate everything and fail if anything changed; gofmt and go vet.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "generated files drifted; run 'make generate' and commit:"; git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	go vet ./...

##@ Test

.PHONY: test
test: cluster-bin argo-bin argoexec-bin node-bin alertmanager-bin prometheus-bin verify ## Unit, integration (real API server) and end-to-end (full local control plane) tests.
	go test ./... -count=1 -timeout $(E2E_TIMEOUT) $(GO_TEST_FLAGS)

.PHONY: test-unit
test-unit: ## Only the tests that need no API server.
	go test ./api/... ./gateway/... -count=1 $(GO_TEST_FLAGS)

##@ Local environment

DEV_DIR := $(BIN)/dev-cluster
DEV_KUBECONFIG := $(DEV_DIR)/kubeconfig
KUBECTL := $(CLUSTER_BIN)/kubectl --kubeconfig $(DEV_KUBECONFIG)

.PHONY: dev-cluster
ARGO ?=
# NODE=real joins a real node to the dev cluster (make node-bin; as root) and makes the demo's
# situations happen for real on it.
NODE ?=

dev-cluster: cluster-bin $(if $(ARGO),argo-bin) $(if $(filter real,$(NODE)),node-bin $(if $(ARGO),argoexec-bin)) ## Start the full local control plane in the background (kubeconfig in bin/dev-cluster); ARGO=1 adds Argo's workflow-controller, NODE=real a real node (as root).
	@if [ -f $(DEV_DIR)/pid ] && kill -0 $$(cat $(DEV_DIR)/pid) 2>/dev/null && [ -f $(DEV_DIR)/ready ]; then \
		echo "dev cluster already running (pid $$(cat $(DEV_DIR)/pid))"; exit 0; fi
	@mkdir -p $(DEV_DIR)
	go build -o $(BIN)/devcluster ./test/cluster/devcluster
	@rm -f $(DEV_DIR)/ready
	@nohup $(BIN)/devcluster --dir $(DEV_DIR) --crds manifests/crd/bases $(if $(ARGO),--argo kubernaut-system) $(if $(filter real,$(NODE)),--real-node) > $(DEV_DIR)/devcluster.log 2>&1 & echo $$! > $(DEV_DIR)/pid
	@for i in $$(seq 1 1500); do \
		[ -f $(DEV_DIR)/ready ] && break; \
		if ! kill -0 $$(cat $(DEV_DIR)/pid) 2>/dev/null; then echo "dev cluster failed to start:"; tail -30 $(DEV_DIR)/devcluster.log; rm -f $(DEV_DIR)/pid; exit 1; fi; \
		sleep 0.2; done
	@[ -f $(DEV_DIR)/ready ] || { echo "dev cluster not ready after 300s:"; tail -30 $(DEV_DIR)/devcluster.log; exit 1; }
	@cat $(DEV_DIR)/devcluster.log
	@echo
	@echo "The local control plane runs in the background (pid $$(cat $(DEV_DIR)/pid)). Use it with:"
	@echo "  export KUBECONFIG=$(DEV_KUBECONFIG)"
	@echo "  export PATH=$(CLUSTER_BIN):\$$PATH"
	@echo "  kubectl get nodes; kubectl get kubernaut -A"
	@echo "Logs of every process are in $(DEV_DIR)/*.log. Stop it with: make dev-cluster-down"

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the local control plane.
	@if [ -f $(DEV_DIR)/pid ] && kill -0 $$(cat $(DEV_DIR)/pid) 2>/dev/null; then \
		pid=$$(cat $(DEV_DIR)/pid); kill -TERM $$pid; \
		for i in $$(seq 1 150); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
		kill -0 $$pid 2>/dev/null && kill -KILL $$pid || true; \
		echo "dev cluster stopped"; \
	else echo "dev cluster not running"; fi
	@rm -f $(DEV_DIR)/pid $(DEV_DIR)/ready

##@ Demo

KEEP ?=

.PHONY: demo
demo: build alertmanager-bin ## The demo: an alert to a verified rollback (KEEP=1 leaves the control plane running; ARGO=1 runs it through Argo's real workflow-controller; NODE=real on real workloads on a real node, as root).
	@started=0; \
	if ! { [ -f $(DEV_DIR)/pid ] && kill -0 $$(cat $(DEV_DIR)/pid) 2>/dev/null; }; then \
		$(MAKE) --no-print-directory dev-cluster; started=1; fi; \
	rc=0; ARGO="$(ARGO)" NODE="$(NODE)" KUBECTL="$(KUBECTL)" KUBERNAUT="$(BIN)/kubernaut" PLUGIN="$(BIN)/kubectl-kubernaut" \
		ALERTMANAGER="$(CLUSTER_BIN)/alertmanager" KUBECONFIG=$(DEV_KUBECONFIG) hack/demo.sh || rc=$$?; \
	if [ -z "$(KEEP)" ] && [ $$started = 1 ]; then $(MAKE) --no-print-directory dev-cluster-down; \
	elif [ -n "$(KEEP)" ]; then echo "KEEP=1: the control plane keeps running; export KUBECONFIG=$(DEV_KUBECONFIG); stop it with 'make dev-cluster-down'"; fi; \
	exit $$rc

##@ Benchmarks

.PHONY: bench-gateway
bench-gateway: cluster-bin alertmanager-bin ## Gateway numbers against the local API server, side by side with a real Alertmanager's intake (docs/benchmarks.md).
	KUBERNAUT_LOAD=1 go test ./test/load/ -count=1 -run '^$$' -bench BenchmarkDuplicatePath -benchtime 5s -cpu 1,2 -timeout 10m
	go build -o $(BIN)/kubernaut-gateway ./cmd/kubernaut-gateway
	KUBERNAUT_VERSUS_GATEWAY_BINARY=$(BIN)/kubernaut-gateway KUBERNAUT_LOAD=1 go test ./test/load/ -count=1 -run 'TestGatewayLoad|TestGatewayVersusAlertmanager' -v -timeout 10m | grep -E 'RESULT|FAIL|ok'

# Concurrent remediations of `make load`, comma-separated.
LOAD_N ?= 100,1000
# The engine `make load` and `make chaos` measure: builtin (Kubernaut's own) or argo (Argo's
# workflow-controller runs the plans; the executor stand-in plays its pods).
ENGINE ?= builtin

.PHONY: load
load: cluster-bin $(if $(filter argo,$(ENGINE)),argo-bin) ## The whole chain under load: $(LOAD_N) concurrent remediations through the gateway (ENGINE=argo: as Argo Workflows; docs/benchmarks.md).
	KUBERNAUT_LOAD_ENGINE=$(ENGINE) KUBERNAUT_LOAD_CHAIN=$(LOAD_N) go test ./test/load/ -count=1 -run TestChainLoad -v -timeout 60m | grep -E 'RESULT|FAIL|panic|ok|_test.go|^\s+\+[0-9]+ ms'

# The commit make load-compare measures this tree against, and at how many at once.
BASE ?= HEAD~1
COMPARE_N ?= 100

.PHONY: load-compare
load-compare: cluster-bin ## make load (COMPARE_N at once) side by side with the kubernaut of commit $(BASE), alternately, twice each; prints the ratios (docs/benchmarks.md).
	@wt=$$(mktemp -d) && git worktree add --detach -q $$wt $(BASE) && \
	  (cd $$wt && go build -o $(BIN)/kubernaut-baseline ./cmd/kubernaut); rc=$$?; git worktree remove --force $$wt; exit $$rc
	KUBERNAUT_LOAD_BASELINE=$(BIN)/kubernaut-baseline KUBERNAUT_LOAD_ENGINE=$(ENGINE) KUBERNAUT_LOAD_CHAIN=$(COMPARE_N) go test ./test/load/ -count=1 -run TestChainLoad -v -timeout 60m | grep -E 'RESULT (compare|chain n=[0-9]+: (all|overhead|API|reads|control))|FAIL|panic|ok'

.PHONY: load-floor
load-floor: cluster-bin ## make load with 100, then this API server's capacity for status writes with Kubernaut stopped (docs/benchmarks.md).
	KUBERNAUT_LOAD_FLOOR=1 KUBERNAUT_LOAD_CHAIN=100 go test ./test/load/ -count=1 -run TestChainLoad -v -timeout 60m | grep -E 'RESULT|FAIL|panic|ok|_test.go'

.PHONY: chaos
chaos: cluster-bin $(if $(filter argo,$(ENGINE)),argo-bin) ## Faults: kubernaut (ENGINE=argo: and Argo's controller) SIGKILLed in 200 remediations, the API server restarted, leader failover (docs/benchmarks.md).
	KUBERNAUT_LOAD_ENGINE=$(ENGINE) KUBERNAUT_CHAOS=1 go test ./test/load/ -count=1 -run TestChaos -v -timeout 60m | grep -E 'RESULT|FAIL|panic|ok|_test.go'

ARGO_GATE_RUNS ?= 10

.PHONY: argo-gate-load
argo-gate-load: cluster-bin argo-bin ## The Argo gate spec $(ARGO_GATE_RUNS) times beside a CPU hog, with and without the argo engine's nudge (docs/benchmarks.md).
	RUNS=$(ARGO_GATE_RUNS) hack/argo-gate-load.sh

##@ Images

IMAGE_TAG ?= dev

.PHONY: images
images: ## Build kubernaut's and the actions' images as OCI archives in bin/images, without a Docker daemon.
	@mkdir -p $(BIN)/images
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o $(BIN)/images/kubernaut ./cmd/kubernaut
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o $(BIN)/images/kubernaut-gateway ./cmd/kubernaut-gateway
	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o $(BIN)/images/kubernaut-actions ./actions-image
	go run ./hack/image/build --binary $(BIN)/images/kubernaut --name /kubernaut --file /kubernaut-gateway=$(BIN)/images/kubernaut-gateway --ref kubernaut:$(IMAGE_TAG) --version $(IMAGE_TAG) --out $(BIN)/images/kubernaut.oci.tar
	go run ./hack/image/build --binary $(BIN)/images/kubernaut-actions --name /kubernaut-actions --ref kubernaut-actions:$(IMAGE_TAG) --version $(IMAGE_TAG) --out $(BIN)/images/kubernaut-actions.oci.tar
	@echo "push with: skopeo copy oci-archive:$(BIN)/images/kubernaut.oci.tar docker://<registry>/kubernaut:$(IMAGE_TAG)"
