#!/usr/bin/env bash
# The demo `make demo` runs against the local control plane: the five kinds of the chain as
# samples, kubernaut in local mode, and a Deployment whose pods kwok runs on fake nodes.
# Needs KUBECTL (kubectl with --kubeconfig) and KUBERNAUT (the binary) from the Makefile.
set -euo pipefail

: "${KUBECTL:?set by make demo}" "${KUBERNAUT:?set by make demo}"
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:18080}
PROBE_ADDR=${PROBE_ADDR:-127.0.0.1:18081}
GATEWAY_ADDR=${GATEWAY_ADDR:-127.0.0.1:18090}

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
echo "engine: $ENGINE"
"$KUBERNAUT" local --kubeconfig "$KUBECONFIG" --metrics-bind-address "$METRICS_ADDR" --engine "$ENGINE" \
  --health-probe-bind-address "$PROBE_ADDR" --gateway-bind-address "$GATEWAY_ADDR" \
  --gateway-token-file "$work/tokens" >"$log" 2>&1 &
kpid=$!
trap 'kill $kpid 2>/dev/null || true; wait $kpid 2>/dev/null || true; rm -rf "$work"' EXIT
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
# The actions' own ServiceAccounts and least-privilege roles: before each step, a
# SubjectAccessReview asks whether the action's ServiceAccount may do it.
kubectl apply -f manifests/base/actions-rbac.yaml >/dev/null
kubectl apply -k manifests/samples
kubectl get kubernaut -n kubernaut-system

step "A Deployment whose pods kwok runs on the fake nodes (namespace demo opts in to remediation)"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace demo kubernaut.io/remediate=true environment=production --overwrite >/dev/null
kubectl wait --for=create serviceaccount/default -n demo --timeout=60s >/dev/null
kubectl create deployment web -n demo --image=nginx:1.27 --replicas=3 --dry-run=client -o yaml | kubectl apply -f -
kubectl rollout status deployment/web -n demo --timeout=120s
kubectl get pods -n demo -o wide

step "A bad release: the new revision crash-loops (the demo writes the pod status a kubelet would)"
container=$(kubectl get deployment web -n demo -o jsonpath='{.spec.template.spec.containers[0].name}')
kubectl set image deployment/web "$container=nginx:1.28-broken" -n demo
kubectl rollout status deployment/web -n demo --timeout=120s >/dev/null
bad=$(kubectl get pods -n demo -o jsonpath='{.items[?(@.spec.containers[0].image=="nginx:1.28-broken")].metadata.name}')
bad=${bad%% *}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kubectl patch pod "$bad" -n demo --subresource=status -p "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"ContainersNotReady\"}],\"containerStatuses\":[{\"name\":\"$container\",\"image\":\"nginx:1.28-broken\",\"imageID\":\"\",\"ready\":false,\"restartCount\":6,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off 5m0s restarting failed container\"}},\"lastState\":{\"terminated\":{\"reason\":\"Error\",\"exitCode\":1,\"startedAt\":\"$now\",\"finishedAt\":\"$now\"}}}]}}" >/dev/null
kubectl get pods -n demo

