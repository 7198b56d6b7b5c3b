package integration

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// expectInvalid asserts that err is the API server's Invalid error and that its message
// contains every fragment (the field path and the rule's message).
func expectInvalid(err error, fragments ...string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	for _, f := range fragments {
		Expect(err.Error()).To(ContainSubstring(f))
	}
}

func ke(mod func(*kubernautv1.KubernetesExecution)) func(string) client.Object {
	return func(ns string) client.Object { return gen.KubernetesExecution(ns, "ke", mod) }
}

func rr(mod func(*kubernautv1.RemediationRequest)) func(string) client.Object {
	return func(ns string) client.Object { return gen.RemediationRequest(ns, "rr", mod) }
}

func aia(mod func(*kubernautv1.AIAnalysis)) func(string) client.Object {
	return func(ns string) client.Object { return gen.AIAnalysis(ns, "aia", mod) }
}

func we(mod func(*kubernautv1.WorkflowExecution)) func(string) client.Object {
	return func(ns string) client.Object { return gen.WorkflowExecution(ns, "we", mod) }
}

var _ = Describe("Validation on create", func() {
	DescribeTable("refuses an invalid object with a message that says what and where",
		func(ctx SpecContext, object func(ns string) client.Object, fragments ...string) {
			ns := newNamespace(ctx)
			expectInvalid(k8s.Create(ctx, object(ns)), fragments...)
		},
		Entry("an action outside the catalog", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = "exec_shell"
		}), "spec.action", `Unsupported value: "exec_shell"`),
		Entry("a fingerprint that is not 16 hex digits", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Signal.Fingerprint = "XYZ"
		}), "spec.signal.fingerprint", "should match"),
		Entry("a namespaced target without a namespace", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Target.Namespace = ""
		}), "spec.target", "namespace is required for namespaced kinds"),
		Entry("a Node target with a namespace", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindNode, Namespace: "shop", Name: "node-1"}
		}), "spec.target", "must be empty for Node and Namespace"),
		Entry("an unknown target kind", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Target.Kind = "CronTab"
		}), "spec.target.kind", "Unsupported value"),
		Entry("too many labels", rr(func(o *kubernautv1.RemediationRequest) {
			for i := range 65 {
				o.Spec.Signal.Labels[strings.Repeat("l", i+1)] = "v"
			}
		}), "spec.signal.labels", "must have at most 64 items"),
		Entry("an oversized annotation", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Signal.Annotations["description"] = strings.Repeat("x", 4097)
		}), "spec.signal", "annotation values must be at most 4096 characters"),
		Entry("lastSeen before firstSeen", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Deduplication.LastSeen = metav1.NewTime(o.Spec.Deduplication.FirstSeen.Add(-60e9))
		}), "spec.deduplication", "lastSeen must not be before firstSeen"),
		Entry("a zero occurrence count", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Deduplication.Count = 0
		}), "spec.deduplication.count", "should be greater than or equal to 1"),
		Entry("a signal type that is not a DNS label", aia(func(o *kubernautv1.AIAnalysis) {
			o.Spec.Classification = &kubernautv1.Classification{
				Environment: "production", Severity: "critical", Priority: "P1", SignalType: "crash loop", BusinessCriticality: "high",
			}
		}), "spec.classification.signalType", "should match"),
		Entry("scale_deployment without its parameters", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionScaleDeployment
			o.Spec.Parameters = nil
		}), "spec", "action scale_deployment needs parameters.scaleDeployment"),
		Entry("parameters of another action", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Parameters = &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 3}}
		}), "spec", "parameters.scaleDeployment is only valid for action scale_deployment"),
		Entry("two parameter blocks", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Parameters.DeletePod = &kubernautv1.DeletePodParameters{}
		}), "spec.parameters", "must have at most 1 item"),
		Entry("an action on the wrong kind of target", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionCordonNode
			o.Spec.Parameters = nil
		}), "spec", "cordon_node, uncordon_node and drain_node need a Node target"),
		Entry("replicas out of bounds", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionScaleDeployment
			o.Spec.Parameters = &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 5000}}
		}), "spec.parameters.scaleDeployment.replicas", "should be less than or equal to 1000"),
		Entry("a memory increase beyond the bound", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionIncreaseMemoryLimit
			o.Spec.Parameters = &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{
				Percent: 500, MaxLimit: ptr.To(resource.MustParse("2Gi")),
			}}
		}), "spec.parameters.increaseMemoryLimit.percent", "should be less than or equal to 200"),
		Entry("an HPA minimum above its maximum", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionUpdateHPA
			o.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindHorizontalPodAutoscaler, Namespace: "shop", Name: "checkout"}
			o.Spec.Parameters = &kubernautv1.ActionParameters{UpdateHPA: &kubernautv1.UpdateHPAParameters{MinReplicas: ptr.To[int32](8), MaxReplicas: 4}}
		}), "spec.parameters.updateHPA", "minReplicas must not exceed maxReplicas"),
		Entry("an empty config update", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionUpdateConfig
			o.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindConfigMap, Namespace: "shop", Name: "checkout"}
			o.Spec.Parameters = &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{}}
		}), "spec.parameters.updateConfig", "needs data to set or keys to remove"),
		Entry("a force delete (grace period 0)", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Action = kubernautv1.ActionDeletePod
			o.Spec.Target = gen.PodTarget()
			o.Spec.Parameters = &kubernautv1.ActionParameters{DeletePod: &kubernautv1.DeletePodParameters{GracePeriodSeconds: ptr.To[int64](0)}}
		}), "spec.parameters.deletePod.gracePeriodSeconds", "should be greater than or equal to 1"),
		Entry("a Compensate step that names no step", ke(func(o *kubernautv1.KubernetesExecution) {
			o.Spec.Mode = kubernautv1.ExecutionModeCompensate
		}), "spec", "a Compensate step names the step it undoes in compensates"),
		Entry("a rejected plan", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.ApprovalMode = kubernautv1.ApprovalRejected
		}), "spec.approvalMode", "a rejected plan is never executed"),
		Entry("a plan without steps", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.Steps = nil
		}), "spec.steps", "Required value"),
		Entry("duplicate step names", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.Steps = append(o.Spec.Steps, gen.RollbackStep())
		}), "spec", "step names must be unique"),
		Entry("a dependency on a missing step", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.Steps[0].DependsOn = []string{"restart"}
		}), "spec", "dependsOn must name other steps of the plan"),
		Entry("a step that depends on itself", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.Steps[0].DependsOn = []string{"rollback"}
		}), "spec", "dependsOn must name other steps of the plan"),
		Entry("a step name that is not a DNS label", we(func(o *kubernautv1.WorkflowExecution) {
			o.Spec.Steps[0].Name = "Roll Back"
		}), "spec.steps[0].name", "should match"),
	)

	It("refuses a status whose confidence is outside [0,1]", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		a := gen.AIAnalysis(ns, "aia")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		before := a.DeepCopy()
		a.Status.RootCause = &kubernautv1.RootCause{Summary: "guess", Confidence: 1.5}
		expectInvalid(k8s.Status().Patch(ctx, a, client.MergeFrom(before)),
			"status.rootCause.confidence", "confidence must be between 0 and 1")
	})

	It("refuses a recommendation with an invalid step", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		a := gen.AIAnalysis(ns, "aia")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		before := a.DeepCopy()
		step := gen.RollbackStep()
		step.Action = kubernautv1.ActionDrainNode
		a.Status.Recommendation = &kubernautv1.Recommendation{Steps: []kubernautv1.PlanStep{step}}
		expectInvalid(k8s.Status().Patch(ctx, a, client.MergeFrom(before)),
			"status.recommendation.steps[0]", "need a Node target")
	})

	It("refuses an approval that names no approver", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		w := gen.WorkflowExecution(ns, "we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		before := w.DeepCopy()
		w.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Approved"}
		expectInvalid(k8s.Status().Patch(ctx, w, client.MergeFrom(before)),
			"status.approval", "an approved plan names who approved it")
	})
})

