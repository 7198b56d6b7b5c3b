package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/rules"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// TestChainLoad sends N distinct remediations at once through the gateway of `kubernaut
// local` on a kwok cluster, for each N in $KUBERNAUT_LOAD_CHAIN (comma-separated, e.g.
// "100,1000"; `make load`), and waits for all of them. Asserted: every alert became exactly
// one remediation that finished exactly once, Completed, its one step run once (one write to
// its Deployment, whose memory limit was raised once). Reported (never asserted): the chain's
// own time per remediation (notification → finished, minus the step's action and health
// check), p50/p95/p99; API writes per remediation from the API server's audit log; the
// process' CPU time and peak RSS.
//
// With $KUBERNAUT_LOAD_BASELINE (a kubernaut binary built from an earlier commit; make
// load-compare BASE=<commit>) each N runs twice with each binary, alternately, in this harness
// (the CRDs of this tree: compare commits whose API agrees), and the means are printed side by
// side with their ratios.
func TestChainLoad(t *testing.T) {
	spec := os.Getenv("KUBERNAUT_LOAD_CHAIN")
	if spec == "" {
		t.Skip("the chain's load test runs with KUBERNAUT_LOAD_CHAIN=100,1000 (make load)")
	}
	baseline := os.Getenv("KUBERNAUT_LOAD_BASELINE")
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("KUBERNAUT_LOAD_CHAIN=%q: %q is not a positive count", spec, f)
		}
		if baseline == "" {
			t.Run(strconv.Itoa(n), func(t *testing.T) { chainLoad(t, n, "") })
			continue
		}
		// Side by side: the baseline's binary and this one, alternately, twice each, in the
		// same harness on the same machine (make load-compare); the ratios are of the means.
		var base, head []chainResult
		for round := 1; round <= 2; round++ {
			t.Run(fmt.Sprintf("%d/baseline-%d", n, round), func(t *testing.T) { base = append(base, chainLoad(t, n, baseline)) })
			t.Run(fmt.Sprintf("%d/this-%d", n, round), func(t *testing.T) { head = append(head, chainLoad(t, n, "")) })
		}
		compare(t, n, base, head)
	}
}

// chainResult is what one run measured, per remediation where it says so.
type chainResult struct {
	elapsed                    time.Duration
	p50, p95                   time.Duration // the chain's overhead
	writes, dryRuns, reviews   float64       // per remediation (audit log)
	reads                      float64       // gets and lists straight from the API server, per remediation (audit log)
	clientRequests             float64       // Kubernaut's client's requests per remediation, reads from the cache excluded
	apiServerCPU, kubernautCPU time.Duration // over the run
	byHand                     time.Duration // the API server's CPU for the same rollouts by hand (the control)
}

// compare prints the baseline's and this binary's means side by side, and their ratios.
func compare(t *testing.T, n int, base, head []chainResult) {
	t.Helper()
	if len(base) == 0 || len(head) != len(base) {
		t.Fatalf("compare: %d baseline runs, %d of this binary", len(base), len(head))
	}
	mean := func(rs []chainResult, f func(chainResult) float64) float64 {
		sum := 0.0
		for _, r := range rs {
			sum += f(r)
		}
		return sum / float64(len(rs))
	}
	for _, m := range []struct {
		name string
		f    func(chainResult) float64
	}{
		{"all finished in (s)", func(r chainResult) float64 { return r.elapsed.Seconds() }},
		{"overhead p50 (s)", func(r chainResult) float64 { return r.p50.Seconds() }},
		{"overhead p95 (s)", func(r chainResult) float64 { return r.p95.Seconds() }},
		{"writes per remediation", func(r chainResult) float64 { return r.writes }},
		{"dry runs per remediation", func(r chainResult) float64 { return r.dryRuns }},
		{"access reviews per remediation", func(r chainResult) float64 { return r.reviews }},
		{"gets and lists per remediation", func(r chainResult) float64 { return r.reads }},
		{"client requests per remediation", func(r chainResult) float64 { return r.clientRequests }},
		{"kube-apiserver CPU (s)", func(r chainResult) float64 { return r.apiServerCPU.Seconds() }},
		{"kube-apiserver CPU, rollouts by hand (s)", func(r chainResult) float64 { return r.byHand.Seconds() }},
		{"kube-apiserver CPU beyond them (s)", func(r chainResult) float64 { return (r.apiServerCPU - r.byHand).Seconds() }},
		{"kubernaut CPU (s)", func(r chainResult) float64 { return r.kubernautCPU.Seconds() }},
	} {
		b, h := mean(base, m.f), mean(head, m.f)
		var each []string
		for i := range base {
			each = append(each, fmt.Sprintf("%.1f/%.1f", m.f(base[i]), m.f(head[i])))
		}
		t.Logf("RESULT compare n=%d: %-40s baseline %7.1f  this %7.1f  ratio %.2f  (runs: %s)", n, m.name, b, h, h/b, strings.Join(each, ", "))
	}
}

