package integration

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/test/gen"
)

// orchestrated is a test namespace with its own orchestrator and an opted-in target
// namespace.
type orchestrated struct {
	ns, target string
	cfg        remediationrequest.Config
}

// startOrchestrator runs the RemediationRequest controller for the objects of one test
// namespace, with cfg changed by tune. The children's controllers do not run: the tests play
// their part by writing the children's status.
func startOrchestrator(ctx SpecContext, tune func(*remediationrequest.Config)) *orchestrated {
	GinkgoHelper()
	o := &orchestrated{ns: newNamespace(ctx), target: newNamespace(ctx), cfg: remediationrequest.DefaultConfig()}
	o.cfg.KillSwitchNamespace = o.ns
	if tune != nil {
		tune(&o.cfg)
	}
	var tns corev1.Namespace
	Expect(k8s.Get(ctx, client.ObjectKey{Name: o.target}, &tns)).To(Succeed())
	tns.Labels[kubernautv1.OptInLabel] = "true"
	Expect(k8s.Update(ctx, &tns)).To(Succeed())

	runManager(o.ns, func(ctx context.Context, mgr ctrl.Manager) error {
		r := &remediationrequest.Reconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Events: mgr.GetEventRecorder("kubernaut-remediationrequest"),
			Config: o.cfg, Metrics: remediationrequest.NewMetrics(prometheus.NewRegistry()),
		}
		return r.SetupWithManager(ctx, mgr)
	})
	return o
}

// rr creates a RemediationRequest about a pod in the opted-in namespace.
func (o *orchestrated) rr(ctx SpecContext, name string, mods ...func(*kubernautv1.RemediationRequest)) *kubernautv1.RemediationRequest {
	GinkgoHelper()
	r := gen.RemediationRequest(o.ns, name, func(r *kubernautv1.RemediationRequest) {
		r.Spec.Target.Namespace = o.target
		r.Spec.Signal.Labels["namespace"] = o.target
	})
	for _, m := range mods {
		m(r)
	}
	Expect(k8s.Create(ctx, r)).To(Succeed())
	return r
}

func (o *orchestrated) get(ctx context.Context, name string) *kubernautv1.RemediationRequest {
	GinkgoHelper()
	r := &kubernautv1.RemediationRequest{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: name}, r)).To(Succeed())
	return r
}

// waitPhase waits for the remediation to reach phase and returns it.
func (o *orchestrated) waitPhase(ctx SpecContext, name string, phase kubernautv1.RemediationPhase) *kubernautv1.RemediationRequest {
	GinkgoHelper()
	var r *kubernautv1.RemediationRequest
	Eventually(func(g Gomega) {
		r = &kubernautv1.RemediationRequest{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: name}, r)).To(Succeed())
		g.Expect(r.Status.Phase).To(Equal(phase), "message: %s", r.Status.Message)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return r
}

// child waits for a child to exist and returns it.
func child[T client.Object](ctx SpecContext, ns, name string, obj T) T {
	GinkgoHelper()
	Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj) }).
		WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return obj
}

func conditions(types ...string) []metav1.Condition {
	var out []metav1.Condition
	for _, t := range types {
		out = append(out, metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: "Done", Message: "done", LastTransitionTime: metav1.Now()})
	}
	return out
}

// completeProcessing plays the RemediationProcessing controller.
func completeProcessing(ctx SpecContext, ns, rrName string) *kubernautv1.RemediationProcessing {
	GinkgoHelper()
	rp := child(ctx, ns, kubernautv1.ProcessingName(rrName), &kubernautv1.RemediationProcessing{})
	before := rp.DeepCopy()
	rp.Status.Conditions = conditions(kubernautv1.EnrichedCondition, kubernautv1.ClassifiedCondition, kubernautv1.ReadyCondition)
	rp.Status.Phase = rp.DerivePhase()
	rp.Status.Enrichment = &kubernautv1.Enrichment{Workload: &kubernautv1.WorkloadState{Target: kubernautv1.Target{Kind: "Deployment", Namespace: rp.Spec.Target.Namespace, Name: "checkout"}}}
	rp.Status.Classification = &kubernautv1.Classification{Environment: "production", Severity: "critical", Priority: "P1", SignalType: "crashloop", BusinessCriticality: "high"}
	Expect(k8s.Status().Patch(ctx, rp, client.MergeFrom(before))).To(Succeed())
	return rp
}

