package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/notify"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

var _ = Describe("Notifications through a real Alertmanager", func() {
	It("tells the receiver a plan waits for approval, then that it runs, resolves both, and lets an inhibit rule mute the alert while it is being fixed", func(ctx SpecContext) {
		rcv := cluster.NewAlertReceiver()
		DeferCleanup(rcv.Close)
		// The documented inhibit rule (docs/notifications.md): while Kubernaut remediates an
		// alert, the alert does not page.
		am, err := cluster.StartAlertmanager(ctx, GinkgoT().TempDir(), `route:
  receiver: team
  group_by: [alertname, kubernaut_remediation]
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
receivers:
- name: team
  webhook_configs:
  - url: `+rcv.URL+`
    send_resolved: true
inhibit_rules:
- source_matchers: [alertname="KubernautRemediating"]
  target_matchers: [alertname="KubePodCrashLooping"]
  equal: [namespace, pod]
`)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(am.Stop)

		ns := newNamespace(ctx)
		hash := strings.Repeat("0123abcd", 8)
		we := gen.WorkflowExecution(ns, "rr-n-we", func(we *kubernautv1.WorkflowExecution) {
			we.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "checkout"}
			we.Spec.Steps[0].Target = we.Spec.Target
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		we.Status.Plan = &kubernautv1.Plan{Hash: hash, Steps: []kubernautv1.PlannedStep{{Name: "rollback", Action: kubernautv1.ActionRollbackDeployment,
			Target: we.Spec.Target, Policy: kubernautv1.PolicyVerdict{Allowed: true}, DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "-image: v8\n+image: v7"}}}}
		meta.SetStatusCondition(&we.Status.Conditions, metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionUnknown,
			Reason: kubernautv1.ReasonAwaitingApproval, Message: "waiting"})
		Expect(k8s.Status().Update(ctx, we)).To(Succeed())

		rr := gen.RemediationRequest(ns, "rr-n")
		Expect(k8s.Create(ctx, rr)).To(Succeed())
		setPhase := func(p kubernautv1.RemediationPhase) {
			GinkgoHelper()
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr)).To(Succeed())
			rr.Status.Phase = p
			rr.Status.RootCause = "revision 8 crashes on start"
			rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: we.Name}
			Expect(k8s.Status().Update(ctx, rr)).To(Succeed())
		}
		setPhase(kubernautv1.RemediationPhaseAwaitingApproval)

		n := &notify.Notifier{Reader: k8s, Sink: &notify.Alertmanager{URL: am.URL}, Options: notify.Options{Namespace: ns}, Interval: time.Minute}
		Expect(n.Sync(ctx)).To(Succeed())
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.ApprovalRequired, "firing", nil) }).WithContext(ctx).Should(HaveLen(1))
		got := rcv.Find(notify.ApprovalRequired, "firing", nil)[0]
		Expect(got.Labels).To(And(HaveKeyWithValue("namespace", "shop"), HaveKeyWithValue("target_name", "checkout"),
			HaveKeyWithValue(notify.LabelSourceAlertname, "KubePodCrashLooping"), HaveKeyWithValue(notify.LabelRemediation, "rr-n")))
		Expect(got.Annotations).To(And(HaveKeyWithValue("approve", "kubectl kubernaut approve rr-n -n "+ns),
			HaveKeyWithValue("approve_with_kubectl", "kubectl -n "+ns+" annotate workflowexecution rr-n-we kubernaut.io/approve="+hash),
			HaveKeyWithValue("root_cause", "revision 8 crashes on start"), HaveKeyWithValue("steps", ContainSubstring("rollback_deployment on Deployment/shop/checkout — policy allowed"))))

		// Approved: the plan runs.
		setPhase(kubernautv1.RemediationPhaseExecuting)
		Expect(n.Sync(ctx)).To(Succeed())
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.ApprovalRequired, "resolved", nil) }).WithContext(ctx).Should(HaveLen(1))
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.Remediating, "firing", nil) }).WithContext(ctx).Should(HaveLen(1))
		Expect(rcv.Find(notify.Remediating, "firing", nil)[0].Labels).To(HaveKeyWithValue("pod", "checkout-7d9f8b6c5-x2k4q"), "the source alert's labels")

		// The source alert fires again meanwhile (Prometheus re-sends it): while Kubernaut
		// remediates it, the inhibit rule mutes it — it reaches nobody.
		source := `[{"labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"checkout-7d9f8b6c5-x2k4q","severity":"critical"}}]`
		resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(source))
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Body.Close()).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Eventually(func() string { return alertState(am.URL, "KubePodCrashLooping") }).WithContext(ctx).Should(Equal("suppressed"))
		Consistently(func() []cluster.Delivered { return rcv.Find("KubePodCrashLooping", "firing", nil) }).WithContext(ctx).WithTimeout(1500*time.Millisecond).Should(BeEmpty(),
			"muted while Kubernaut remediates it (group_wait 100 ms, group_interval 300 ms)")

		// Completed: Remediating resolves, and the alert, should it still fire, pages again.
		setPhase(kubernautv1.RemediationPhaseCompleted)
		Expect(n.Sync(ctx)).To(Succeed())
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.Remediating, "resolved", nil) }).WithContext(ctx).Should(HaveLen(1))
		Eventually(func() string { return alertState(am.URL, "KubePodCrashLooping") }).WithContext(ctx).Should(Equal("active"))
		Eventually(func() []cluster.Delivered { return rcv.Find("KubePodCrashLooping", "firing", nil) }).WithContext(ctx).ShouldNot(BeEmpty(),
			"once nothing remediates it, the alert pages again")
		Expect(rcv.Errors()).To(BeEmpty())
	})

	It("keeps trying while Alertmanager cannot be reached, and then delivers", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		rr := gen.RemediationRequest(ns, "rr-down")
		Expect(k8s.Create(ctx, rr)).To(Succeed())
		rr.Status.Phase = kubernautv1.RemediationPhaseExecuting
		Expect(k8s.Status().Update(ctx, rr)).To(Succeed())

		// Nothing listens there yet.
		rcv := cluster.NewAlertReceiver()
		DeferCleanup(rcv.Close)
		dir := GinkgoT().TempDir()
		down := &notify.Alertmanager{URL: "http://127.0.0.1:1"}
		n := &notify.Notifier{Reader: k8s, Sink: down, Options: notify.Options{Namespace: ns}, Interval: time.Minute}
		Expect(n.Sync(ctx)).To(MatchError(ContainSubstring("posting 1 alerts")))

		am, err := cluster.StartAlertmanager(ctx, dir, "route:\n  receiver: team\n  group_wait: 100ms\nreceivers:\n- name: team\n  webhook_configs:\n  - url: "+rcv.URL+"\n")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(am.Stop)
		down.URL = am.URL
		Expect(n.Sync(ctx)).To(Succeed(), "what failed is posted again")
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.Remediating, "firing", nil) }).WithContext(ctx).Should(HaveLen(1))
	})
})

// alertState is the state Alertmanager gives the alert named alertname (active, suppressed),
// or "" when it has none.
func alertState(url, alertname string) string {
	GinkgoHelper()
	resp, err := http.Get(url + "/api/v2/alerts?filter=alertname%3D%22" + alertname + "%22")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var alerts []struct {
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	Expect(json.NewDecoder(resp.Body).Decode(&alerts)).To(Succeed())
	if len(alerts) == 0 {
		return ""
	}
	return alerts[0].Status.State
}
