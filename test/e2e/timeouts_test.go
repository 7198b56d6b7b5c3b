package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
)

var _ = Describe("Time running out mid-action (docs/orchestration.md, \"Timeouts\")", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	for _, engine := range []kubernautv1.EngineName{kubernautv1.EngineArgo, kubernautv1.EngineBuiltin} {
		It("fails a plan at the Workflow's deadline mid-step: nothing new starts, the running step ends, the completed steps are undone ("+string(engine)+" engine)", func(ctx SpecContext) {
			w := startArgoWorldWith(ctx, "deadline-", "4", "", false, func(r *workflowexecution.Reconciler) {
				r.Compile.ActiveDeadline = 15 * time.Second
			})
			gate := "kubernaut.io/gate-" + w.ns
			Expect(k8s.Create(ctx, gated(w.ns, gate))).To(Succeed())
			Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"POOL": "10", "MODE": "a"}})).To(Succeed())
			we := runPlan(ctx, w.ns, "rr-deadline-we", engine, kubernautv1.ApprovalAuto, target("Deployment", w.ns, "gated"),
				configStep("pool", w.ns, map[string]string{"POOL": "20"}),
				scaleStep("scale", w.ns, "gated", 1, "pool"),
				configStep("mode", w.ns, map[string]string{"MODE": "b"}, "scale"))
			// scale verifies until its pod can run, past the deadline.
			Eventually(func(g Gomega) {
				ke, err := stepOf(ctx, we, "scale")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(meta.IsStatusConditionTrue(ke.Status.Conditions, kubernautv1.ExecutedCondition)).To(BeTrue())
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
				g.Expect(we.Status.StartedAt).NotTo(BeNil())
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			time.Sleep(time.Until(we.Status.StartedAt.Add(17 * time.Second)))
			if engine == kubernautv1.EngineBuiltin {
				// The builtin engine fails the running step's node at the deadline, as a kubelet
				// does Argo's executor pod (its activeDeadlineSeconds); kwok, which runs no
				// containers, does not, so Argo's node waits here for the step to end.
				Eventually(func(g Gomega) {
					g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
					g.Expect(we.Status.Steps).To(ContainElement(And(HaveField("Name", "scale"), HaveField("Phase", kubernautv1.StepFailed),
						HaveField("Message", "Step exceeded its deadline"))))
				}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			}
			_, err := stepOf(ctx, we, "mode")
			Expect(err).To(HaveOccurred(), "no step starts past the deadline")
			if ke, err := stepOf(ctx, we, "undo-scale"); err == nil {
				Expect(meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition)).To(BeNil(), "the undo of the running step waits for it to end")
			}
			openGate(ctx, gate) // the running step's change completes; only then is it undone
			we = waitEnd(ctx, we)
			Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", we.Status.Conditions)
			Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition).Message).To(ContainSubstring("exceeded its deadline"))
			Expect(meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(BeTrue(), "%v", we.Status.Conditions)
			Expect(we.Status.Compensation).To(HaveExactElements(
				And(HaveField("Name", "undo-mode"), HaveField("Phase", kubernautv1.StepSucceeded)),
				And(HaveField("Name", "undo-scale"), HaveField("Phase", kubernautv1.StepSucceeded)),
				And(HaveField("Name", "undo-pool"), HaveField("Phase", kubernautv1.StepSucceeded))))
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}}
			get(ctx, cm)
			Expect(cm.Data).To(Equal(map[string]string{"POOL": "10", "MODE": "a"}))
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "gated"}}
			get(ctx, d)
			Expect(*d.Spec.Replicas).To(BeZero())
		})
	}

	It("fails a step at its own timeout mid-verification, saying so, and leaves its plan to undo it", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "step-timeout-", "4")
		gate := "kubernaut.io/gate-" + w.ns
		Expect(k8s.Create(ctx, gated(w.ns, gate))).To(Succeed())
		ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, GenerateName: "slow-step-"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, TimeoutSeconds: 10,
				ActionStep: scaleStep("scale", w.ns, "gated", 1).ActionStep}}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionFailed), "%v", ke.Status.Conditions)
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		v := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.VerifiedCondition)
		Expect(v).NotTo(BeNil())
		Expect(v.Reason).To(Equal(kubernautv1.ReasonTimedOut))
		Expect(meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ReadyCondition).Message).To(Equal("the step exceeded its timeout of 10s in phase Verifying"))
		Expect(meta.IsStatusConditionTrue(ke.Status.Conditions, kubernautv1.ExecutedCondition)).To(BeTrue(), "the change was made: a plan's exit hook undoes it")
		Expect(ke.Status.PreState).NotTo(BeNil(), "recorded for that undo")
	})
})

