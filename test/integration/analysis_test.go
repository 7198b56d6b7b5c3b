package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/holmesgpt"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/rules"
	"github.com/kubernaut/kubernaut/test/gen"
	"github.com/kubernaut/kubernaut/test/holmes"
)

// scripted is an analyzer that answers what a test tells it to: it stands for an AI whose
// answers are not to be trusted.
type scripted struct {
	answer func(*kubernautv1.AIAnalysis) (*aianalysis.Result, error)
}

func (s scripted) Name() kubernautv1.AnalyzerName { return kubernautv1.AnalyzerHolmesGPT }
func (s scripted) Analyze(_ context.Context, aia *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	return s.answer(aia)
}

// hanging is an analyzer that answers only when its call is given up: a HolmesGPT that hangs.
type hanging struct{}

func (hanging) Name() kubernautv1.AnalyzerName { return kubernautv1.AnalyzerHolmesGPT }
func (hanging) Analyze(ctx context.Context, _ *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("POST /api/chat: %w", ctx.Err())
}

// startAnalysis runs the AIAnalysis controller for one namespace, with the rules analyzer as
// the fallback and ai as the configured analyzer.
func startAnalysis(ctx SpecContext, ns string, ai aianalysis.Analyzer, mods ...func(*aianalysis.Reconciler)) {
	GinkgoHelper()
	runManager(ns, func(_ context.Context, mgr ctrl.Manager) error {
		rb := rules.New()
		r := &aianalysis.Reconciler{
			Client:    mgr.GetClient(),
			Analyzers: map[kubernautv1.AnalyzerName]aianalysis.Analyzer{kubernautv1.AnalyzerRules: rb, kubernautv1.AnalyzerHolmesGPT: ai},
			Default:   kubernautv1.AnalyzerHolmesGPT, Fallback: rb, Timeout: 10 * time.Second,
			Validator: &aianalysis.Validator{Client: mgr.GetClient(), MaxSteps: 5},
			Approver:  aianalysis.NewApprover(mgr.GetAPIReader(), ns, "kubernaut-policies", 0.9, 0.7),
			Learner:   &aianalysis.Learner{Reader: mgr.GetClient(), Window: 7 * 24 * time.Hour, MinSamples: 3, MaxGain: 0.05, MaxLoss: 0.3},
			Events:    mgr.GetEventRecorder("kubernaut-aianalysis"),
		}
		for _, m := range mods {
			m(r)
		}
		return r.SetupWithManager(mgr)
	})
}

// crashAfterRollout is the context of a Deployment whose newest revision crash-loops.
func crashAfterRollout(ns string) *kubernautv1.Enrichment {
	now := time.Now()
	created := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	dep := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}
	return &kubernautv1.Enrichment{
		OwnerChain: []kubernautv1.Target{{Kind: "Pod", Namespace: ns, Name: "checkout-1"}, {Kind: "ReplicaSet", Namespace: ns, Name: "checkout-8"}, dep},
		Workload:   &kubernautv1.WorkloadState{Target: dep, Replicas: ptr.To[int32](2), AvailableReplicas: 1},
		Pods: []kubernautv1.PodState{{Name: "checkout-1", Phase: "Running", NodeName: "worker-1",
			Containers: []kubernautv1.ContainerState{{Name: "app", State: "Waiting", Reason: "CrashLoopBackOff", RestartCount: 5, LastTerminationReason: "Error"}}}},
		Rollouts: []kubernautv1.RolloutRevision{
			{Revision: 8, Name: "checkout-8", CreatedAt: created(-3 * time.Minute), Images: []string{"shop/checkout:2.0"}},
			{Revision: 7, Name: "checkout-7", CreatedAt: created(-48 * time.Hour), Images: []string{"shop/checkout:1.9"}},
		},
	}
}

func newAnalysis(ctx SpecContext, ns, env string) *kubernautv1.AIAnalysis {
	GinkgoHelper()
	a := gen.AIAnalysis(ns, "aia", func(a *kubernautv1.AIAnalysis) {
		a.Spec.Target = kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: "checkout-1"}
		a.Spec.Signal.StartsAt = metav1.NewTime(time.Now().Truncate(time.Second))
		a.Spec.Enrichment = crashAfterRollout(ns)
		a.Spec.Classification = &kubernautv1.Classification{Environment: kubernautv1.Environment(env), Severity: "critical", Priority: "P1", SignalType: "crashloop", BusinessCriticality: "high"}
	})
	Expect(k8s.Create(ctx, a)).To(Succeed())
	return a
}