var _ = Describe("Validation on update", func() {
	DescribeTable("refuses changes to immutable fields",
		func(ctx SpecContext, object func(ns string) client.Object, change func(client.Object), fragments ...string) {
			ns := newNamespace(ctx)
			obj := object(ns)
			Expect(k8s.Create(ctx, obj)).To(Succeed())
			change(obj)
			expectInvalid(k8s.Update(ctx, obj), fragments...)
		},
		Entry("a RemediationRequest's signal", rr(nil), func(o client.Object) {
			o.(*kubernautv1.RemediationRequest).Spec.Signal.Severity = kubernautv1.SeverityInfo
		}, "spec.signal", "signal is immutable"),
		Entry("a RemediationRequest's target", rr(nil), func(o client.Object) {
			o.(*kubernautv1.RemediationRequest).Spec.Target.Name = "other"
		}, "spec.target", "target is immutable"),
		Entry("a decreasing occurrence count", rr(func(o *kubernautv1.RemediationRequest) {
			o.Spec.Deduplication.Count = 5
		}), func(o client.Object) {
			o.(*kubernautv1.RemediationRequest).Spec.Deduplication.Count = 4
		}, "spec.deduplication", "deduplication count never decreases"),
		Entry("an approved plan's steps", we(nil), func(o client.Object) {
			o.(*kubernautv1.WorkflowExecution).Spec.Steps[0].Parameters.RollbackDeployment.ToRevision = 3
		}, "spec", "the approved plan cannot change"),
		Entry("a step", ke(nil), func(o client.Object) {
			o.(*kubernautv1.KubernetesExecution).Spec.Target.Name = "other"
		}, "spec", "spec is immutable"),
		Entry("a processing request", func(ns string) client.Object { return gen.RemediationProcessing(ns, "rp") }, func(o client.Object) {
			o.(*kubernautv1.RemediationProcessing).Spec.Target.Name = "other"
		}, "spec", "spec is immutable"),
		Entry("an analysis request", aia(nil), func(o client.Object) {
			o.(*kubernautv1.AIAnalysis).Spec.Analyzer = kubernautv1.AnalyzerHolmesGPT
		}, "spec", "spec is immutable"),
	)

	It("accepts an occurrence update and a resolution", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		o := gen.RemediationRequest(ns, "rr")
		Expect(k8s.Create(ctx, o)).To(Succeed())
		o.Spec.Deduplication.Count = 2
		o.Spec.Deduplication.LastSeen = metav1.NewTime(o.Spec.Deduplication.LastSeen.Add(300e9))
		resolved := metav1.NewTime(o.Spec.Deduplication.LastSeen.Add(60e9))
		o.Spec.ResolvedAt = &resolved
		Expect(k8s.Update(ctx, o)).To(Succeed())
	})
})