// completeAnalysis plays the AIAnalysis controller with a rollback plan and the given mode.
func completeAnalysis(ctx SpecContext, ns, rrName string, mode kubernautv1.ApprovalMode, steps ...kubernautv1.PlanStep) *kubernautv1.AIAnalysis {
	GinkgoHelper()
	aia := child(ctx, ns, kubernautv1.AnalysisName(rrName), &kubernautv1.AIAnalysis{})
	before := aia.DeepCopy()
	aia.Status.Conditions = conditions(kubernautv1.InvestigatedCondition, kubernautv1.RecommendedCondition, kubernautv1.ApprovalDecidedCondition, kubernautv1.ReadyCondition)
	aia.Status.Phase = aia.DerivePhase()
	aia.Status.RootCause = &kubernautv1.RootCause{Summary: "the crash loop began with revision 7", Confidence: 0.93}
	aia.Status.Recommendation = &kubernautv1.Recommendation{Steps: steps}
	aia.Status.Approval = &kubernautv1.ApprovalDecision{Mode: mode, Reasons: []string{"confidence 0.93"}}
	Expect(k8s.Status().Patch(ctx, aia, client.MergeFrom(before))).To(Succeed())
	return aia
}

// setWorkflow plays the WorkflowExecution controller.
func setWorkflow(ctx SpecContext, ns, rrName string, phase kubernautv1.WorkflowPhase, conds ...metav1.Condition) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	we := child(ctx, ns, kubernautv1.WorkflowName(rrName), &kubernautv1.WorkflowExecution{})
	before := we.DeepCopy()
	for _, c := range conds {
		c.LastTransitionTime = metav1.Now()
		meta.SetStatusCondition(&we.Status.Conditions, c)
	}
	we.Status.Phase = phase
	Expect(k8s.Status().Patch(ctx, we, client.MergeFrom(before))).To(Succeed())
	return we
}

// approvedByPolicy is the Approved condition of an Auto plan, as the WorkflowExecution
// controller writes it.
var approvedByPolicy = metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonAutoApproved, Message: "policy"}

func rollback(ns string) kubernautv1.PlanStep {
	s := gen.RollbackStep()
	s.Target.Namespace = ns
	return s
}