step "Alertmanager delivers a crash-loop alert to the gateway (bearer token)"
# http_post HOST:PORT PATH TOKEN FILE prints the status line and the body of the answer.
http_post() {
  local body; body=$(cat "$4")
  # A refused request is answered before its body is read: a failed write (SIGPIPE) is fine.
  ( trap '' PIPE; exec 3<>"/dev/tcp/${1%:*}/${1#*:}" || exit 0
    printf 'POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s' \
      "$2" "$1" "$3" "${#body}" "$body" >&3 || true
    cat <&3 || true ) 2>/dev/null | sed -n '1p;$p'
}
pod=$bad
sed -e "s/__POD__/$pod/g" -e "s/__STARTS__/$(date -u +%Y-%m-%dT%H:%M:%SZ)/" hack/alerts/crashloop.json >"$work/alert.json"
echo "POST /api/v1/signals/alertmanager (KubePodCrashLooping for demo/$pod):"
http_post "$GATEWAY_ADDR" /api/v1/signals/alertmanager "$TOKEN" "$work/alert.json"
echo
echo "The same notification again (Alertmanager re-sends on group_interval, and an HA pair twice):"
http_post "$GATEWAY_ADDR" /api/v1/signals/alertmanager "$TOKEN" "$work/alert.json"
http_post "$GATEWAY_ADDR" /api/v1/signals/alertmanager "$TOKEN" "$work/alert.json" >/dev/null
echo
echo "A delivery with a wrong token is refused before its body is read:"
http_post "$GATEWAY_ADDR" /api/v1/signals/alertmanager "not-the-token" "$work/alert.json"
echo
echo "One RemediationRequest for the alert; the re-deliveries are counted on it (COUNT):"
for _ in $(seq 1 50); do
  count=$(kubectl get rr -n kubernaut-system -l kubernaut.io/alertname=KubePodCrashLooping,kubernaut.io/target-namespace=demo \
    -o jsonpath='{.items[0].spec.deduplication.count}' 2>/dev/null || true)
  [[ $count == 3 ]] && break
  sleep 0.2
done
kubectl get rr -n kubernaut-system -l kubernaut.io/target-namespace=demo -o wide

step "Guarded, enriched, classified, analyzed: a rollback plan waits for a person (production)"
rr=$(kubectl get rr -n kubernaut-system -l kubernaut.io/target-namespace=demo -o jsonpath='{.items[0].metadata.name}')
last=""
for _ in $(seq 1 150); do
  phase=$(kubectl get rr "$rr" -n kubernaut-system -o jsonpath='{.status.phase}')
  [[ $phase != "$last" ]] && { echo "$(date -u +%H:%M:%S)  $rr  ${phase:-Pending}"; last=$phase; }
  [[ $phase == AwaitingApproval || $phase == Completed || $phase == Skipped || $phase == Failed || $phase == Rejected ]] && break
  sleep 0.2
done
echo
kubectl get rr "$rr" -n kubernaut-system -o wide
kubectl get rp,aia,we -n kubernaut-system -l "kubernaut.io/remediation=$rr" -o wide
echo
echo "Enrichment and classification (kubectl describe rp $rr-rp -n kubernaut-system shows all of it):"
kubectl get rp "$rr-rp" -n kubernaut-system -o jsonpath='{"  owner chain:     "}{range .status.enrichment.ownerChain[*]}{.kind}/{.name} {end}{"\n  workload:        "}{.status.enrichment.workload.target.kind}/{.status.enrichment.workload.target.name} replicas {.status.enrichment.workload.replicas}, available {.status.enrichment.workload.availableReplicas}{"\n  node:            "}{.status.enrichment.node.name}{"\n  failed lookups:  "}{range .status.enrichment.failedDetections[*]}{.detection}: {.error}; {end}{"\n  classification:  "}{.status.classification.environment}, {.status.classification.severity}, {.status.classification.priority}, {.status.classification.signalType}{"\n"}'
echo
echo "Analysis (kubectl describe aia $rr-aia -n kubernaut-system):"
kubectl get aia "$rr-aia" -n kubernaut-system -o jsonpath='{"  root cause:  "}{.status.rootCause.summary}{" (confidence "}{.status.rootCause.confidence}{")\n"}{range .status.rootCause.evidence[*]}{"  evidence:    "}{.fact}{"\n"}{end}{"  plan:        "}{range .status.recommendation.steps[*]}{.name}: {.action} {.target.kind}/{.target.name} {end}{"\n  approval:    "}{.status.approval.mode}: {.status.approval.reasons}{"\n"}'

step "A person approves exactly this plan, by its hash"
for _ in $(seq 1 100); do
  hash=$(kubectl get we "$rr-we" -n kubernaut-system -o jsonpath='{.status.plan.hash}')
  [[ -n $hash ]] && break
  sleep 0.2
