package integration

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/gen"
)

// startExecutions runs the KubernetesExecution controller (in-process executor, the safety
// policy overridable by the namespace's kubernaut-policies) for one namespace.
func startExecutions(ns string) {
	GinkgoHelper()
	runManager(ns, func(_ context.Context, mgr ctrl.Manager) error {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Env:       actions.Env{Client: k8s, Kube: cs, Log: GinkgoLogr},
			Safety:    kubernautrego.NewSafety(mgr.GetAPIReader(), ns, "kubernaut-policies", nil),
			Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}}}
		return r.SetupWithManager(mgr)
	})
}

// stepEnded waits for a step to end (Succeeded, Failed or Rejected) and returns it.
func stepEnded(ctx SpecContext, ke *kubernautv1.KubernetesExecution) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
		g.Expect(ke.Status.Phase).To(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return ke
}

var _ = Describe("The KubernetesExecution controller", func() {
	It("rejects a step whose safety policy override cannot be evaluated as PolicyError, before anything changes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startExecutions(ns)
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data: map[string]string{"safety.rego": "package kubernaut.safety\n\ndeny contains msg if {"}})).To(Succeed())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
				Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}}}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(
			HaveField("Reason", kubernautv1.ReasonPolicyError), HaveField("Message", ContainSubstring("the safety policy failed: compiling policy safety.rego"))))
		Expect(ke.Status.PreState).To(BeNil())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["POOL"]).To(Equal("10"))
	})

	It("checks an undo against the safety policy too: a step whose namespace became protected is not changed back", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startExecutions(ns)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		change := kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}
		step := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, ActionStep: change}}
		Expect(k8s.Create(ctx, step)).To(Succeed())
		stepEnded(ctx, step)
		Expect(step.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", step.Status.Conditions)

		// The operator protects the namespace after the step ran.
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data: map[string]string{kubernautrego.SafetyConfigKey: "protectedNamespaces: [" + ns + "]\n"}})).To(Succeed())
		undo := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "undo-step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeCompensate, ActionStep: change,
				Compensates: &kubernautv1.LocalReference{Name: "step"}}}
		Expect(k8s.Create(ctx, undo)).To(Succeed())
		stepEnded(ctx, undo)
		Expect(undo.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(meta.FindStatusCondition(undo.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(
			HaveField("Reason", kubernautv1.ReasonPolicyDenied),
			HaveField("Message", "the safety policy refused the undo of step step: namespace "+ns+" is protected: Kubernaut never changes it")))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["POOL"]).To(Equal("20"), "left as the step made it")
	})

	It("runs a step that names a plan only as that plan approved it: not before the approval, and not with other parameters", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startExecutions(ns)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		change := func(pool string) kubernautv1.ActionStep {
			return kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
				Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": pool}}}}
		}
		plan := func(name string) *kubernautv1.WorkflowExecution {
			GinkgoHelper()
			we := gen.WorkflowExecution(ns, name, func(w *kubernautv1.WorkflowExecution) {
				w.Spec.Target = kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"}
				w.Spec.Steps = []kubernautv1.PlanStep{{Name: "pool", ActionStep: change("20")}}
			})
			Expect(k8s.Create(ctx, we)).To(Succeed())
			return we
		}
		// decide records the plan's approval decision, as the WorkflowExecution controller does.
		decide := func(we *kubernautv1.WorkflowExecution, approved bool) {
			GinkgoHelper()
			before := we.DeepCopy()
			now := metav1.Now()
			status, reason, decision := metav1.ConditionTrue, kubernautv1.ReasonManuallyApproved, "Approved"
			if !approved {
				status, reason, decision = metav1.ConditionFalse, kubernautv1.ReasonApprovalDenied, "Denied"
			}
			meta.SetStatusCondition(&we.Status.Conditions, metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: status,
				Reason: reason, Message: decision, ObservedGeneration: we.Generation})
			we.Status.Plan = &kubernautv1.Plan{Hash: "3f1c2e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e",
				Steps: []kubernautv1.PlannedStep{{Name: "pool", Action: kubernautv1.ActionUpdateConfig, Target: we.Spec.Target,
					Policy: kubernautv1.PolicyVerdict{Allowed: true, Policy: "safety.rego (embedded)"}}}}
			we.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: decision, PlanHash: we.Status.Plan.Hash,
				DecidedBy: "user alice", DecidedAt: &now}
			Expect(k8s.Status().Patch(ctx, we, client.MergeFrom(before))).To(Succeed())
		}
		step := func(we *kubernautv1.WorkflowExecution, name string, a kubernautv1.ActionStep) *kubernautv1.KubernetesExecution {
			GinkgoHelper()
			ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, StepName: "pool", ActionStep: a,
					WorkflowExecutionRef: &kubernautv1.LocalReference{Name: we.Name}}}
			Expect(k8s.Create(ctx, ke)).To(Succeed())
			return ke
		}
		notApproved := func(ke *kubernautv1.KubernetesExecution, want string) {
			GinkgoHelper()
			Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
			Expect(meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(
				HaveField("Reason", kubernautv1.ReasonNotApproved), HaveField("Message", ContainSubstring(want))))
		}
		pool := func() string {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			return cm.Data["POOL"]
		}

		// Before the decision the step waits, changing nothing; once approved, it runs.
		we := plan("rr-plan-we")
		early := step(we, "early", change("20"))
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(early), early)).To(Succeed())
			g.Expect(meta.FindStatusCondition(early.Status.Conditions, kubernautv1.ValidatedCondition)).To(BeNil(), "waits for the plan's decision")
			g.Expect(pool()).To(Equal("10"))
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
		decide(we, true)
		// The decision wakes the step: it starts at once, not at its own next look (10 s).
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(early), early)).To(Succeed())
			g.Expect(meta.FindStatusCondition(early.Status.Conditions, kubernautv1.ValidatedCondition)).NotTo(BeNil())
		}).WithContext(ctx).WithTimeout(5*time.Second).WithPolling(100*time.Millisecond).Should(Succeed(), "started when its plan was approved")
		Expect(stepEnded(ctx, early).Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", early.Status.Conditions)
		Expect(pool()).To(Equal("20"))

		// Other parameters than the plan's, or a step the plan lacks, are refused.
		notApproved(stepEnded(ctx, step(we, "other", change("99"))), "step pool is not what plan rr-plan-we")
		Expect(pool()).To(Equal("20"))

		// A refused plan's steps never run.
		denied := plan("rr-denied-we")
		decide(denied, false)
		notApproved(stepEnded(ctx, step(denied, "late", change("30"))), "plan rr-denied-we is not approved")
		Expect(pool()).To(Equal("20"))
	})
})
