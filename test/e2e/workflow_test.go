package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// plan runs an Auto plan of steps with the builtin engine until it ends.
func plan(ctx SpecContext, ns, name string, t kubernautv1.Target, steps ...kubernautv1.PlanStep) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	return waitEnd(ctx, runPlan(ctx, ns, name, kubernautv1.EngineBuiltin, kubernautv1.ApprovalAuto, t, steps...))
}

func configStep(name, ns string, data map[string]string, deps ...string) kubernautv1.PlanStep {
	return kubernautv1.PlanStep{Name: name, DependsOn: deps, ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig,
		Target:     target("ConfigMap", ns, "settings"),
		Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: data}}}}
}

func scaleStep(name, ns, deployment string, replicas int32, deps ...string) kubernautv1.PlanStep {
	return kubernautv1.PlanStep{Name: name, DependsOn: deps, ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment,
		Target:     target("Deployment", ns, deployment),
		Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: replicas}}}}
}

var _ = Describe("Plans run by the builtin engine on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		startControllers(ctx)
		DeferCleanup(healthy)
	})

	It("runs dependent steps in order and completes when every step is verified", func(ctx SpecContext) {
		ns := newNamespace(ctx, "wf-ok-")
		d := deployment(ns, "web", 1)
		available(ctx, d)
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}})).To(Succeed())
		we := plan(ctx, ns, "rr-ok-we", target("Deployment", ns, "web"),
			configStep("config", ns, map[string]string{"POOL": "20"}),
			scaleStep("scale", ns, "web", 2, "config"))
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
		Expect(we.Status.Steps).To(HaveExactElements(
			And(HaveField("Name", "config"), HaveField("Phase", kubernautv1.StepSucceeded)),
			And(HaveField("Name", "scale"), HaveField("Phase", kubernautv1.StepSucceeded))))
		Expect(we.Status.Steps[1].StartedAt.Time).NotTo(BeTemporally("<", we.Status.Steps[0].FinishedAt.Time), "scale waited for config")
		Expect(we.Status.Compensation).To(BeEmpty(), "the exit hook's undo tasks are skipped when the Workflow succeeded")
		Expect(meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.VerifiedCondition)).To(BeTrue())
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
	})

	It("undoes the completed steps, newest first, when a later step fails", func(ctx SpecContext) {
		ns := newNamespace(ctx, "wf-undo-")
		available(ctx, deployment(ns, "web", 2))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10", "MODE": "a"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		we := gen.WorkflowExecution(ns, "rr-undo-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Target = target("Deployment", ns, "web")
			w.Spec.Steps = []kubernautv1.PlanStep{configStep("pool", ns, map[string]string{"POOL": "20"}),
				configStep("mode", ns, map[string]string{"MODE": "b"}, "pool"), scaleStep("scale", ns, "web", 4, "mode")}
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
			g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval), "%v", we.Status.Conditions)
		}).WithContext(ctx).Should(Succeed())
		Expect(we.Status.Plan.Steps[2].DryRun.Result).To(Equal("Succeeded"), "the plan was fine when it was approved")
		// After the approval the world changes: an HPA takes over the replicas, and the scale
		// step, checked again right before it runs, is refused.
		Expect(k8s.Create(ctx, hpaOf(ns, "web", 2, 5))).To(Succeed())
		approveByAnnotation(ctx, we)
		we = waitEnd(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("owns the replicas"))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(HaveField("Reason", kubernautv1.ReasonCompensationSucceeded))
		Expect(we.Status.Steps).To(HaveExactElements(HaveField("Phase", kubernautv1.StepSucceeded), HaveField("Phase", kubernautv1.StepSucceeded), HaveField("Phase", kubernautv1.StepFailed)))
		Expect(we.Status.Compensation).To(HaveLen(3))
		byName := map[string]kubernautv1.StepStatus{}
		for _, s := range we.Status.Compensation {
			byName[s.Name] = s
		}
		Expect(byName["undo-mode"].FinishedAt.Time).NotTo(BeTemporally(">", byName["undo-pool"].StartedAt.Time), "newest first")
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "10", "MODE": "a"}), "both changes undone")
		var undoScale kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-undo-we-undo-scale"}, &undoScale)).To(Succeed())
		Expect(meta.FindStatusCondition(undoScale.Status.Conditions, kubernautv1.ExecutedCondition).Reason).To(Equal(kubernautv1.ReasonNothingToUndo))
	})

	It("ends a plan whose undo the cluster refuses Failed with CompensationFailed, says a person must look, and leaves the refused undo's reason on its step", func(ctx SpecContext) {
		ns := newNamespace(ctx, "wf-undo-fails-")
		available(ctx, deployment(ns, "web", 2))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		we := gen.WorkflowExecution(ns, "rr-undo-fails-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Target = target("Deployment", ns, "web")
			w.Spec.Steps = []kubernautv1.PlanStep{configStep("pool", ns, map[string]string{"POOL": "20"}), scaleStep("scale", ns, "web", 4, "pool")}
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
			g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval), "%v", we.Status.Conditions)
		}).WithContext(ctx).Should(Succeed())

		// While the plan waits, the world changes twice: an HPA takes over the replicas (the scale
		// step, checked again before it runs, fails), and the cluster's admission policy now
		// refuses a pool of 10 — the value the undo of the first step must restore.
		Expect(k8s.Create(ctx, hpaOf(ns, "web", 2, 5))).To(Succeed())
		refusePool(ctx, ns, "10")
		approveByAnnotation(ctx, we)
		we = waitEnd(ctx, we)

		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", kubernautv1.ReasonCompensationFailed),
			HaveField("Message", ContainSubstring("an undo failed, a person must look"))))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition).Message).To(And(
			ContainSubstring("owns the replicas"), ContainSubstring("a person must look")))
		var undo kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-undo-fails-we-undo-pool"}, &undo)).To(Succeed())
		Expect(undo.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(&undo, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonDryRunFailed),
			HaveField("Message", ContainSubstring("pool 10 is refused here"))))
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "20"}), "the first step's change stays: its undo was refused")
	})

	It("undoes a step whose verification fails", func(ctx SpecContext) {
		ns := newNamespace(ctx, "wf-verify-")
		must(estateOf(ns).BrokenPreviousRevision(ctx, "web"))
		d := deployment(ns, "web", 1)
		rollback := kubernautv1.PlanStep{Name: "rollback", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionRollbackDeployment, Target: target("Deployment", ns, "web")}}
		we := plan(ctx, ns, "rr-verify-we", target("Deployment", ns, "web"), rollback)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", we.Status.Conditions)
		var ke kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-verify-we-rollback"}, &ke)).To(Succeed())
		Expect(ke.Status.Verification).To(HaveField("Result", "Failed"))
		Expect(ke.Status.Verification.Message).To(ContainSubstring("exceeded its progress deadline"))
		var u kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-verify-we-undo-rollback"}, &u)).To(Succeed())
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(HaveField("Status", metav1.ConditionTrue), "%v\n%v", u.Status.Conditions, ke.Status.Conditions)
		get(ctx, d)
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("shop/web:2.0"), "the rollback was undone")
		Expect(d.Spec.Template.Spec.NodeSelector).To(BeEmpty())
	})
})

// refusePool makes the API server's admission refuse, in namespace ns, every update of a
// ConfigMap that leaves POOL at value, until the spec ends, and waits until it does.
func refusePool(ctx SpecContext, ns, value string) {
	GinkgoHelper()
	refuseInAdmission(ctx, "refuse-pool-"+ns, ns, []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
		"!has(object.data) || !('POOL' in object.data) || object.data.POOL != '"+value+"'", "pool "+value+" is refused here")
	// In force once a server-side dry run that keeps POOL at value is refused.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe-pool"}, Data: map[string]string{"POOL": value}}
	Expect(k8s.Create(ctx, probe)).To(Succeed())
	Eventually(func() error {
		p := probe.DeepCopy()
		p.Labels = map[string]string{"probe": "yes"}
		err := k8s.Update(ctx, p, client.DryRunAll)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return nil
		}
		return fmt.Errorf("the admission policy does not refuse pool %s yet (answer: %v)", value, err)
	}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
}