done
kubectl get we "$rr-we" -n kubernaut-system -o jsonpath='{range .status.plan.steps[*]}{"  step "}{.name}{": "}{.action}{" "}{.target.kind}/{.target.name}{" — policy allowed: "}{.policy.allowed}{"\n"}{end}'
echo "  what it changes (the API server's dry run, at planning):"
kubectl get we "$rr-we" -n kubernaut-system -o jsonpath='{.status.plan.steps[0].dryRun.diff}' | grep -E '^[-+] ' | sed 's/^/    /' | head -8
echo "  plan hash: $hash"
echo "  approve with either of:"
echo "    kubectl annotate workflowexecution $rr-we -n kubernaut-system kubernaut.io/approve=$hash"
echo "    argo resume $rr-we -n kubernaut-system    (with the argo engine: ARGO=1)"
kubectl annotate workflowexecution "$rr-we" -n kubernaut-system "kubernaut.io/approve=$hash"
kubectl get we "$rr-we" -n kubernaut-system -o jsonpath='{"  approval: "}{.status.approval.decision}{" by "}{.status.approval.decidedBy}{" for plan "}{.status.approval.planHash}{"\n"}'

step "The $ENGINE engine runs the plan: the step is checked again, executed, verified"
last=""
for _ in $(seq 1 300); do
  phase=$(kubectl get rr "$rr" -n kubernaut-system -o jsonpath='{.status.phase}')
  kephase=$(kubectl get ke "$rr-we-rollback" -n kubernaut-system -o jsonpath='{.status.phase}' 2>/dev/null || true)
  now="$phase ${kephase:+(step rollback: $kephase)}"
  [[ $now != "$last" ]] && { echo "$(date -u +%H:%M:%S)  $rr  $now"; last=$now; }
  [[ $phase == Completed || $phase == Failed || $phase == TimedOut || $phase == Rejected ]] && break
  sleep 0.2
done
echo
kubectl get rr "$rr" -n kubernaut-system
kubectl get we,ke -n kubernaut-system -l "kubernaut.io/remediation=$rr"
echo
echo "The step (kubectl describe ke $rr-we-rollback -n kubernaut-system shows all of it):"
kubectl get ke "$rr-we-rollback" -n kubernaut-system -o jsonpath='{"  policy:        allowed="}{.status.policyDecision.allowed}{" ("}{.status.policyDecision.policy}{")\n  RBAC:          "}{.status.authorization.serviceAccount}{" allowed="}{.status.authorization.allowed}{"\n  pre-state:     revision "}{.status.preState.revision}{", ReplicaSet "}{.status.preState.replicaSet}{" → "}{.status.preState.targetReplicaSet}{"\n  result:        "}{.status.result.message}{"\n  verification:  "}{.status.verification.result}{": "}{.status.verification.message}{"\n"}'
echo "  server-side dry run, before anything changed:"
kubectl get ke "$rr-we-rollback" -n kubernaut-system -o jsonpath='{.status.dryRun.diff}' | grep -E '^[-+] ' | sed 's/^/    /' | head -12
echo
if [[ $ENGINE == argo ]]; then
  echo
  echo "Argo's workflow-controller ran the DAG (kubectl get workflows -n kubernaut-system):"
  kubectl get workflows -n kubernaut-system
  kubectl get workflow "$rr-we" -n kubernaut-system -o jsonpath='{range .status.nodes.*}{"  "}{.displayName}{"\t"}{.type}{"\t"}{.phase}{"\t"}{.message}{"\n"}{end}' | sort
fi
kubectl get deployment web -n demo -o jsonpath='{"The Deployment runs "}{.spec.template.spec.containers[0].image}{" again: "}{.status.updatedReplicas}{"/"}{.spec.replicas}{" updated, "}{.status.availableReplicas}{" available\n"}'
[[ $phase == Completed ]] || { echo "the remediation ended $phase:"; kubectl get rr "$rr" -n kubernaut-system -o jsonpath='{.status.message}{"\n"}'; tail -40 "$log"; exit 1; }

step "Done"
echo "Everything above ran against a real kube-apiserver built from source; 'make demo KEEP=1' leaves it running."
