package integration

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// statusCase creates an object, patches its status as a controller would and reads it back.
type statusCase struct {
	object func(ns string) client.Object
	// setStatus writes conditions and fields into the object's status and returns the
	// phase the conditions derive.
	setStatus func(client.Object) string
	// phase reads the stored phase.
	phase func(client.Object) string
}

var _ = Describe("Every kind", func() {
	now := metav1.Now()

	DescribeTable("can be created, read back and have its status patched",
		func(ctx SpecContext, tc statusCase) {
			ns := newNamespace(ctx)
			obj := tc.object(ns)
			Expect(k8s.Create(ctx, obj)).To(Succeed())

			read := obj.DeepCopyObject().(client.Object)
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), read)).To(Succeed())
			Expect(read.GetGeneration()).To(Equal(int64(1)))

			before := read.DeepCopyObject().(client.Object)
			want := tc.setStatus(read)
			Expect(k8s.Status().Patch(ctx, read, client.MergeFrom(before))).To(Succeed())

			after := obj.DeepCopyObject().(client.Object)
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), after)).To(Succeed())
			Expect(tc.phase(after)).To(Equal(want))
			Expect(after.GetGeneration()).To(Equal(int64(1)), "a status patch does not change the generation")
		},
		Entry("RemediationRequest", statusCase{
			object: func(ns string) client.Object { return gen.RemediationRequest(ns, "rr-"+gen.Fingerprint) },
			setStatus: func(o client.Object) string {
				rr := o.(*kubernautv1.RemediationRequest)
				for _, c := range []string{kubernautv1.GuardsPassedCondition, kubernautv1.ProcessedCondition} {
					meta.SetStatusCondition(&rr.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Done", ObservedGeneration: 1})
				}
				meta.SetStatusCondition(&rr.Status.Conditions, metav1.Condition{Type: kubernautv1.AnalyzedCondition, Status: metav1.ConditionUnknown, Reason: kubernautv1.ReasonInProgress, ObservedGeneration: 1})
				rr.Status.Phase = rr.DerivePhase()
				rr.Status.ObservedGeneration = 1
				rr.Status.StartedAt = &now
				rr.Status.RemediationProcessingRef = &kubernautv1.LocalReference{Name: "rr-processing"}
				return string(kubernautv1.RemediationPhaseAnalyzing)
			},
			phase: func(o client.Object) string { return string(o.(*kubernautv1.RemediationRequest).Status.Phase) },
		}),
		Entry("RemediationProcessing", statusCase{
			object: func(ns string) client.Object { return gen.RemediationProcessing(ns, "rp") },
			setStatus: func(o client.Object) string {
				rp := o.(*kubernautv1.RemediationProcessing)
				for _, c := range []string{kubernautv1.EnrichedCondition, kubernautv1.ClassifiedCondition, kubernautv1.ReadyCondition} {
					meta.SetStatusCondition(&rp.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Done", ObservedGeneration: 1})
				}
				rp.Status.Enrichment = &kubernautv1.Enrichment{
					FailedDetections: []kubernautv1.FailedDetection{{Detection: "logs", Error: "pods/log is forbidden"}},
				}
				rp.Status.Classification = &kubernautv1.Classification{
					Environment: kubernautv1.EnvironmentProduction, Severity: kubernautv1.SeverityCritical,
					Priority: "P1", SignalType: "crashloop", BusinessCriticality: "high",
				}
				rp.Status.Phase = rp.DerivePhase()
				return string(kubernautv1.ProcessingCompleted)
			},
			phase: func(o client.Object) string { return string(o.(*kubernautv1.RemediationProcessing).Status.Phase) },
		}),
		Entry("AIAnalysis", statusCase{
			object: func(ns string) client.Object { return gen.AIAnalysis(ns, "aia") },
			setStatus: func(o client.Object) string {
				a := o.(*kubernautv1.AIAnalysis)
				meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kubernautv1.InvestigatedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonRootCauseFound})
				meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonRejected})
				a.Status.RootCause = &kubernautv1.RootCause{Summary: "bad rollout", Confidence: 0.55}
				a.Status.Recommendation = &kubernautv1.Recommendation{Steps: []kubernautv1.PlanStep{gen.RollbackStep()}}
				a.Status.Approval = &kubernautv1.ApprovalDecision{Mode: kubernautv1.ApprovalRejected, Reasons: []string{"confidence 0.55 < 0.7"}}
				a.Status.Phase = a.DerivePhase()
				return string(kubernautv1.AnalysisRejected)
			},
			phase: func(o client.Object) string { return string(o.(*kubernautv1.AIAnalysis).Status.Phase) },
		}),
		Entry("WorkflowExecution", statusCase{
			object: func(ns string) client.Object { return gen.WorkflowExecution(ns, "we") },
			setStatus: func(o client.Object) string {
				we := o.(*kubernautv1.WorkflowExecution)
				meta.SetStatusCondition(&we.Status.Conditions, metav1.Condition{Type: kubernautv1.CompiledCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonWorkflowCompiled})
				meta.SetStatusCondition(&we.Status.Conditions, metav1.Condition{Type: kubernautv1.ValidatedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonPlanValid})
				meta.SetStatusCondition(&we.Status.Conditions, metav1.Condition{Type: kubernautv1.ApprovedCondition, Status: metav1.ConditionUnknown, Reason: kubernautv1.ReasonAwaitingApproval})
				we.Status.Plan = &kubernautv1.Plan{
					Hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
					Steps: []kubernautv1.PlannedStep{{
						Name: "rollback", Action: kubernautv1.ActionRollbackDeployment, Target: gen.DeploymentTarget(),
						Policy: kubernautv1.PolicyVerdict{Allowed: true, Policy: "embedded"},
						DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "-image: v7\n+image: v6"},
					}},
				}
				we.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Pending"}
				we.Status.Steps = []kubernautv1.StepStatus{{Name: "rollback", Phase: kubernautv1.StepPending}}
				we.Status.Phase = we.DerivePhase()
				return string(kubernautv1.WorkflowAwaitingApproval)
			},
			phase: func(o client.Object) string { return string(o.(*kubernautv1.WorkflowExecution).Status.Phase) },
		}),
		Entry("KubernetesExecution", statusCase{
			object: func(ns string) client.Object { return gen.KubernetesExecution(ns, "ke") },
			setStatus: func(o client.Object) string {
				ke := o.(*kubernautv1.KubernetesExecution)
				for _, c := range []string{kubernautv1.ValidatedCondition, kubernautv1.ExecutedCondition, kubernautv1.VerifiedCondition, kubernautv1.ReadyCondition} {
					meta.SetStatusCondition(&ke.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: "Done"})
				}
				rev := int64(7)
				ke.Status.PreState = &kubernautv1.PreState{CapturedAt: now, Revision: &rev}
				ke.Status.Result = &kubernautv1.ActionResult{Success: true, Message: "rolled back to revision 6"}
				ke.Status.Executor = kubernautv1.ExecutorInProcess
				ke.Status.Phase = ke.DerivePhase()
				return string(kubernautv1.ExecutionSucceeded)
			},
			phase: func(o client.Object) string { return string(o.(*kubernautv1.KubernetesExecution).Status.Phase) },
		}),
	)
})