func chainLoad(t *testing.T, n int, bin string) chainResult {
	w := startWorld(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	setup := time.Now()
	sits, tr, k := w.remediate(ctx, t, n)
	control := w.oomKilled(t, n)
	t.Logf("%d OOM-killed Deployments ready in %s, and %d for the control", n, time.Since(setup).Round(time.Second), n)
	byHand := w.rolloutsByHand(ctx, t, control)
	before := w.usage(t, k)
	mem := sample(k.Usage)
	// $KUBERNAUT_LOAD_PROFILE=DIR: a CPU profile of the API server over the run's first 15 s,
	// one file per run (DIR/<test name>.pprof: side by side, the baseline's and this tree's).
	profile := ""
	if dir := os.Getenv("KUBERNAUT_LOAD_PROFILE"); dir != "" {
		profile = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".pprof")
	}
	profiled := w.profileAPIServer(t, ctx, profile, 15)
	start := time.Now()
	if err := fire(ctx, scenario.Sender{URL: k.GatewayURL, Token: k.Token}, sits, tr); err != nil {
		t.Fatal(err)
	}
	sentIn := time.Since(start)
	all := names(sits)
	waitFinished(ctx, t, tr, all, func() string { return k.LogTail(40) })
	elapsed := time.Since(start)
	peak := mem.Stop()
	if err := profiled(); err != nil {
		t.Error(err)
	}
	after := w.usage(t, k)
	wr := w.endedOnce(t, tr, sits, start, false)

	outs := tr.outcomes(all)
	var overhead, total, action []time.Duration
	for _, s := range sits {
		o := outs[s.rr]
		overhead, total, action = append(overhead, o.overhead), append(total, o.total), append(action, o.action)
	}
	p50, p95, p99, mx := quantiles(overhead)
	t.Logf("RESULT chain n=%d: all finished in %s (notifications sent in %s), %.1f remediations/s", n, elapsed.Round(time.Millisecond), sentIn.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	t.Logf("RESULT chain n=%d: overhead per remediation p50=%s p95=%s p99=%s max=%s", n, ms(p50), ms(p95), ms(p99), ms(mx))
	a50, a95, _, _ := quantiles(action)
	t50, t95, t99, _ := quantiles(total)
	t.Logf("RESULT chain n=%d: notification→finished p50=%s p95=%s p99=%s; action+health check p50=%s p95=%s", n, ms(t50), ms(t95), ms(t99), ms(a50), ms(a95))
	var phases []string
	reached := tr.phaseTimes(all)
	for _, p := range []kubernautv1.RemediationPhase{kubernautv1.RemediationPhasePending, kubernautv1.RemediationPhaseProcessing, kubernautv1.RemediationPhaseAnalyzing,
		kubernautv1.RemediationPhaseExecuting, kubernautv1.RemediationPhaseVerifying, kubernautv1.RemediationPhaseCompleted} {
		if d, ok := reached[p]; ok {
			phases = append(phases, string(p)+" "+ms(d))
		}
	}
	t.Logf("RESULT chain n=%d: mean time from the notification to each phase first seen: %s", n, strings.Join(phases, ", "))
	t.Logf("RESULT chain n=%d: API requests per remediation %.1f = %.1f writes + %.1f dry runs + %.1f access reviews; writes: %s",
		n, float64(wr.total)/float64(n), float64(wr.persisted)/float64(n), float64(wr.dryRun)/float64(n), float64(wr.reviews)/float64(n), perRemediation(wr.byKind, n))
	t.Logf("RESULT chain n=%d: reads straight from the API server per remediation %.1f: %s", n, float64(wr.reads)/float64(n), perRemediation(wr.readsByKind, n))
	if argoEngine() {
		aw, err := auditWrites(w.c.AuditLog(), "workflow-controller", start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("RESULT chain n=%d: Argo's controller's requests per remediation: %.1f writes (%s), %.1f reads", n, float64(aw.persisted)/float64(n), perRemediation(aw.byKind, n), float64(aw.reads)/float64(n))
	}
	if n == 1 {
		t.Logf("RESULT chain n=1: kubernaut's requests in order (audit log):\n\t%s", strings.Join(wr.inOrder, "\n\t"))
	}
	t.Logf("RESULT chain n=%d: controllers: %s", n, after.metrics.queueTimes())
	var reqs []string
	reqTotal := 0.0
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		d := after.requests[m] - before.requests[m]
		reqTotal += d
		reqs = append(reqs, fmt.Sprintf("%s %.1f", m, d/float64(n)))
	}
	t.Logf("RESULT chain n=%d: kubernaut's client made %.1f requests per remediation (%s), %.0f/s on average", n, reqTotal/float64(n), strings.Join(reqs, ", "), reqTotal/elapsed.Seconds())
	var plane []string
	for _, name := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"} {
		plane = append(plane, fmt.Sprintf("%s %.1f s", name, (after.plane[name].CPU-before.plane[name].CPU).Seconds()))
	}
	t.Logf("RESULT chain n=%d: control plane CPU meanwhile: %s", n, strings.Join(plane, ", "))
	cpu := after.kubernaut.CPU - before.kubernaut.CPU
	t.Logf("RESULT chain n=%d: kubernaut CPU %.1f s (%.0f ms per remediation, %.2f cores on average), RSS idle %s, peak %s",
		n, cpu.Seconds(), float64(cpu.Milliseconds())/float64(n), cpu.Seconds()/elapsed.Seconds(), mib(before.kubernaut.RSS), mib(peak))
	w.apiFloor(t, k, all, float64(wr.customResources+wr.dryRun)/float64(n))
	api := after.plane["kube-apiserver"].CPU - before.plane["kube-apiserver"].CPU
	t.Logf("RESULT chain n=%d: kube-apiserver CPU beyond the rollouts' own (the control's): %.1f s, %.0f ms per remediation", n, (api - byHand).Seconds(), float64((api-byHand).Milliseconds())/float64(n))
	return chainResult{byHand: byHand, elapsed: elapsed, p50: p50, p95: p95,
		writes: float64(wr.persisted) / float64(n), dryRuns: float64(wr.dryRun) / float64(n), reviews: float64(wr.reviews) / float64(n),
		reads: float64(wr.reads) / float64(n), clientRequests: reqTotal / float64(n), apiServerCPU: api, kubernautCPU: cpu}
}

