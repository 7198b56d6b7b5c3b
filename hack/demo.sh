#!/usr/bin/env bash
# The demo `make demo` runs against the local control plane: kubernaut in local mode, one
# sample of each kind of the chain, and six situations on a sample estate (hack/demo).
# Needs KUBECTL (kubectl with --kubeconfig) and KUBERNAUT (the binary) from the Makefile.
set -euo pipefail

: "${KUBECTL:?set by make demo}" "${KUBERNAUT:?set by make demo}"
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:18080}
PROBE_ADDR=${PROBE_ADDR:-127.0.0.1:18081}
GATEWAY_ADDR=${GATEWAY_ADDR:-127.0.0.1:18090}
ALERTMANAGER_ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:18093}
RECEIVER_ADDR=${RECEIVER_ADDR:-127.0.0.1:18094}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
kubectl() { $KUBECTL "$@"; }

step "The cluster: kube-apiserver, controller-manager, scheduler and kwok nodes"
kubectl get nodes -o wide

step "kubernaut local (controllers + gateway in one process)"
work=$(mktemp -d)
log=$work/kubernaut.log
# The gateway accepts only bearer tokens listed in a file (several at once, for rotation).
TOKEN=demo-$RANDOM$RANDOM$RANDOM
printf '# demo token, valid for this run only\n%s\n' "$TOKEN" >"$work/tokens"
ENGINE=builtin
if [[ -n ${ARGO:-} ]]; then
  ENGINE=argo
  kubectl get crd workflows.argoproj.io >/dev/null 2>&1 || { echo "ARGO=1: the dev cluster runs without Argo; restart it: make dev-cluster-down && make dev-cluster ARGO=1"; exit 1; }
fi
# NODE=real: each step runs as a Job of the actions image on the real node (the production
# overlay's executor), against workloads the kubelet really runs.
EXECUTOR=(--memory-soak 2s)
EXECUTOR_NAME=inprocess
DEMO=()
SITUATIONS="Six situations on a sample estate"
if [[ ${NODE:-} == real ]]; then
  kubectl get node real-node >/dev/null 2>&1 || { echo "NODE=real: the dev cluster runs without a real node; restart it: make dev-cluster-down && make dev-cluster NODE=real"; exit 1; }
  EXECUTOR=(--executor job --actions-image localhost/kubernaut/actions:dev --memory-soak 10s
    --job-node-selector kubernaut.io/real-node=true --job-tolerations kubernaut.io/real-node:NoSchedule)
  EXECUTOR_NAME="job (the actions image, on the real node)"
  DEMO=(--real-node --kubectl "${KUBECTL%% *}")
  SITUATIONS="Three situations made real on the real node"
fi
# The team's Alertmanager, a real one (make alertmanager-bin): Kubernaut posts its own alerts
# there, and it routes them to the team's receiver — here hack/demo, which prints them.
NOTIFY=()
if [[ -n ${ALERTMANAGER:-} && -x ${ALERTMANAGER} ]]; then
  cat >"$work/alertmanager.yml" <<EOF_AM
route:
  receiver: team
  group_by: [alertname, kubernaut_remediation]
  group_wait: 1s
  group_interval: 2s
receivers:
- name: team
  webhook_configs:
  - url: http://$RECEIVER_ADDR/
    send_resolved: true
EOF_AM
  "$ALERTMANAGER" --config.file="$work/alertmanager.yml" --storage.path="$work/am" --web.listen-address="$ALERTMANAGER_ADDR" \
    --cluster.listen-address= --log.level=warn >"$work/alertmanager.log" 2>&1 &
  ampid=$!
  NOTIFY=(--alertmanager-url "http://$ALERTMANAGER_ADDR" --notify-interval 5s)
  echo "Alertmanager v0.31.1 at http://$ALERTMANAGER_ADDR, routing Kubernaut's alerts to the team's receiver"
fi
echo "engine: $ENGINE; executor: $EXECUTOR_NAME; plans of confidence 0.75 and up run without a person outside production (--auto-approve-threshold 0.75)"
"$KUBERNAUT" local --kubeconfig "$KUBECONFIG" --metrics-bind-address "$METRICS_ADDR" --engine "$ENGINE" \
  --health-probe-bind-address "$PROBE_ADDR" --gateway-bind-address "$GATEWAY_ADDR" \
  --gateway-token-file "$work/tokens" --auto-approve-threshold 0.75 --verify-interval 500ms --eviction-retry-delay 1s \
  --shadow-window 30s --trust-observed 2 \
  "${EXECUTOR[@]}" "${NOTIFY[@]}" --argo-recheck 5s >"$log" 2>&1 &