func waitAnalysis(ctx SpecContext, a *kubernautv1.AIAnalysis) *kubernautv1.AIAnalysis {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
		g.Expect(a.Status.Phase).To(BeElementOf(kubernautv1.AnalysisCompleted, kubernautv1.AnalysisRejected, kubernautv1.AnalysisFailed))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return a
}

func step(name string, action kubernautv1.ActionName, target kubernautv1.Target, params *kubernautv1.ActionParameters, deps ...string) kubernautv1.PlanStep {
	return kubernautv1.PlanStep{Name: name, ActionStep: kubernautv1.ActionStep{Action: action, Target: target, Parameters: params}, DependsOn: deps}
}

var _ = Describe("The AIAnalysis controller", func() {
	It("recommends a rollback for a crash loop after a rollout, and asks a person in production", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startAnalysis(ctx, ns, rules.New())
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "production"))
		Expect(a.Status.Phase).To(Equal(kubernautv1.AnalysisCompleted), "%v", a.Status.Conditions)
		Expect(a.Status.Recommendation.Steps).To(HaveLen(1))
		Expect(a.Status.Recommendation.Steps[0].Action).To(Equal(kubernautv1.ActionRollbackDeployment))
		Expect(a.Status.RootCause.Confidence).To(BeNumerically(">=", 0.9))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual))
		Expect(a.Status.Approval.Reasons).To(ContainElement("the target runs in production"))
		Expect(a.Status.Fallback).To(BeFalse())
	})

	It("approves the same plan automatically outside production", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startAnalysis(ctx, ns, rules.New())
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalAuto), "%v", a.Status.Approval.Reasons)
	})

	It("takes the confidence thresholds of the policy ConfigMap at each decision", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startAnalysis(ctx, ns, rules.New())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data: map[string]string{aianalysis.AutoApproveThresholdKey: "0.99"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual), "the flags' 0.9 would auto-approve it: %v", a.Status.Approval.Reasons)
		Expect(a.Status.Approval.Reasons).To(ContainElement(ContainSubstring("below 0.99 for automatic approval")))
		decided := meta.FindStatusCondition(a.Status.Conditions, kubernautv1.ApprovalDecidedCondition)
		Expect(decided.Message).To(ContainSubstring("thresholds configmap "+ns+"/kubernaut-policies@"), "the decision names the thresholds' version")
	})

	DescribeTable("fails the analysis, naming the key, when a threshold in the policy ConfigMap is not valid",
		func(ctx SpecContext, data map[string]string, want string) {
			ns := newNamespace(ctx)
			startAnalysis(ctx, ns, rules.New())
			Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"}, Data: data})).To(Succeed())
			a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
			Expect(a.Status.Phase).To(Equal(kubernautv1.AnalysisFailed))
			Expect(a.Status.Approval).To(BeNil(), "no decision, so no auto-approval")
			Expect(meta.FindStatusCondition(a.Status.Conditions, kubernautv1.ReadyCondition).Message).To(ContainSubstring(want))
		},
		Entry("not a number", map[string]string{aianalysis.AutoApproveThresholdKey: "high"}, `key autoApproveThreshold: "high" is not a confidence between 0 and 1`),
		Entry("above 1", map[string]string{aianalysis.RejectThresholdKey: "1.5"}, `key rejectThreshold: "1.5" is not a confidence between 0 and 1`),
		Entry("auto below reject", map[string]string{aianalysis.AutoApproveThresholdKey: "0.5", aianalysis.RejectThresholdKey: "0.6"}, "autoApproveThreshold 0.50 is below rejectThreshold 0.60"),
	)

	It("lowers its confidence when the same action kept failing for the same signal type", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		for i, phase := range []kubernautv1.RemediationPhase{kubernautv1.RemediationPhaseCompleted, kubernautv1.RemediationPhaseFailed, kubernautv1.RemediationPhaseFailed} {
			past := gen.RemediationRequest(ns, fmt.Sprintf("rr-past-%d", i))
			Expect(k8s.Create(ctx, past)).To(Succeed())
			before := past.DeepCopy()
			done := metav1.NewTime(time.Now().Add(-time.Duration(i+1) * time.Hour))
			past.Status = kubernautv1.RemediationRequestStatus{Phase: phase, CompletedAt: &done, SignalType: "crashloop",
				Actions: []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}, WorkflowExecutionRef: &kubernautv1.LocalReference{Name: kubernautv1.WorkflowName(past.Name)}}
			Expect(k8s.Status().Patch(ctx, past, client.MergeFrom(before))).To(Succeed())
		}
		startAnalysis(ctx, ns, rules.New())
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
		Expect(a.Status.ConfidenceAdjustments).To(ConsistOf(And(
			HaveField("Reason", "1 of 3 recent crashloop remediations with rollback_deployment were verified successful"),
			HaveField("Delta", BeNumerically("<", -0.1)))))
		Expect(a.Status.RootCause.Confidence).To(BeNumerically("~", 0.92-0.175, 0.01))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual), "the same plan was Auto without this history")
	})

	It("falls back to the rules when the AI fails, and never auto-approves a fallback", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startAnalysis(ctx, ns, scripted{answer: func(*kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
			return nil, errors.New("POST /api/chat: 503 Service Unavailable")
		}})
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
		Expect(a.Status.Phase).To(Equal(kubernautv1.AnalysisCompleted))
		Expect(a.Status.Fallback).To(BeTrue())
		Expect(a.Status.Analyzer).To(Equal(kubernautv1.AnalyzerRules))
		Expect(a.Status.FallbackReason).To(ContainSubstring("503 Service Unavailable"))
		Expect(meta.FindStatusCondition(a.Status.Conditions, kubernautv1.InvestigatedCondition).Reason).To(Equal(kubernautv1.ReasonFallback))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual))
		Expect(a.Status.Approval.Reasons).To(ContainElement(ContainSubstring("a fallback never auto-approves")))
	})

	It("gives up on an analyzer at --analysis-timeout mid-call and falls back to the rules, which never auto-approve", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startAnalysis(ctx, ns, hanging{}, func(r *aianalysis.Reconciler) { r.Timeout = 2 * time.Second })
		start := time.Now()
		a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
		Expect(time.Since(start)).To(BeNumerically(">=", 2*time.Second), "the call ran until its timeout")
		Expect(a.Status.Phase).To(Equal(kubernautv1.AnalysisCompleted))
		Expect(a.Status.Fallback).To(BeTrue())
		Expect(a.Status.Analyzer).To(Equal(kubernautv1.AnalyzerRules))
		Expect(a.Status.FallbackReason).To(ContainSubstring("context deadline exceeded"))
		Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual), "a fallback never auto-approves, even in staging")
	})

	DescribeTable("rejects an untrusted recommendation, naming each problem",
		func(ctx SpecContext, plan func(ns string) []kubernautv1.PlanStep, problems ...string) {
			ns := newNamespace(ctx)
			startAnalysis(ctx, ns, scripted{answer: func(*kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
				return &aianalysis.Result{
					RootCause:      kubernautv1.RootCause{Summary: "the AI is sure", Confidence: 0.99},
					Recommendation: kubernautv1.Recommendation{Steps: plan(ns)},
					Raw:            `{"steps": "…"}`,
				}, nil
			}})
			a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
			Expect(a.Status.Phase).To(Equal(kubernautv1.AnalysisRejected))
			for _, p := range problems {
				Expect(a.Status.ValidationErrors).To(ContainElement(ContainSubstring(p)))
			}
			Expect(a.Status.Recommendation.Steps).To(BeEmpty(), "nothing invalid is kept as a plan")
			Expect(a.Status.RawResponse).To(Equal(`{"steps": "…"}`), "the raw answer is kept for audit")
			Expect(a.Status.Approval).To(BeNil())
		},
		Entry("an action outside the catalog", func(ns string) []kubernautv1.PlanStep {
			return []kubernautv1.PlanStep{step("shell", "exec_shell", kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}, nil)}
		}, `steps[0] (shell): action "exec_shell" is not in the catalog`),
		Entry("a target outside the remediation", func(string) []kubernautv1.PlanStep {
			return []kubernautv1.PlanStep{step("restart", kubernautv1.ActionRestartDeployment, kubernautv1.Target{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}, nil)}
		}, "target Deployment/kube-system/coredns is outside the remediation"),
		Entry("parameters out of their schema", func(ns string) []kubernautv1.PlanStep {
			return []kubernautv1.PlanStep{step("scale", kubernautv1.ActionScaleDeployment, kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"},
				&kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 5000}})}
		}, "parameters.scaleDeployment.replicas: Invalid value: 5000: spec.parameters.scaleDeployment.replicas in body should be less than or equal to 1000"),
		Entry("an action on the wrong kind of target", func(ns string) []kubernautv1.PlanStep {
			return []kubernautv1.PlanStep{step("drain", kubernautv1.ActionDrainNode, kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}, nil)}
		}, "drain_node does not apply to a Deployment"),
		Entry("a dependency cycle", func(ns string) []kubernautv1.PlanStep {
			d := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}
			return []kubernautv1.PlanStep{
				step("a", kubernautv1.ActionRestartDeployment, d, nil, "b"),
				step("b", kubernautv1.ActionRollbackDeployment, d, &kubernautv1.ActionParameters{RollbackDeployment: &kubernautv1.RollbackDeploymentParameters{}}, "a"),
			}
		}, "in a cycle: a → b → a"),
		Entry("a step name the API would refuse", func(ns string) []kubernautv1.PlanStep {
			return []kubernautv1.PlanStep{step("Roll Back!", kubernautv1.ActionRestartDeployment, kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}, nil)}
		}, "steps[0] (Roll Back!): the name must be a DNS label of at most 40 characters"),
		Entry("too many steps", func(ns string) []kubernautv1.PlanStep {
			d := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}
			var s []kubernautv1.PlanStep
			for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
				s = append(s, step(n, kubernautv1.ActionRestartDeployment, d, nil))
			}
			return s
		}, "6 steps, more than the limit of 5"),
	)
})