var _ = Describe("Plans with independent steps (docs/workflow.md, \"Parallel steps\")", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	for _, engine := range []kubernautv1.EngineName{kubernautv1.EngineArgo, kubernautv1.EngineBuiltin} {
		It("starts independent steps together, lets a running sibling finish after a failure, then undoes every completed step; the plan holds one semaphore slot throughout ("+string(engine)+" engine)", func(ctx SpecContext) {
			w := startArgoWorld(ctx, "parallel-", "2")
			gate := "kubernaut.io/gate-" + w.ns
			available(ctx, deployment(w.ns, "web", 2))
			Expect(k8s.Create(ctx, hpaOf(w.ns, "web", 2, 5))).To(Succeed()) // scaling web is refused: an HPA owns its replicas
			Expect(k8s.Create(ctx, gated(w.ns, gate))).To(Succeed())
			Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}})).To(Succeed())
			we := runPlan(ctx, w.ns, "rr-parallel-we", engine, kubernautv1.ApprovalAuto, target("Deployment", w.ns, "gated"),
				configStep("pool", w.ns, map[string]string{"POOL": "20"}),
				scaleStep("gated", w.ns, "gated", 1),
				scaleStep("web", w.ns, "web", 4))
			// All three start together; web fails while gated still verifies.
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
				g.Expect(we.Status.Steps).To(ContainElement(And(HaveField("Name", "web"), HaveField("Phase", kubernautv1.StepFailed))))
			}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
			var starts []time.Time
			for _, s := range []string{"pool", "gated", "web"} {
				ke, err := stepOf(ctx, we, s)
				Expect(err).NotTo(HaveOccurred(), "step %s started", s)
				starts = append(starts, ke.CreationTimestamp.Time)
			}
			for _, t := range starts[1:] {
				Expect(t).To(BeTemporally("~", starts[0], 3*time.Second), "independent steps start together")
			}
			ke, err := stepOf(ctx, we, "gated")
			Expect(err).NotTo(HaveOccurred())
			Expect(ke.Status.Phase).NotTo(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed), "the sibling still runs after the failure")
			Expect(we.Status.Phase).NotTo(Equal(kubernautv1.WorkflowFailed), "the plan waits for its running sibling")

			// The namespace's semaphore has two slots: the three branches hold one between them,
			// so a second plan starts; a third waits while the failed branch's plan still runs.
			Expect(k8s.Create(ctx, deployment(w.ns, "held", 0, func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = map[string]string{gate: "open"} }))).To(Succeed())
			available(ctx, deployment(w.ns, "api", 1))
			second := runPlan(ctx, w.ns, "rr-second-we", engine, kubernautv1.ApprovalAuto, target("Deployment", w.ns, "held"), scaleStep("held", w.ns, "held", 1))
			Eventually(func() error { _, err := stepOf(ctx, second, "held"); return err }).WithContext(ctx).WithTimeout(30*time.Second).Should(Succeed(), "a slot is free beside the parallel plan")
			third := runPlan(ctx, w.ns, "rr-third-we", engine, kubernautv1.ApprovalAuto, target("Deployment", w.ns, "api"), scaleStep("api", w.ns, "api", 2))
			Consistently(func() error { _, err := stepOf(ctx, third, "api"); return err }).WithContext(ctx).WithTimeout(4*time.Second).ShouldNot(Succeed(), "both slots are held")

			openGate(ctx, gate) // the running siblings verify; then the plan undoes what it did
			Expect(waitEnd(ctx, second).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted))
			Expect(waitEnd(ctx, third).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "runs once a slot is free")
			we = waitEnd(ctx, we)
			Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", we.Status.Conditions)
			Expect(meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(BeTrue(), "%v", we.Status.Conditions)
			// The undo goes in the plan's order reversed, one step at a time (the exit hook is
			// compiled before anything runs): the same on both engines.
			Expect(outcome(we)).To(Equal([]string{"Failed", "pool=Succeeded", "gated=Succeeded", "web=Failed",
				"undo-web=Succeeded", "undo-gated=Succeeded", "undo-pool=Succeeded"}))
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}}
			get(ctx, cm)
			Expect(cm.Data).To(Equal(map[string]string{"POOL": "10"}))
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "gated"}}
			get(ctx, d)
			Expect(*d.Spec.Replicas).To(BeZero())
		})
	}
})