kpid=$!
trap 'kill $kpid ${ampid:-} 2>/dev/null || true; wait $kpid ${ampid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
# http_get HOST:PORT PATH prints the HTTP answer (bash's /dev/tcp; no curl needed).
http_get() {
  ( exec 3<>"/dev/tcp/${1%:*}/${1#*:}" && printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3 && cat <&3 ) 2>/dev/null
}
for addr in "$PROBE_ADDR" "$GATEWAY_ADDR"; do
  body=""
  for _ in $(seq 1 150); do
    body=$(http_get "$addr" /readyz || true)
    [[ $body == *" 200 "* ]] && break
    if ! kill -0 $kpid 2>/dev/null; then echo "kubernaut local exited:"; cat "$log"; exit 1; fi
    sleep 0.2
  done
  [[ $body == *" 200 "* ]] || { echo "kubernaut local not ready at $addr/readyz:"; cat "$log"; exit 1; }
  echo "ready: http://$addr/readyz"
done

step "One sample of each kind of the remediation chain (manifests/samples)"
kubectl create namespace kubernaut-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# The actions' own ServiceAccounts and least-privilege roles, bound to nothing: each step binds
# its action's role just in time where its target is, and acts as that ServiceAccount.
kubectl apply -f manifests/base/actions-rbac.yaml >/dev/null
# The Argo Workflows' ServiceAccount and its one right: creating the plans' steps.
kubectl apply -n kubernaut-system -f manifests/base/rbac-workflow.yaml >/dev/null
# Approvals the API server vouches for (the demo approves as the dev cluster's admin).
kubectl apply -f manifests/base/admission-approvals.yaml -f manifests/base/admission-changes.yaml >/dev/null
# The kill switch, the policy overrides and the blast-radius semaphores, as the base installs them.
kubectl apply -n kubernaut-system -f manifests/base/configmaps.yaml >/dev/null
kubectl apply -k manifests/samples
kubectl get kubernaut -n kubernaut-system

step "$SITUATIONS, from Alertmanager's notification to a verified outcome"
# hack/demo plays the world (the estate, what a kubelet would write, the alerts' Alertmanager)
# and the people: it is the team's receiver of Kubernaut's notifications, and approves the plans
# that need people with the plugin, running the command the notification carries, as alice and
# bob; kubernaut does everything else.
RECEIVE=()
[[ ${#NOTIFY[@]} -gt 0 ]] && RECEIVE=(--receiver "$RECEIVER_ADDR")
KUBECONFIG="$KUBECONFIG" go run ./hack/demo --gateway "http://$GATEWAY_ADDR" --token "$TOKEN" --plugin "${PLUGIN:-}" "${RECEIVE[@]}" "${DEMO[@]}" || {
  echo; echo "the demo failed; kubernaut's log ends with:"; tail -40 "$log"; exit 1; }

echo
echo "A delivery with a wrong token is refused before its body is read:"
( exec 3<>"/dev/tcp/${GATEWAY_ADDR%:*}/${GATEWAY_ADDR#*:}" && printf 'POST /api/v1/signals/alertmanager HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer not-the-token\r\nContent-Length: 2\r\n\r\n{}' "$GATEWAY_ADDR" >&3 && head -1 <&3 ) 2>/dev/null || true

echo
kubectl get rr -n kubernaut-system -o wide
if [[ $ENGINE == argo ]]; then
  echo
  echo "Argo's workflow-controller ran the DAGs (kubectl get workflows -n kubernaut-system):"
  kubectl get workflows -n kubernaut-system
fi

if [[ ${NODE:-} != real ]]; then # the scene's crash loops are kwok's (the demo writes the kubelet's side)
step "Earned autonomy: a scope in observe, judged by what people do, promoted on evidence"
# The TrustPolicy operators keep in Git (manifests/trust): from now on every scope starts in
# observe. Kubernaut plans and dry-runs, changes nothing, and watches what people do instead.
kubectl apply -k manifests/trust
KUBECONFIG="$KUBECONFIG" go run ./hack/demo --autonomy --gateway "http://$GATEWAY_ADDR" --token "$TOKEN" || {
  echo; echo "the autonomy scene failed; kubernaut's log ends with:"; tail -40 "$log"; exit 1; }
echo
kubectl get trustpolicy
if [[ -n ${PLUGIN:-} ]]; then
  echo
  echo "kubectl kubernaut trust:"
  KUBECONFIG="$KUBECONFIG" "$PLUGIN" trust
fi
# The demo leaves no trust policy behind: a kept cluster (KEEP=1) remediates as before.
kubectl delete -k manifests/trust >/dev/null
fi

step "Done"
echo "Everything above ran against a real kube-apiserver built from source; 'make demo KEEP=1' leaves it running."
echo "Look closer: kubectl describe rr,rp,aia,we,ke -n kubernaut-system"