// raisedOnce checks each Deployment's memory limit: 128Mi raised once by the rules' percentage
// (192Mi by 50%; twice would be 288Mi), and that its spec changed once (generation + 1).
func (w *world) raisedOnce(t *testing.T, sits []situation) {
	t.Helper()
	from := resource.MustParse("128Mi")
	want := from.Value() * int64(100+rules.New().MemoryIncreasePercent) / 100
	for _, s := range sits {
		d := &appsv1.Deployment{}
		if err := w.k8s.Get(context.Background(), client.ObjectKey{Namespace: s.namespace, Name: "app"}, d); err != nil {
			t.Fatal(err)
		}
		got := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		if got.Value() != want {
			t.Errorf("Deployment %s/app: memory limit %s, want %d bytes (one raise from %s)", s.namespace, got.String(), want, from.String())
		}
		if d.Generation != s.generation+1 {
			t.Errorf("Deployment %s/app: generation %d, want %d (one change of its spec from %d)", s.namespace, d.Generation, s.generation+1, s.generation)
		}
	}
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" }

// rolloutsByHand is the control of a run: what the API server spends on the rollouts alone.
// It raises the memory limit of each of sits' Deployments (the change the chain makes) with
// one patch from the test, with Kubernaut idle, waits until every rollout completed, and
// returns the API server's CPU time meanwhile. The chain's run minus this is what the chain
// itself costs the API server.
func (w *world) rolloutsByHand(ctx context.Context, t *testing.T, sits []situation) time.Duration {
	t.Helper()
	before := w.c.Usage()["kube-apiserver"].CPU
	start := time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"192Mi"}}}]}}}}`)
	for _, s := range sits {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: "app"}}
		if err := w.k8s.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
			t.Fatal(err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, s := range sits {
			d := &appsv1.Deployment{}
			if err := w.k8s.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: "app"}, d); err != nil {
				return false, err
			}
			want := ptr.Deref(d.Spec.Replicas, 1)
			if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.AvailableReplicas != want || d.Status.Replicas != want {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the rollouts by hand: %v", err)
	}
	cpu := w.c.Usage()["kube-apiserver"].CPU - before
	t.Logf("RESULT chain n=%d: control, the same rollouts by hand with Kubernaut idle: done in %s, kube-apiserver CPU %.1f s", len(sits), time.Since(start).Round(time.Millisecond), cpu.Seconds())
	return cpu
}
