package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/rules"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/alerthistory"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var update = flag.Bool("update", false, "copy the month's plot to docs/backtest-month.svg (the picture docs/autonomy.md shows)")

// `kubernaut backtest`, the binary, against a real Prometheus holding a month of generated
// history and a real API server holding the namespaces: its report is exactly the replay of the
// generated occurrences (the ground truth) — every count of every alert name and namespace —
// and a month takes well under the 30 s.
func TestBacktestCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	env, err := cluster.Start(ctx, cluster.Options{CRDDirs: []string{filepath.Join(root, "manifests", "crd", "bases")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	k8s, err := client.New(env.Config, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// Two of the history's namespaces opted in; the others, and the nodes, not.
	for ns, in := range map[string]bool{"shop-prod": true, "shop-staging": true, "ledger-prod": false, "search-staging": false} {
		labels := map[string]string{}
		if in {
			labels[kubernautv1.OptInLabel] = "true"
		}
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}); err != nil {
			t.Fatal(err)
		}
	}
	// What some alerts were about still exists: the staging search HPA, at its maximum; and
	// every scope starts in observe.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-staging", Name: "search"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "search"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "search"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/search:1.0"}}}}}}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-staging", Name: "search"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "search"}, MinReplicas: ptr.To[int32](1), MaxReplicas: 3}}
	// And shop-prod's cart, whose HPA is at its maximum too, but which Argo CD manages: the
	// safety policy refuses to change it.
	cartDep := dep.DeepCopy()
	cartDep.Namespace, cartDep.Name, cartDep.Labels = "shop-prod", "cart", map[string]string{"argocd.argoproj.io/instance": "shop"}
	cartHPA := hpa.DeepCopy()
	cartHPA.Namespace, cartHPA.Name, cartHPA.Spec.ScaleTargetRef.Name = "shop-prod", "cart", "cart"
	trustPolicy := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: kubernautv1.DefaultTrustPolicy}, Spec: kubernautv1.TrustPolicySpec{InitialLevel: kubernautv1.TrustObserve}}
	for _, o := range []client.Object{dep, hpa, cartDep, cartHPA, trustPolicy} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []*autoscalingv2.HorizontalPodAutoscaler{hpa, cartHPA} {
		h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, DesiredReplicas: 3}
		if err := k8s.Status().Update(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	end := time.Now().UTC().Truncate(time.Hour)
	generated := alerthistory.Generate(alerthistory.Options{Seed: 7, End: end, Days: 30, Interval: time.Minute})
	data := filepath.Join(t.TempDir(), "data")
	if _, err := alerthistory.WriteBlocks(ctx, data, generated, time.Minute); err != nil {
		t.Fatal(err)
	}
	p, err := cluster.StartPrometheus(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	bin, err := cluster.BuildKubernaut(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	started := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "backtest", "--prometheus-url", p.URL, "--kubeconfig", env.Kubeconfig, "--since", "31d", "-o", "json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubernaut backtest: %v\n%s", err, stderr.String())
	}
	took := time.Since(started)
	// The same, as a person reads it (docs/autonomy.md shows one).
	reportDir := filepath.Join(t.TempDir(), "report")
	table, err := exec.CommandContext(ctx, bin, "backtest", "--prometheus-url", p.URL, "--kubeconfig", env.Kubeconfig, "--since", "31d", "--report", reportDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubernaut backtest -o table: %v\n%s", err, table)
	}
	t.Logf("the report:\n%s", table)
	var got backtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}

	decisions, err := backtest.Replay(ctx, backtest.DefaultConfig(), k8s, truth(generated))
	if err != nil {
		t.Fatal(err)
	}
	analysis := &backtest.Analysis{Enricher: &remediationprocessing.Enricher{Reader: k8s, LookupTimeout: 10 * time.Second},
		Classifier: remediationprocessing.NewClassifier(k8s, "kubernaut-system", "kubernaut-policies"),
		Stages: &aianalysis.Reconciler{Analyzers: map[kubernautv1.AnalyzerName]aianalysis.Analyzer{kubernautv1.AnalyzerRules: rules.New()},
			Default: kubernautv1.AnalyzerRules, Timeout: time.Minute, Validator: &aianalysis.Validator{MaxSteps: 5, Static: true},
			Approver: aianalysis.NewApprover(k8s, "kubernaut-system", "kubernaut-policies", 0.9, 0.7)},
		Safety: kubernautrego.NewSafety(k8s, "kubernaut-system", "kubernaut-policies", nil), Trust: trustPolicy, Reader: k8s, Namespace: "kubernaut-system"}
	if err := analysis.Analyze(ctx, decisions); err != nil {
		t.Fatal(err)
	}
	want := backtest.Summarize(got.From, got.To, decisions)
	t.Logf("a month: %d occurrences, %d remediations, %d duplicates, %d storm members, skipped %v; modes %v, actions %v; in %s",
		got.Occurrences, got.Totals.Remediations, got.Totals.Duplicates, got.Totals.StormMembers, got.Totals.Skipped,
		got.Totals.Modes, got.Totals.Actions, took.Round(time.Millisecond))
	if got.Occurrences != len(generated) {
		t.Errorf("%d occurrences, generated %d", got.Occurrences, len(generated))
	}
	gotJSON, _ := json.Marshal(got.Rows)
	wantJSON, _ := json.Marshal(want.Rows)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("rows differ from the replay of the generated history:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if got.MostAtOnce != want.MostAtOnce || got.MostNodesAtOnce != want.MostNodesAtOnce {
		t.Errorf("peaks %+v %+v, want %+v %+v", got.MostAtOnce, got.MostNodesAtOnce, want.MostAtOnce, want.MostNodesAtOnce)
	}
	markdownReport(t, reportDir, got)
	if *update {
		svg, err := os.ReadFile(filepath.Join(reportDir, "remediations.svg"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "docs", "backtest-month.svg"), svg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := got.Totals
	if c.Duplicates == 0 || c.StormMembers == 0 || c.Skipped[backtest.OutcomeNotOptedIn] == 0 || c.Remediations == 0 {
		t.Errorf("a month with flapping, storms and namespaces not opted in: %+v", c)
	}
	if c.Modes[backtest.ModePolicyDenied] == 0 {
		t.Errorf("cart's HPA raises refused by the safety policy (Argo CD manages it): %+v", c.Modes)
	}
	if c.Modes[string(kubernautv1.ApprovalObserve)] == 0 || c.Modes[backtest.ModeTargetGone] == 0 || c.Actions[string(kubernautv1.ActionUpdateHPA)] == 0 {
		t.Errorf("the search HPA at its maximum raised (observed: every scope starts in observe), pods long gone: %+v", c)
	}
	policyDirs(ctx, t, bin, p.URL, env.Kubeconfig, k8s, trustPolicy)
	if took > 30*time.Second {
		t.Errorf("a month took %s; the issue's bound is 30 s", took)
	}
}

// markdownReport checks the Markdown report of --report against the JSON one: its totals row,
// its plot (one bar per bucket and series, adding up to the remediations) beside it.
func markdownReport(t *testing.T, dir string, r backtest.Report) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(dir, "backtest.md"))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "remediations.svg"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Totals
	total := fmt.Sprintf("| **Total** | \\- | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |", c.Occurrences, c.Remediations, c.Duplicates,
		c.StormMembers, sum(c.Skipped), c.NoTarget, c.Modes["Auto"], c.Modes["Manual"], c.Modes["Observe"], c.Modes["Rejected"],
		c.Modes[backtest.ModePolicyDenied], c.Modes[backtest.ModeNoAction], c.Modes[backtest.ModeTargetGone])
	if !strings.Contains(string(md), total) || !strings.Contains(string(md), "![Remediations started per 6h") || !strings.Contains(string(md), "](remediations.svg)") {
		t.Errorf("the Markdown report lacks its totals %q or its plot:\n%s", total, md)
	}
	bars := 0
	for _, m := range regexp.MustCompile(`data-count="(\d+)"`).FindAllStringSubmatch(string(svg), -1) {
		n, _ := strconv.Atoi(m[1])
		bars += n
	}
	if bars != c.Remediations || len(r.Timeline) != 124 {
		t.Errorf("the plot draws %d remediations of %d, the timeline has %d slots of %s", bars, c.Remediations, len(r.Timeline), r.Bucket.Duration)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// truth is the generated occurrences as the backtest reads them.
func truth(generated []alerthistory.Occurrence) []backtest.Occurrence {
	out := make([]backtest.Occurrence, len(generated))
	for i, o := range generated {
		out[i] = backtest.Occurrence{Labels: o.Labels, Start: o.Start, End: o.End}
	}
	return out
}

// policyDirs runs the backtest with a candidate version of the policies: the current policy,
// unchanged, changes nothing and passes; an approval policy that approves everything makes the
// HPA raises (Manual now: confidence 0.75) automatic, and fails the command, naming how many —
// once no TrustPolicy holds them in observe.
func policyDirs(ctx context.Context, t *testing.T, bin, url, kubeconfig string, k8s client.Client, tp *kubernautv1.TrustPolicy) {
	t.Helper()
	if err := k8s.Delete(ctx, tp); err != nil {
		t.Fatal(err)
	}
	same, err := kubernautrego.Embedded("approval.rego")
	if err != nil {
		t.Fatal(err)
	}
	unchanged, lax := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(unchanged, "approval.rego"), []byte(same), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lax, "approval.rego"), []byte("package kubernaut.approval\n\ndecision := {\"mode\": \"Auto\", \"reasons\": []}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(dir string) (backtest.Report, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, "backtest", "--prometheus-url", url, "--kubeconfig", kubeconfig, "--since", "31d", "-o", "json", "--policy-dir", dir)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var r backtest.Report
		if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
			t.Fatalf("the report is not JSON: %v (%v: %s)", jerr, err, stderr.String())
		}
		if err != nil {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		return r, err
	}
	r, err := run(unchanged)
	if err != nil || len(r.Differences) != 0 {
		t.Errorf("the current approval policy as the candidate: %v, differences %+v", err, r.Differences)
	}
	if r.Totals.Modes[string(kubernautv1.ApprovalManual)] == 0 {
		t.Errorf("without a TrustPolicy the HPA raises are Manual (confidence 0.75): %+v", r.Totals.Modes)
	}
	r, err = run(lax)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d remediations would run without a person", r.BecameAutomatic)) {
		t.Errorf("a policy that approves everything: %v, want a failure naming how many become automatic", err)
	}
	if r.BecameAutomatic != r.Totals.Modes[string(kubernautv1.ApprovalManual)] || r.BecameAutomatic == 0 || r.Differences[0].Candidate != string(kubernautv1.ApprovalAuto) {
		t.Errorf("became automatic %d of %d manual; differences %+v", r.BecameAutomatic, r.Totals.Modes[string(kubernautv1.ApprovalManual)], r.Differences)
	}
}