var _ = Describe("The RemediationRequest orchestrator", func() {
	It("never adopts a child it does not control: a pre-created analysis or processing fails the remediation, naming it", func(ctx SpecContext) {
		o := startOrchestrator(ctx, nil)
		// Someone (before admission kept them out) pre-created the processing under its name.
		Expect(k8s.Create(ctx, gen.RemediationProcessing(o.ns, "rr-foreign-rp"))).To(Succeed())
		o.rr(ctx, "rr-foreign")
		r := o.waitPhase(ctx, "rr-foreign", kubernautv1.RemediationPhaseFailed)
		Expect(r.Status.Message).To(ContainSubstring("RemediationProcessing " + o.ns + "/rr-foreign-rp exists but is not this remediation's"))
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-foreign-aia"}, &kubernautv1.AIAnalysis{})).
			To(Satisfy(apierrors.IsNotFound), "nothing downstream of a child it does not control")
	})

	It("drives a remediation through every phase, one child at a time", func(ctx SpecContext) {
		o := startOrchestrator(ctx, nil)
		o.rr(ctx, "rr-happy")
		o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseProcessing)
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-happy-aia"}, &kubernautv1.AIAnalysis{})).
			To(Satisfy(apierrors.IsNotFound), "no analysis before the processing completed")

		rp := completeProcessing(ctx, o.ns, "rr-happy")
		Expect(metav1.IsControlledBy(rp, o.get(ctx, "rr-happy"))).To(BeTrue())
		o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseAnalyzing)
		aia := child(ctx, o.ns, "rr-happy-aia", &kubernautv1.AIAnalysis{})
		Expect(aia.Spec.Enrichment).To(Equal(rp.Status.Enrichment), "the analysis gets the processing's context")
		Expect(aia.Spec.Classification.SignalType).To(Equal("crashloop"))

		completeAnalysis(ctx, o.ns, "rr-happy", kubernautv1.ApprovalManual, rollback(o.target))
		we := child(ctx, o.ns, "rr-happy-we", &kubernautv1.WorkflowExecution{})
		Expect(we.Spec.Steps).To(HaveLen(1))
		Expect(we.Spec.ApprovalMode).To(Equal(kubernautv1.ApprovalManual))
		Expect(we.Spec.Target.Kind).To(Equal(kubernautv1.TargetKindDeployment), "the mutex is taken on the workload")
		Expect(we.Labels).To(HaveKeyWithValue(kubernautv1.LabelTargetHash, we.Spec.Target.Hash()), "the safety policy finds a target's plans by it")
		Eventually(func(g Gomega) {
			r := o.get(ctx, "rr-happy")
			g.Expect(r.Status.WorkflowExecutionRef).NotTo(BeNil())
			g.Expect(r.Status.Phase).To(Equal(kubernautv1.RemediationPhaseAnalyzing), "a plan being planned waits for no approval yet")
			g.Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.ValidatedCondition)).To(HaveField("Status", metav1.ConditionUnknown))
		}).WithContext(ctx).Should(Succeed())

		setWorkflow(ctx, o.ns, "rr-happy", kubernautv1.WorkflowAwaitingApproval,
			metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionUnknown, Reason: kubernautv1.ReasonAwaitingApproval, Message: "waiting for plan hash abc"})
		r := o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(r.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalManual))
		Expect(r.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}))

		setWorkflow(ctx, o.ns, "rr-happy", kubernautv1.WorkflowRunning,
			metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonManuallyApproved, Message: "approved by alice"})
		o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseExecuting)
		setWorkflow(ctx, o.ns, "rr-happy", kubernautv1.WorkflowVerifying,
			metav1.Condition{Type: kubernautv1.ExecutedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonStepsSucceeded, Message: "1 step succeeded"})
		o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseVerifying)
		setWorkflow(ctx, o.ns, "rr-happy", kubernautv1.WorkflowCompleted,
			metav1.Condition{Type: kubernautv1.VerifiedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonHealthy, Message: "rollout complete"},
			metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonSucceeded, Message: "checkout healthy"})
		r = o.waitPhase(ctx, "rr-happy", kubernautv1.RemediationPhaseCompleted)
		Expect(r.Status.CompletedAt).NotTo(BeNil())
		Expect(r.Status.RootCause).To(ContainSubstring("revision 7"))
		for _, c := range r.Status.Conditions {
			Expect(c.ObservedGeneration).To(Equal(r.Generation), "condition %s", c.Type)
		}

		var evs eventsv1.EventList
		Expect(k8s.List(ctx, &evs, client.InNamespace(o.ns))).To(Succeed())
		// The events tell the story — the plan waiting, the change starting with what and why,
		// the end — not every phase (each is a write to the API server).
		notes := map[string]string{}
		for _, e := range evs.Items {
			if e.Regarding.Name == "rr-happy" {
				notes[e.Reason] = e.Note
			}
		}
		Expect(notes).To(HaveLen(3), "events: %v", notes)
		Expect(notes).To(HaveKeyWithValue("AwaitingApproval", And(ContainSubstring("rollback_deployment"), ContainSubstring("revision 7"))))
		Expect(notes).To(HaveKeyWithValue("Executing", And(ContainSubstring("plan "+kubernautv1.WorkflowName("rr-happy")), ContainSubstring("root cause"))))
		Expect(notes).To(HaveKeyWithValue("Completed", ContainSubstring("checkout healthy")))
	})

	DescribeTable("ends a remediation on its children's outcomes",
		func(ctx SpecContext, drive func(SpecContext, *orchestrated, string), want kubernautv1.RemediationPhase, message string) {
			o := startOrchestrator(ctx, nil)
			o.rr(ctx, "rr-end")
			drive(ctx, o, "rr-end")
			r := o.waitPhase(ctx, "rr-end", want)
			Expect(r.Status.Message).To(ContainSubstring(message))
		},
		Entry("no action recommended", func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalManual)
		}, kubernautv1.RemediationPhaseCompleted, "no action recommended"),
		Entry("approval policy rejects", func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalRejected, rollback(o.target))
		}, kubernautv1.RemediationPhaseRejected, "the approval policy rejected the plan"),
		Entry("processing fails", func(ctx SpecContext, o *orchestrated, n string) {
			rp := child(ctx, o.ns, kubernautv1.ProcessingName(n), &kubernautv1.RemediationProcessing{})
			before := rp.DeepCopy()
			rp.Status.Conditions = []metav1.Condition{{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonFailed, Message: "classification policy error", LastTransitionTime: metav1.Now()}}
			rp.Status.Phase = kubernautv1.ProcessingFailed
			Expect(k8s.Status().Patch(ctx, rp, client.MergeFrom(before))).To(Succeed())
		}, kubernautv1.RemediationPhaseFailed, "processing failed: classification policy error"),
		Entry("the workflow fails", func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalAuto, rollback(o.target))
			setWorkflow(ctx, o.ns, n, kubernautv1.WorkflowFailed, metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonFailed, Message: "step rollback failed; compensated"})
		}, kubernautv1.RemediationPhaseFailed, "step rollback failed; compensated"),
	)

	Describe("guards", func() {
		It("skips a target whose namespace has not opted in", func(ctx SpecContext) {
			o := startOrchestrator(ctx, nil)
			other := newNamespace(ctx)
			o.rr(ctx, "rr-out", func(r *kubernautv1.RemediationRequest) { r.Spec.Target.Namespace = other })
			r := o.waitPhase(ctx, "rr-out", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonOutOfScope))
			Expect(r.Status.Message).To(ContainSubstring("namespace " + other + " has not opted in"))
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-out-rp"}, &kubernautv1.RemediationProcessing{})).To(Satisfy(apierrors.IsNotFound))
		})

		It("skips a second remediation of a target that is being remediated, linked to the first", func(ctx SpecContext) {
			o := startOrchestrator(ctx, nil)
			o.rr(ctx, "rr-first")
			o.waitPhase(ctx, "rr-first", kubernautv1.RemediationPhaseProcessing)
			o.rr(ctx, "rr-second", func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Fingerprint = "0000000000000002" })
			r := o.waitPhase(ctx, "rr-second", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonAlreadyRemediating))
			Expect(r.Status.BlockedBy).To(Equal(&kubernautv1.LocalReference{Name: "rr-first"}))
		})

		It("lets one remediation at a time act on a workload that alerts about different pods resolve to", func(ctx SpecContext) {
			o := startOrchestrator(ctx, func(c *remediationrequest.Config) { c.Cooldown = time.Hour })
			pod := func(name, fp string) func(*kubernautv1.RemediationRequest) {
				return func(r *kubernautv1.RemediationRequest) { r.Spec.Target.Name, r.Spec.Signal.Fingerprint = name, fp }
			}
			o.rr(ctx, "rr-pod-a", pod("checkout-a", "00000000000000a1"))
			o.rr(ctx, "rr-pod-b", pod("checkout-b", "00000000000000b1"))
			for _, n := range []string{"rr-pod-a", "rr-pod-b"} {
				completeProcessing(ctx, o.ns, n) // both resolve to Deployment checkout
			}
			completeAnalysis(ctx, o.ns, "rr-pod-a", kubernautv1.ApprovalAuto, rollback(o.target))
			child(ctx, o.ns, "rr-pod-a-we", &kubernautv1.WorkflowExecution{})
			completeAnalysis(ctx, o.ns, "rr-pod-b", kubernautv1.ApprovalAuto, rollback(o.target))
			r := o.waitPhase(ctx, "rr-pod-b", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonAlreadyRemediating))
			Expect(r.Status.BlockedBy).To(Equal(&kubernautv1.LocalReference{Name: "rr-pod-a"}))
			Expect(r.Status.Message).To(ContainSubstring("Deployment/" + o.target + "/checkout"))
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-pod-b-we"}, &kubernautv1.WorkflowExecution{})).
				To(Satisfy(apierrors.IsNotFound), "the second plan is never handed over")

			setWorkflow(ctx, o.ns, "rr-pod-a", kubernautv1.WorkflowCompleted,
				metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonSucceeded, Message: "checkout healthy"})
			o.waitPhase(ctx, "rr-pod-a", kubernautv1.RemediationPhaseCompleted)
			o.rr(ctx, "rr-pod-c", pod("checkout-c", "00000000000000c1"))
			completeProcessing(ctx, o.ns, "rr-pod-c")
			completeAnalysis(ctx, o.ns, "rr-pod-c", kubernautv1.ApprovalAuto, rollback(o.target))
			r = o.waitPhase(ctx, "rr-pod-c", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonCoolingDown),
				"the workload was just remediated for the same signal")

			o.rr(ctx, "rr-other-signal", pod("checkout-d", "00000000000000d1"), func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Name = "KubePodNotReady" })
			completeProcessing(ctx, o.ns, "rr-other-signal")
			completeAnalysis(ctx, o.ns, "rr-other-signal", kubernautv1.ApprovalAuto, rollback(o.target))
			child(ctx, o.ns, "rr-other-signal-we", &kubernautv1.WorkflowExecution{})
			var leases coordinationv1.LeaseList
			Expect(k8s.List(ctx, &leases, client.InNamespace(o.ns))).To(Succeed())
			Expect(leases.Items).To(HaveLen(1), "one claim per target")
			lease := leases.Items[0]
			Expect(*lease.Spec.HolderIdentity).To(Equal("rr-other-signal"), "a finished holder's claim is taken over")
			Expect(lease.OwnerReferences).To(ConsistOf(HaveField("Name", "rr-other-signal")))
		})

		It("keeps a target claimed while the plan of a remediation that timed out executing still runs", func(ctx SpecContext) {
			o := startOrchestrator(ctx, func(c *remediationrequest.Config) {
				c.Cooldown = 0
				c.Timeouts[kubernautv1.RemediationPhaseExecuting] = 2 * time.Second
			})
			o.rr(ctx, "rr-slow")
			completeProcessing(ctx, o.ns, "rr-slow")
			completeAnalysis(ctx, o.ns, "rr-slow", kubernautv1.ApprovalAuto, rollback(o.target))
			setWorkflow(ctx, o.ns, "rr-slow", kubernautv1.WorkflowRunning,
				approvedByPolicy)
			o.waitPhase(ctx, "rr-slow", kubernautv1.RemediationPhaseTimedOut)

			o.rr(ctx, "rr-next", func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Fingerprint = "0000000000000002" })
			completeProcessing(ctx, o.ns, "rr-next")
			completeAnalysis(ctx, o.ns, "rr-next", kubernautv1.ApprovalAuto, rollback(o.target))
			r := o.waitPhase(ctx, "rr-next", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonAlreadyRemediating))
			Expect(r.Status.BlockedBy).To(Equal(&kubernautv1.LocalReference{Name: "rr-slow"}))
			Expect(r.Status.Message).To(ContainSubstring("RemediationRequest rr-slow ended TimedOut, but its plan rr-slow-we still runs on"))
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-next-we"}, &kubernautv1.WorkflowExecution{})).
				To(Satisfy(apierrors.IsNotFound), "no second plan while the first runs")

			// Once the plan ends (its exit hook undid it, say), the target is free again.
			setWorkflow(ctx, o.ns, "rr-slow", kubernautv1.WorkflowFailed,
				metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonFailed, Message: "deadline; undone"})
			o.rr(ctx, "rr-after", func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Fingerprint = "0000000000000003" })
			completeProcessing(ctx, o.ns, "rr-after")
			completeAnalysis(ctx, o.ns, "rr-after", kubernautv1.ApprovalAuto, rollback(o.target))
			child(ctx, o.ns, "rr-after-we", &kubernautv1.WorkflowExecution{})
		})

		It("holds back a remediation of a target remediated for the same signal within the cooldown", func(ctx SpecContext) {
			o := startOrchestrator(ctx, nil)
			o.rr(ctx, "rr-done")
			completeProcessing(ctx, o.ns, "rr-done")
			completeAnalysis(ctx, o.ns, "rr-done", kubernautv1.ApprovalManual) // no action: completes
			o.waitPhase(ctx, "rr-done", kubernautv1.RemediationPhaseCompleted)
			o.rr(ctx, "rr-again", func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Fingerprint = "0000000000000003" })
			r := o.waitPhase(ctx, "rr-again", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonCoolingDown))
			Expect(r.Status.BlockedBy.Name).To(Equal("rr-done"))
		})

		It("blocks an alert whose last remediations failed", func(ctx SpecContext) {
			o := startOrchestrator(ctx, func(c *remediationrequest.Config) { c.FailureLimit, c.Cooldown = 2, 0 })
			for i := range 2 {
				name := fmt.Sprintf("rr-fail-%d", i)
				o.rr(ctx, name)
				completeProcessing(ctx, o.ns, name)
				completeAnalysis(ctx, o.ns, name, kubernautv1.ApprovalAuto, rollback(o.target))
				setWorkflow(ctx, o.ns, name, kubernautv1.WorkflowFailed, metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonFailed, Message: "rollback failed"})
				o.waitPhase(ctx, name, kubernautv1.RemediationPhaseFailed)
			}
			o.rr(ctx, "rr-fail-2")
			r := o.waitPhase(ctx, "rr-fail-2", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonTooManyFailures))
			Expect(r.Status.Message).To(ContainSubstring("the last 2 remediations of alert " + gen.Fingerprint + " failed"))
		})

		It("stops new remediations, and executions about to start, when the kill switch is on", func(ctx SpecContext) {
			o := startOrchestrator(ctx, nil)
			o.rr(ctx, "rr-running")
			completeProcessing(ctx, o.ns, "rr-running")
			o.waitPhase(ctx, "rr-running", kubernautv1.RemediationPhaseAnalyzing)

			Expect(k8s.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: o.cfg.KillSwitchName},
				Data:       map[string]string{killswitch.Key: "true"},
			})).To(Succeed())
			o.rr(ctx, "rr-new", func(r *kubernautv1.RemediationRequest) {
				r.Spec.Target.Name = "another-pod"
				r.Spec.Signal.Fingerprint = "0000000000000004"
			})
			r := o.waitPhase(ctx, "rr-new", kubernautv1.RemediationPhaseSkipped)
			Expect(meta.FindStatusCondition(r.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonKillSwitchActive))

			completeAnalysis(ctx, o.ns, "rr-running", kubernautv1.ApprovalAuto, rollback(o.target))
			r = o.waitPhase(ctx, "rr-running", kubernautv1.RemediationPhaseSkipped)
			Expect(r.Status.Message).To(ContainSubstring("stops new executions"))
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-running-we"}, &kubernautv1.WorkflowExecution{})).
				To(Satisfy(apierrors.IsNotFound), "nothing executes")
		})
	})

	DescribeTable("times out a phase, naming it; withdraws a plan that has not started, leaves a running one to report",
		func(ctx SpecContext, phase kubernautv1.RemediationPhase, drive func(SpecContext, *orchestrated, string), planRuns bool) {
			o := startOrchestrator(ctx, func(c *remediationrequest.Config) { c.Timeouts[phase] = 2 * time.Second })
			o.rr(ctx, "rr-slow")
			drive(ctx, o, "rr-slow")
			r := o.waitPhase(ctx, "rr-slow", kubernautv1.RemediationPhaseTimedOut)
			Expect(r.Status.Message).To(Equal(fmt.Sprintf("phase %s exceeded its timeout of 2s", phase)))
			plan := client.ObjectKey{Namespace: o.ns, Name: "rr-slow-we"}
			if planRuns {
				Consistently(func() error { return k8s.Get(ctx, plan, &kubernautv1.WorkflowExecution{}) }).WithContext(ctx).WithTimeout(2*time.Second).Should(Succeed(),
					"an approved plan runs to its own end (its steps may be changing the target)")
				return
			}
			// Nobody can approve the plan of a remediation that ended, and its target is free.
			Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, plan, &kubernautv1.WorkflowExecution{})) }).WithContext(ctx).Should(BeTrue(), "withdrawn")
		},
		Entry("processing", kubernautv1.RemediationPhaseProcessing, func(SpecContext, *orchestrated, string) {}, false),
		Entry("analysis", kubernautv1.RemediationPhaseAnalyzing, func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
		}, false),
		Entry("approval", kubernautv1.RemediationPhaseAwaitingApproval, func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalManual, rollback(o.target))
			setWorkflow(ctx, o.ns, n, kubernautv1.WorkflowAwaitingApproval, metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionUnknown, Reason: kubernautv1.ReasonAwaitingApproval, Message: "waiting for plan hash abc"})
		}, false),
		Entry("execution", kubernautv1.RemediationPhaseExecuting, func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalAuto, rollback(o.target))
			setWorkflow(ctx, o.ns, n, kubernautv1.WorkflowRunning, approvedByPolicy)
		}, true),
		Entry("verification", kubernautv1.RemediationPhaseVerifying, func(ctx SpecContext, o *orchestrated, n string) {
			completeProcessing(ctx, o.ns, n)
			completeAnalysis(ctx, o.ns, n, kubernautv1.ApprovalAuto, rollback(o.target))
			setWorkflow(ctx, o.ns, n, kubernautv1.WorkflowVerifying,
				approvedByPolicy,
				metav1.Condition{Type: kubernautv1.ExecutedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonStepsSucceeded, Message: "done"})
		}, true),
	)

	It("cancels a remediation whose alert resolved before execution, and keeps verifying one that executes", func(ctx SpecContext) {
		o := startOrchestrator(ctx, nil)
		o.rr(ctx, "rr-early")
		o.waitPhase(ctx, "rr-early", kubernautv1.RemediationPhaseProcessing)
		r := o.get(ctx, "rr-early")
		before := r.DeepCopy()
		r.Spec.ResolvedAt = ptr.To(metav1.Now())
		Expect(k8s.Patch(ctx, r, client.MergeFrom(before))).To(Succeed()) // as the gateway's resolution lands, whatever the status
		r = o.waitPhase(ctx, "rr-early", kubernautv1.RemediationPhaseCancelled)
		Expect(r.Status.Message).To(ContainSubstring("before execution started"))

		o.rr(ctx, "rr-late", func(r *kubernautv1.RemediationRequest) {
			r.Spec.Target.Name = "late-pod"
			r.Spec.Signal.Fingerprint = "0000000000000005"
		})
		completeProcessing(ctx, o.ns, "rr-late")
		completeAnalysis(ctx, o.ns, "rr-late", kubernautv1.ApprovalAuto, rollback(o.target))
		setWorkflow(ctx, o.ns, "rr-late", kubernautv1.WorkflowVerifying,
			approvedByPolicy,
			metav1.Condition{Type: kubernautv1.ExecutedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonStepsSucceeded, Message: "done"})
		o.waitPhase(ctx, "rr-late", kubernautv1.RemediationPhaseVerifying)
		r = o.get(ctx, "rr-late")
		before = r.DeepCopy()
		r.Spec.ResolvedAt = ptr.To(metav1.Now())
		Expect(k8s.Patch(ctx, r, client.MergeFrom(before))).To(Succeed()) // as the gateway's resolution lands, whatever the status
		Eventually(func() string { return o.get(ctx, "rr-late").Status.Message }).WithContext(ctx).
			Should(ContainSubstring("during execution; verification continues"))
		Expect(o.get(ctx, "rr-late").Status.Phase).To(Equal(kubernautv1.RemediationPhaseVerifying))
	})

	It("cancels a remediation whose alert resolved while its plan awaited approval, and withdraws the plan", func(ctx SpecContext) {
		o := startOrchestrator(ctx, nil)
		o.rr(ctx, "rr-wait")
		completeProcessing(ctx, o.ns, "rr-wait")
		completeAnalysis(ctx, o.ns, "rr-wait", kubernautv1.ApprovalManual, rollback(o.target))
		setWorkflow(ctx, o.ns, "rr-wait", kubernautv1.WorkflowAwaitingApproval,
			metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionUnknown, Reason: kubernautv1.ReasonAwaitingApproval, Message: "waiting"})
		o.waitPhase(ctx, "rr-wait", kubernautv1.RemediationPhaseAwaitingApproval)
		r := o.get(ctx, "rr-wait")
		before := r.DeepCopy()
		r.Spec.ResolvedAt = ptr.To(metav1.Now())
		Expect(k8s.Patch(ctx, r, client.MergeFrom(before))).To(Succeed()) // as the gateway's resolution lands, whatever the status
		r = o.waitPhase(ctx, "rr-wait", kubernautv1.RemediationPhaseCancelled)
		Expect(r.Status.Message).To(ContainSubstring("the plan was withdrawn"))
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-wait-we"}, &kubernautv1.WorkflowExecution{})
		}).WithContext(ctx).Should(Satisfy(apierrors.IsNotFound))
	})

	It("deletes a finished remediation after its retention", func(ctx SpecContext) {
		o := startOrchestrator(ctx, func(c *remediationrequest.Config) { c.Retention = 2 * time.Second })
		other := newNamespace(ctx)
		o.rr(ctx, "rr-old", func(r *kubernautv1.RemediationRequest) { r.Spec.Target.Namespace = other })
		o.waitPhase(ctx, "rr-old", kubernautv1.RemediationPhaseSkipped)
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: o.ns, Name: "rr-old"}, &kubernautv1.RemediationRequest{})
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Satisfy(apierrors.IsNotFound))
	})
})
