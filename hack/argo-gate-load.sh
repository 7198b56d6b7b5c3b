#!/usr/bin/env bash
# The Argo gate spec (test/e2e: "waits at the gate until `argo resume`…") run again and again
# beside a CPU hog on every core, against Argo v3.7.18's workflow-controller with its defaults
# (INFORMER_WRITE_BACK on). Runs alternate between the argo engine as shipped (it nudges a
# Workflow whose resume Argo has not acted on for 5 s) and the engine with the nudge held off
# (KUBERNAUT_E2E_ARGO_RECHECK=1h: Argo on its own, as before the fix), so that both see the
# same machine. Prints one line per run and a RESULT line per mode: passes, failures, nudges.
#
#   RUNS=10 hack/argo-gate-load.sh         (make argo-gate-load)
set -euo pipefail

RUNS=${RUNS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
hogs=()
cleanup() {
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go test -c -o "$work/e2e.test" ./test/e2e

# One busy loop per core, each bounded to two hours whatever happens to this script.
for _ in $(seq "$(nproc)"); do
  timeout 2h bash -c 'while :; do :; done' &
  hogs+=($!)
done

declare -A pass fail nudges runs
for mode in shipped without-nudge; do pass[$mode]=0 fail[$mode]=0 nudges[$mode]=0 runs[$mode]=0; done
for i in $(seq "$RUNS"); do
  for mode in shipped without-nudge; do
    recheck=5s
    [[ $mode == without-nudge ]] && recheck=1h
    out=$work/run-$i-$mode.log
    start=$(date +%s)
    rc=0
    (cd "$root/test/e2e" && KUBERNAUT_E2E_ARGO_RECHECK=$recheck "$work/e2e.test" -test.run '^TestE2E$' -test.timeout 15m \
      -ginkgo.focus 'waits at the gate until' -ginkgo.v) >"$out" 2>&1 || rc=$?
    n=$(sed -n 's/.*argo-nudges: workflow=[^ ]* nudges=\([0-9]*\).*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    runs[$mode]=$((runs[$mode] + 1))
    nudges[$mode]=$((nudges[$mode] + n))
    if [[ $rc == 0 ]]; then pass[$mode]=$((pass[$mode] + 1)); verdict=passed; else fail[$mode]=$((fail[$mode] + 1)); verdict=FAILED; fi
    echo "run $i $mode: $verdict in $(($(date +%s) - start)) s, $n nudges"
    if [[ $rc != 0 ]]; then
      grep -E '\[FAILED\]|Expected|Timed out' "$out" | head -5 | sed 's/^/    /' || true
    fi
  done
done
for mode in shipped without-nudge; do
  echo "RESULT argo-gate-load mode=$mode cores=$(nproc) hogs=${#hogs[@]} runs=${runs[$mode]} passed=${pass[$mode]} failed=${fail[$mode]} nudges=${nudges[$mode]}"
done
[[ ${fail[shipped]} == 0 ]]
