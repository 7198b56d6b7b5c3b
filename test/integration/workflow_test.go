package integration

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/gen"
)

// builtinWorld is what a spec's WorkflowExecution controller (builtin engine, no
// KubernetesExecution controller: a started plan's steps stay Pending) runs with.
type builtinWorld struct {
	// dryRun dry-runs each step at planning, for the diff in the plan.
	dryRun bool
	// semaphores, when set, is the semaphore ConfigMap's data (created before the controller).
	semaphores map[string]string
}

// startWorkflows runs the WorkflowExecution controller for one namespace.
func startWorkflows(ns string, w builtinWorld) {
	GinkgoHelper()
	compile := workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 30 * time.Minute}
	if w.semaphores != nil {
		compile.SemaphoreConfigMap = "kubernaut-semaphores"
		Expect(k8s.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: compile.SemaphoreConfigMap}, Data: w.semaphores})).To(Succeed())
	}
	runManager(ns, func(_ context.Context, mgr ctrl.Manager) error {
		set, err := templates.Embedded()
		if err != nil {
			return err
		}
		r := &workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set, Compile: compile,
			Safety:  kubernautrego.NewSafety(mgr.GetAPIReader(), ns, "kubernaut-policies", nil),
			Engines: map[kubernautv1.EngineName]workflowexecution.Engine{kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set, Reader: mgr.GetAPIReader()}}}
		if w.dryRun {
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			r.Actions = &actions.Env{Client: k8s, Kube: cs, Log: GinkgoLogr}
		}
		return r.SetupWithManager(mgr)
	})
}

// stepsOf lists the KubernetesExecutions the builtin engine created for a plan.
func stepsOf(ctx SpecContext, w *kubernautv1.WorkflowExecution) []kubernautv1.KubernetesExecution {
	GinkgoHelper()
	var list kubernautv1.KubernetesExecutionList
	Expect(k8s.List(ctx, &list, client.InNamespace(w.Namespace), client.MatchingLabels{kubernautv1.LabelWorkflowExecution: w.Name})).To(Succeed())
	return list.Items
}

// ownedPlan creates a RemediationRequest in phase and its Manual plan, owned by it as the
// orchestrator creates them (no orchestrator runs: the phase stays).
func ownedPlan(ctx SpecContext, ns, rrName string, phase kubernautv1.RemediationPhase) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	rr := gen.RemediationRequest(ns, rrName)
	Expect(k8s.Create(ctx, rr)).To(Succeed())
	before := rr.DeepCopy()
	rr.Status.Phase = phase
	Expect(k8s.Status().Patch(ctx, rr, client.MergeFrom(before))).To(Succeed())
	w := gen.WorkflowExecution(ns, kubernautv1.WorkflowName(rrName), func(w *kubernautv1.WorkflowExecution) { w.Spec.RemediationRequestRef.Name = rrName })
	Expect(controllerutil.SetControllerReference(rr, w, k8s.Scheme())).To(Succeed())
	Expect(k8s.Create(ctx, w)).To(Succeed())
	return w
}

func waitWE(ctx SpecContext, w *kubernautv1.WorkflowExecution, phase kubernautv1.WorkflowPhase) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
		g.Expect(w.Status.Phase).To(Equal(phase), "%v", w.Status.Conditions)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return w
}

func annotate(ctx SpecContext, w *kubernautv1.WorkflowExecution, key, value string) {
	GinkgoHelper()
	before := w.DeepCopy()
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[key] = value
	Expect(k8s.Patch(ctx, w, client.MergeFrom(before), client.FieldOwner("kubectl-annotate"))).To(Succeed())
}