var _ = Describe("The AIAnalysis controller with HolmesGPT", func() {
	answer := func(steps string) string {
		return `{"rootCause": {"summary": "the AI found something", "confidence": 0.97}, "steps": ` + steps + `}`
	}
	DescribeTable("never turns what HolmesGPT says into an unsafe plan",
		func(ctx SpecContext, fake *holmes.Fake, phase kubernautv1.AnalysisPhase, check func(*kubernautv1.AIAnalysis)) {
			fake.T = GinkgoT()
			ns := newNamespace(ctx)
			fake.Answer = strings.ReplaceAll(fake.Answer, `"NS"`, `"`+ns+`"`)
			srv := fake.Start()
			hc, err := holmesgpt.New(holmesgpt.Config{URL: srv.URL, Attempts: 2, RetryBase: 10 * time.Millisecond, BreakerThreshold: 5, BreakerCooldown: time.Minute})
			Expect(err).NotTo(HaveOccurred())
			startAnalysis(ctx, ns, hc)
			a := waitAnalysis(ctx, newAnalysis(ctx, ns, "staging"))
			Expect(a.Status.Phase).To(Equal(phase), "%v", a.Status.Conditions)
			check(a)
		},
		Entry("an action outside the catalog", &holmes.Fake{Answer: answer(`[{"name": "fix", "action": "exec_shell", "target": {"kind": "Pod", "namespace": "x", "name": "y"}}]`)},
			kubernautv1.AnalysisRejected, func(a *kubernautv1.AIAnalysis) {
				Expect(a.Status.ValidationErrors).To(ContainElement(ContainSubstring(`"exec_shell" is not in the catalog`)))
			}),
		Entry("parameters out of schema", &holmes.Fake{Answer: answer(`[{"name": "scale", "action": "scale_deployment", "target": {"kind": "Deployment", "namespace": "NS", "name": "checkout"}, "parameters": {"scaleDeployment": {"replicas": 5000}}}]`)},
			kubernautv1.AnalysisRejected, func(a *kubernautv1.AIAnalysis) {
				Expect(a.Status.ValidationErrors).To(ContainElement(ContainSubstring("should be less than or equal to 1000")))
			}),
		Entry("an alert's prompt injection obeyed: drain a node the remediation never saw", &holmes.Fake{Answer: answer(`[{"name": "drain", "action": "drain_node", "target": {"kind": "Node", "name": "control-plane-1"}}]`)},
			kubernautv1.AnalysisRejected, func(a *kubernautv1.AIAnalysis) {
				Expect(a.Status.ValidationErrors).To(ContainElement(ContainSubstring("target Node/control-plane-1 is outside the remediation")))
				Expect(a.Status.Approval).To(BeNil())
			}),
		Entry("its LLM's key rejected (401): the rules answer, and a person approves", &holmes.Fake{Reply: func(int, string, map[string]any) (int, string) {
			return 401, `{"detail":"AuthenticationError: invalid x-api-key"}`
		}}, kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) {
			Expect(a.Status.Fallback).To(BeTrue())
			Expect(a.Status.FallbackReason).To(ContainSubstring("LLM provider rejected its API key"))
			Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalManual))
		}),
		Entry("malformed JSON: the rules answer", &holmes.Fake{Answer: "Restart it, I guess."},
			kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) {
				Expect(a.Status.Fallback).To(BeTrue())
				Expect(a.Status.FallbackReason).To(ContainSubstring("not the requested JSON"))
			}),
		Entry("a valid plan on the remediation's workload", &holmes.Fake{Answer: answer(`[{"name": "rollback", "action": "rollback_deployment", "target": {"kind": "Deployment", "namespace": "NS", "name": "checkout"}, "parameters": {"rollbackDeployment": {}}}]`)},
			kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) {
				Expect(a.Status.Analyzer).To(Equal(kubernautv1.AnalyzerHolmesGPT))
				Expect(a.Status.Fallback).To(BeFalse())
				Expect(a.Status.Approval.Mode).To(Equal(kubernautv1.ApprovalAuto))
			}),
	)
})
