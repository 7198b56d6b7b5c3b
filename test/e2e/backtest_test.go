package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/test/alerthistory"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/holmes"
)

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// `kubernaut backtest` against a real Prometheus holding a designed alert history, and this
// cluster's objects, policies and TrustPolicy: every count of its report is known in advance,
// alert by alert, from how the history was designed (the comments say why each one is what it
// is) — not from the replay's own code.
var _ = Describe("kubernaut backtest on a designed history", func() {
	It("refuses blast-radius limits it cannot read before it reads any history", func(ctx SpecContext) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "bt-no-cluster-limit"},
			Data: map[string]string{"namespace.default": "2"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, cm))).To(Succeed()) })
		// No Prometheus listens there: the command must fail on the limits before asking it.
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, kubernautBinary(ctx), "backtest", "--prometheus-url", "http://127.0.0.1:1", "--kubeconfig", env.Kubeconfig,
			"--since", "1h", "--policy-namespace", actionsNamespace, "--semaphore-configmap", cm.Name)
		cmd.Stderr = &stderr
		Expect(cmd.Run()).NotTo(Succeed())
		Expect(stderr.String()).To(And(ContainSubstring("the blast-radius limits: "), ContainSubstring(`has no key "cluster"`)), stderr.String())
	})

	It("reports exactly what the chain would have made of each alert", func(ctx SpecContext) {
		// The cluster now: bt-shop and bt-shadow opted in, bt-ledger not; bt-shop's search
		// HPA at its maximum; cart's too, but Argo CD manages it; bt-shadow's search at its
		// maximum, in a namespace whose scopes never rise above observe.
		for name, labels := range map[string]map[string]string{
			"bt-shop":   {kubernautv1.OptInLabel: "true", "environment": "staging"},
			"bt-shadow": {kubernautv1.OptInLabel: "true", "environment": "staging", "tier": "shadow"},
			"bt-ledger": {"environment": "staging"},
		} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
			Expect(k8s.Create(ctx, ns)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, ns))).To(Succeed()) })
		}
		for _, w := range []struct {
			ns, name string
			labels   map[string]string
		}{{"bt-shop", "search", nil}, {"bt-shop", "cart", map[string]string{"argocd.argoproj.io/instance": "shop"}}, {"bt-shadow", "search", nil},
			{"bt-shop", "feed", nil}, {"bt-shop", "mail", nil}, {"bt-shop", "push", nil}} {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.name, Labels: w.labels}, Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": w.name}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/" + w.name + ":1.0"}}}}}}
			Expect(k8s.Create(ctx, d)).To(Succeed())
			h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: w.name}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: w.name},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 3}}
			Expect(k8s.Create(ctx, h)).To(Succeed())
			h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, DesiredReplicas: 3}
			Expect(k8s.Status().Update(ctx, h)).To(Succeed())
		}
		tp := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: kubernautv1.DefaultTrustPolicy}, Spec: kubernautv1.TrustPolicySpec{
			InitialLevel: kubernautv1.TrustAutomate,
			NamespaceGroups: []kubernautv1.NamespaceGroup{{Name: "shadow",
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "shadow"}}}},
			Limits: []kubernautv1.TrustLimit{{NamespaceGroups: []string{"shadow"}, Ceiling: kubernautv1.TrustObserve}},
		}}
		Expect(k8s.Create(ctx, tp)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, tp))).To(Succeed()) })

		// The history: six hours ending ten minutes ago, in minutes after its start.
		t0 := time.Now().UTC().Truncate(time.Minute).Add(-6*time.Hour - 10*time.Minute)
		var history []alerthistory.Occurrence
		fire := func(from, to int, labels map[string]string) {
			history = append(history, alerthistory.Occurrence{Labels: labels, Start: t0.Add(time.Duration(from) * time.Minute), End: t0.Add(time.Duration(to) * time.Minute)})
		}
		alert := func(name, ns string, kv ...string) map[string]string {
			l := map[string]string{"alertname": name, "severity": "warning"}
			if ns != "" {
				l["namespace"] = ns
			}
			for i := 0; i+1 < len(kv); i += 2 {
				l[kv[i]] = kv[i+1]
			}
			return l
		}
		hpa := func(ns, name string) map[string]string {
			return alert("KubeHpaMaxedOut", ns, "horizontalpodautoscaler", name)
		}
		// bt-shop's search: a remediation (Manual: the rules' raise has confidence 0.75); it
		// fires again 3 minutes after it ended (within the 5-minute dedup window: a duplicate);
		// an hour later, past the dedup window and the cooldown, a remediation again.
		fire(0, 30, hpa("bt-shop", "search"))
		fire(33, 40, hpa("bt-shop", "search"))
		fire(100, 130, hpa("bt-shop", "search"))
		// cart's raise: refused by the safety policy (Argo CD manages it).
		fire(10, 40, hpa("bt-shop", "cart"))
		// Three HPAs of bt-shop at their maximum at once: the third plan finds the namespace's
		// blast-radius limit (kubernaut-semaphores: namespace.default 2) full, and waits.
		fire(300, 330, hpa("bt-shop", "feed"))
		fire(305, 330, hpa("bt-shop", "mail"))
		fire(310, 330, hpa("bt-shop", "push"))
		// bt-shadow's search: the approval policy says Manual, the scope's ceiling Observe.
		fire(150, 170, hpa("bt-shadow", "search"))
		// A storm: 12 pods of a workload that no longer exists crash-loop in the same minute.
		// The gateway makes a remediation of each of the first 10 (the storm threshold); the
		// 11th and 12th, and a 13th 20 minutes later (within the hour a storm is remembered),
		// join the storm. The 10 find their target gone.
		for i := range 12 {
			fire(200, 230, alert("KubePodCrashLooping", "bt-shop", "pod", "worker-7d9f8c6b5-"+string(rune('a'+i))+"bcde", "container", "app"))
		}
		fire(220, 240, alert("KubePodCrashLooping", "bt-shop", "pod", "worker-7d9f8c6b5-zzzzz", "container", "app"))
		// bt-ledger has not opted in: both held back.
		fire(50, 60, alert("KubePodCrashLooping", "bt-ledger", "pod", "pay-5f6d7c8b9-abcde", "container", "app"))
		fire(150, 160, alert("KubePodCrashLooping", "bt-ledger", "pod", "pay-5f6d7c8b9-fghij", "container", "app"))
		// The api Deployment (gone now): a remediation; a pod-not-ready alert about it while
		// that one runs is held back (already remediating); the same alert with another label
		// set 3 minutes after the first ended is held back by the cooldown.
		fire(250, 280, alert("KubeDeploymentReplicasMismatch", "bt-shop", "deployment", "api"))
		fire(255, 260, alert("KubePodNotReady", "bt-shop", "deployment", "api"))
		fire(283, 290, alert("KubeDeploymentReplicasMismatch", "bt-shop", "deployment", "api", "instance", "kube-state-metrics-1"))
		// Watchdog names nothing Kubernaut acts on.
		fire(0, 300, alert("Watchdog", ""))

		data := filepath.Join(GinkgoT().TempDir(), "data")
		_, err := alerthistory.WriteBlocks(ctx, data, history, time.Minute)
		Expect(err).NotTo(HaveOccurred())
		prom, err := cluster.StartPrometheus(ctx, data)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(prom.Stop)

		reportDir := filepath.Join(GinkgoT().TempDir(), "report")
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, kubernautBinary(ctx), "backtest", "--prometheus-url", prom.URL, "--kubeconfig", env.Kubeconfig,
			"--since", "7h", "-o", "json", "--report", reportDir, "--policy-namespace", actionsNamespace)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		Expect(cmd.Run()).To(Succeed(), stderr.String())
		var r backtest.Report
		Expect(json.Unmarshal(stdout.Bytes(), &r)).To(Succeed(), stdout.String())

		row := func(name, ns string, c backtest.Counts) backtest.Row {
			return backtest.Row{AlertName: name, Namespace: ns, Counts: c}
		}
		updateHPA := string(kubernautv1.ActionUpdateHPA)
		want := []backtest.Row{
			row("KubeDeploymentReplicasMismatch", "bt-shop", backtest.Counts{Occurrences: 2, Remediations: 1,
				Skipped: map[string]int{backtest.OutcomeCoolingDown: 1}, Modes: map[string]int{backtest.ModeTargetGone: 1}}),
			row("KubeHpaMaxedOut", "bt-shadow", backtest.Counts{Occurrences: 1, Remediations: 1,
				Modes: map[string]int{string(kubernautv1.ApprovalObserve): 1}, Actions: map[string]int{updateHPA: 1}}),
			row("KubeHpaMaxedOut", "bt-shop", backtest.Counts{Occurrences: 7, Remediations: 6, Duplicates: 1, Waited: 1,
				Modes: map[string]int{string(kubernautv1.ApprovalManual): 5, backtest.ModePolicyDenied: 1}, Actions: map[string]int{updateHPA: 6}}),
			row("KubePodCrashLooping", "bt-ledger", backtest.Counts{Occurrences: 2, Skipped: map[string]int{backtest.OutcomeNotOptedIn: 2}}),
			row("KubePodCrashLooping", "bt-shop", backtest.Counts{Occurrences: 13, Remediations: 10, StormMembers: 3,
				Modes: map[string]int{backtest.ModeTargetGone: 10}}),
			row("KubePodNotReady", "bt-shop", backtest.Counts{Occurrences: 1, Skipped: map[string]int{backtest.OutcomeAlreadyRemediating: 1}}),
			row("Watchdog", "", backtest.Counts{Occurrences: 1, NoTarget: 1}),
		}
		Expect(r.Occurrences).To(Equal(len(history)))
		Expect(r.Rows).To(Equal(want), "%s", stdout.String())
		// The storm's 10 remediations all ran at once, at minute 200, all in bt-shop.
		Expect(r.MostAtOnce).To(Equal(backtest.Peak{Count: 10, At: t0.Add(200 * time.Minute)}))
		Expect(r.MostAtOncePerNamespace).To(Equal(map[string]backtest.Peak{
			"bt-shop": {Count: 10, At: t0.Add(200 * time.Minute)}, "bt-shadow": {Count: 1, At: t0.Add(150 * time.Minute)}}))
		Expect(r.MostNodesAtOnce.Count).To(BeZero())
		// The timeline (7 hours in 5-minute buckets) has the storm's 10 in one bucket.
		Expect(r.Bucket.Duration).To(Equal(5 * time.Minute))
		var inStorm backtest.Slot
		for _, s := range r.Timeline {
			if !s.Start.After(t0.Add(200*time.Minute)) && s.Start.Add(5*time.Minute).After(t0.Add(200*time.Minute)) {
				inStorm = s
			}
		}
		Expect(inStorm.Started).To(Equal(map[string]int{backtest.ModeTargetGone: 10}))
		Expect(inStorm.MostAtOnce).To(Equal(10))

		// The Markdown report and its plot, beside it.
		md, err := os.ReadFile(filepath.Join(reportDir, "backtest.md"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(md)).To(ContainSubstring("| **Total** | \\- | 27 | 18 | 1 | 3 | 4 | 1 | 0 | 5 | 1 | 0 | 1 | 0 | 11 | 1 |"))
		Expect(string(md)).To(ContainSubstring("](remediations.svg)"))
		svg, err := os.ReadFile(filepath.Join(reportDir, "remediations.svg"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(svg), `class="started"`)).To(BeNumerically(">=", 5))

		// With HolmesGPT as the analyzer: each distinct question asked once (the two
		// remediations of bt-shop's search are one alert about one target: one question;
		// the storm's and api's targets are gone: none — 6 questions for 9 analyzed plans),
		// and what it says judged as the live chain judges it: a raise at 0.95 automatic in
		// bt-shop, observed in bt-shadow; a drain of a node cart's remediation never saw
		// refused by the validator.
		asked := regexp.MustCompile(`horizontalpodautoscaler\\":\\"([a-z]+)\\",\\"namespace\\":\\"(bt-[a-z]+)`)
		fake := &holmes.Fake{T: GinkgoT(), Reply: func(_ int, _ string, body map[string]any) (int, string) {
			m := asked.FindStringSubmatch(mustJSON(body))
			if m == nil {
				return 500, `{"detail":"the stand-in cannot tell which HPA this is about"}`
			}
			steps := `[{"name": "raise", "action": "update_hpa", "target": {"kind": "HorizontalPodAutoscaler", "namespace": "` + m[2] + `", "name": "` + m[1] +
				`"}, "parameters": {"updateHPA": {"maxReplicas": 5}}}]`
			if m[1] == "cart" {
				steps = `[{"name": "drain", "action": "drain_node", "target": {"kind": "Node", "name": "control-plane-1"}}]`
			}
			return 200, mustJSON(map[string]any{"analysis": `{"rootCause": {"summary": "at its ceiling", "confidence": 0.95}, "steps": ` + steps + `}`,
				"conversation_history": []any{}})
		}}
		srv := fake.Start()
		stdout.Reset()
		stderr.Reset()
		cmd = exec.CommandContext(ctx, kubernautBinary(ctx), "backtest", "--prometheus-url", prom.URL, "--kubeconfig", env.Kubeconfig,
			"--since", "7h", "-o", "json", "--policy-namespace", actionsNamespace, "--analyzer", "holmesgpt", "--holmesgpt-url", srv.URL, "--holmesgpt-attempts", "1")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		Expect(cmd.Run()).To(Succeed(), stderr.String())
		var withHolmes backtest.Report
		Expect(json.Unmarshal(stdout.Bytes(), &withHolmes)).To(Succeed(), stdout.String())
		Expect(fake.CallCount()).To(Equal(6), "%v", fake.Calls)
		byRow := map[string]backtest.Counts{}
		for _, r := range withHolmes.Rows {
			byRow[r.AlertName+"/"+r.Namespace] = r.Counts
		}
		Expect(byRow["KubeHpaMaxedOut/bt-shop"].Modes).To(Equal(map[string]int{string(kubernautv1.ApprovalAuto): 5, string(kubernautv1.ApprovalRejected): 1}))
		Expect(byRow["KubeHpaMaxedOut/bt-shop"].Waited).To(Equal(1))
		Expect(byRow["KubeHpaMaxedOut/bt-shadow"].Modes).To(Equal(map[string]int{string(kubernautv1.ApprovalObserve): 1}))
		Expect(withHolmes.Totals.Actions).To(Equal(map[string]int{updateHPA: 6}), "the refused drain is no plan")
		Expect(byRow["KubePodCrashLooping/bt-shop"]).To(Equal(r.Rows[4].Counts), "what the gateway and the guards decide does not depend on the analyzer")
	})
})