var _ = Describe("The WorkflowExecution controller", func() {
	It("plans a Manual plan, refuses an approval of another plan, and records the approval of this one", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-1-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		hash, err := workflowexecution.PlanHash(w.Spec)
		Expect(err).NotTo(HaveOccurred())
		Expect(w.Status.Plan.Hash).To(Equal(hash))
		Expect(w.Status.Plan.Steps).To(HaveLen(1))
		Expect(w.Status.Plan.Steps[0].Policy.Allowed).To(BeTrue())
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition).Message).
			To(ContainSubstring("kubectl annotate workflowexecution rr-1-we kubernaut.io/approve=" + hash))

		annotate(ctx, w, kubernautv1.ApproveAnnotation, "0000000000000000000000000000000000000000000000000000000000000000")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
			g.Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition).Message).To(ContainSubstring("was refused"))
		}).WithContext(ctx).Should(Succeed())
		Expect(w.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(ns))).To(Succeed())
		Expect(steps.Items).To(BeEmpty(), "nothing runs before the approval")

		annotate(ctx, w, kubernautv1.ApproveAnnotation, hash)
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval).To(And(HaveField("Decision", "Approved"), HaveField("PlanHash", hash),
			HaveField("DecidedBy", "user kubernaut-admin")))
		// The builtin engine created the first step, owned by the WorkflowExecution.
		var ke kubernautv1.KubernetesExecution
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-1-we-rollback"}, &ke) }).WithContext(ctx).Should(Succeed())
		Expect(metav1.IsControlledBy(&ke, w)).To(BeTrue())
		Expect(ke.Spec.ActionStep).To(Equal(w.Spec.Steps[0].ActionStep))
		Expect(ke.Labels).To(HaveKeyWithValue(kubernautv1.LabelWorkflowExecution, "rr-1-we"))
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
			g.Expect(w.Status.Steps).To(ConsistOf(And(HaveField("Name", "rollback"), HaveField("Phase", kubernautv1.StepRunning),
				HaveField("KubernetesExecutionRef.Name", "rr-1-we-rollback"))))
		}).WithContext(ctx).Should(Succeed())
	})

	It("approves an Auto plan by policy", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-2-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval.DecidedBy).To(Equal("policy"))
	})

	It("rejects a plan the safety policy refuses, before anything runs", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-3-we", gen.AutoApproved, func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Steps[0].Target.Namespace = "kube-system"
		})
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRejected)
		Expect(w.Status.Plan.Steps[0].Policy).To(And(HaveField("Allowed", false),
			HaveField("Violations", ContainElement("namespace kube-system is protected: Kubernaut never changes it"))))
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition)).To(BeNil(), "a refused plan is never approved")
	})

	It("rejects a plan whose steps depend on each other in a cycle, naming it, and runs nothing", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-cycle-we", gen.AutoApproved, func(w *kubernautv1.WorkflowExecution) {
			a, b := gen.RollbackStep(), gen.RollbackStep()
			a.Name, a.DependsOn = "a", []string{"b"}
			b.Name, b.DependsOn = "b", []string{"a"}
			w.Spec.Steps = []kubernautv1.PlanStep{a, b}
		})
		Expect(k8s.Create(ctx, w)).To(Succeed(), "the CRD admits it: every dependency names a step of the plan")
		w = waitWE(ctx, w, kubernautv1.WorkflowRejected)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.CompiledCondition)).To(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", kubernautv1.ReasonWorkflowInvalid), HaveField("Message", ContainSubstring("cycle: a → b → a"))))
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition)).To(BeNil(), "a plan that cannot compile is never approved")
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(ns))).To(Succeed())
		Expect(steps.Items).To(BeEmpty(), "nothing ran")
	})

	It("refuses a target remediated too often in the last hour (the safety policy's rate limit)", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		for _, name := range []string{"rr-a-we", "rr-b-we", "rr-c-we"} {
			Expect(k8s.Create(ctx, gen.WorkflowExecution(ns, name))).To(Succeed())
		}
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-d-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRejected)
		Expect(w.Status.Plan.Steps[0].Policy.Violations).To(ContainElement(ContainSubstring("remediations of shop/checkout in the last hour, the limit is 3")))
	})

	It("dry-runs every step at planning: the diff is in the plan, and a refused dry run rejects the plan before anything runs", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{dryRun: true})
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "debug"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		config := kubernautv1.PlanStep{Name: "config", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig,
			Target:     kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"LOG_LEVEL": "info"}}}}}
		w := gen.WorkflowExecution(ns, "rr-dry-we", func(w *kubernautv1.WorkflowExecution) { w.Spec.Steps = []kubernautv1.PlanStep{config} })
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		Expect(w.Status.Plan.Steps[0].DryRun).To(And(HaveField("Result", "Succeeded"),
			HaveField("Diff", And(ContainSubstring("-  LOG_LEVEL: debug"), ContainSubstring("+  LOG_LEVEL: info")))))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("debug"), "a dry run changes nothing")

		// A Deployment without rollout history: kubectl rollout undo's refusal, at planning.
		Expect(k8s.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "checkout"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/checkout:1"}}}}}})).To(Succeed())
		r := gen.WorkflowExecution(ns, "rr-nohist-we", gen.AutoApproved, func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Target = kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}
			w.Spec.Steps[0].Target = w.Spec.Target
		})
		Expect(k8s.Create(ctx, r)).To(Succeed())
		r = waitWE(ctx, r, kubernautv1.WorkflowRejected)
		Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonDryRunFailed),
			HaveField("Message", ContainSubstring("no rollout history found"))))
		Expect(r.Status.Plan.Steps[0].DryRun.Result).To(Equal("Failed"))
		Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.ApprovedCondition)).To(BeNil(), "never approved, never run")
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(ns))).To(Succeed())
		Expect(steps.Items).To(BeEmpty())
	})

	It("holds a plan back while its namespace's semaphore is full, as Argo's controller would, and starts it once a slot is free", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		first := gen.WorkflowExecution(ns, "rr-first-we", gen.AutoApproved)
		startWorkflows(ns, builtinWorld{semaphores: map[string]string{"cluster": "10", "namespace." + first.Spec.Target.Namespace: "1"}})
		Expect(k8s.Create(ctx, first)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(first), first)).To(Succeed())
			g.Expect(first.Status.StartedAt).NotTo(BeNil())
			g.Expect(stepsOf(ctx, first)).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		second := gen.WorkflowExecution(ns, "rr-second-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, second)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(second), second)).To(Succeed())
			c := meta.FindStatusCondition(second.Status.Conditions, kubernautv1.ExecutedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(Equal("waiting for a slot: 1 of 1 plans run in namespace " + second.Spec.Target.Namespace +
				" (kubernaut-semaphores namespace." + second.Spec.Target.Namespace + ")"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(stepsOf(ctx, second)).To(BeEmpty(), "nothing of the second plan runs while the first holds the slot")
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(second), second)).To(Succeed())
			g.Expect(second.Status.StartedAt).To(BeNil())
		}).WithContext(ctx).WithTimeout(4 * time.Second).Should(Succeed())

		// The first plan ends (its step succeeds, written here as its controller would): its slot
		// frees. Deleting it would not: a deleted plan that runs keeps acting on its target
		// until its undo ends.
		for _, ke := range stepsOf(ctx, first) {
			ke.Status.Phase = kubernautv1.ExecutionSucceeded
			Expect(k8s.Status().Update(ctx, &ke)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			g.Expect(stepsOf(ctx, second)).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("fails a plan whose semaphore limit is not a count, naming the key", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{semaphores: map[string]string{"cluster": "10", workflowexecution.DefaultNamespaceSemaphoreKey: "many"}})
		w := gen.WorkflowExecution(ns, "rr-bad-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowFailed)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ReadyCondition).Message).To(
			ContainSubstring(`key namespace.default: "many" is not a count of at least 1`))
		Expect(stepsOf(ctx, w)).To(BeEmpty())
	})

	It("refuses to approve a plan whose remediation ended first, and runs nothing; a live remediation's plan waits as usual", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		// The remediation timed out waiting, and the plan's withdrawal has not landed yet.
		late := waitWE(ctx, ownedPlan(ctx, ns, "rr-gave-up", kubernautv1.RemediationPhaseTimedOut), kubernautv1.WorkflowRejected)
		Expect(meta.FindStatusCondition(late.Status.Conditions, kubernautv1.ApprovedCondition)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", kubernautv1.ReasonRemediationEnded),
			HaveField("Message", "RemediationRequest rr-gave-up ended TimedOut before the plan was approved: the plan is withdrawn and can no longer be approved")))
		Expect(late.Status.Approval).To(And(HaveField("Decision", "Denied"), HaveField("DecidedBy", "kubernaut")))
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(ns))).To(Succeed())
		Expect(steps.Items).To(BeEmpty(), "nothing ran")

		live := waitWE(ctx, ownedPlan(ctx, ns, "rr-waiting", kubernautv1.RemediationPhaseAwaitingApproval), kubernautv1.WorkflowAwaitingApproval)
		Expect(meta.FindStatusCondition(live.Status.Conditions, kubernautv1.ApprovedCondition)).NotTo(HaveField("Reason", kubernautv1.ReasonRemediationEnded))
	})

	It("rejects a plan a person rejects", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-4-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		annotate(ctx, w, kubernautv1.RejectAnnotation, "not during the sale")
		w = waitWE(ctx, w, kubernautv1.WorkflowRejected)
		Expect(w.Status.Approval.Decision).To(Equal("Denied"))
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ReadyCondition).Message).To(ContainSubstring("not during the sale"))
	})
})
