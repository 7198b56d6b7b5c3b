package load

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
func TestChainLoad(t *testing.T) {
	spec := os.Getenv("KUBERNAUT_LOAD_CHAIN")
	if spec == "" {
		t.Skip("the chain's load test runs with KUBERNAUT_LOAD_CHAIN=100,1000 (make load)")
	}
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("KUBERNAUT_LOAD_CHAIN=%q: %q is not a positive count", spec, f)
		}
		t.Run(strconv.Itoa(n), func(t *testing.T) { chainLoad(t, n) })
	}
}

func chainLoad(t *testing.T, n int) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	setup := time.Now()
	sits, tr, k := w.remediate(ctx, t, n)
	t.Logf("%d OOM-killed Deployments ready in %s", n, time.Since(setup).Round(time.Second))
	before := w.usage(t, k)
	mem := sample(k.Usage)
	start := time.Now()
	if err := fire(ctx, scenario.Sender{URL: k.GatewayURL, Token: k.Token}, sits, tr); err != nil {
		t.Fatal(err)
	}
	sentIn := time.Since(start)
	all := names(sits)
	waitFinished(ctx, t, tr, all, func() string { return k.LogTail(40) })
	elapsed := time.Since(start)
	peak := mem.Stop()
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
