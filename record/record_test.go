package record

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func cond(typ string, status metav1.ConditionStatus, d time.Duration) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: "R", Message: "m", LastTransitionTime: *at(d)}
}

// A remediation approved by two people whose rollback failed verification and was undone:
// everything a person asks afterwards is in its record, without the secret its analysis quoted.
func world() (*kubernautv1.RemediationRequest, *kubernautv1.AIAnalysis, *kubernautv1.WorkflowExecution, []*kubernautv1.KubernetesExecution) {
	rr := gen.RemediationRequest("kubernaut-system", "rr-1", func(rr *kubernautv1.RemediationRequest) {
		rr.UID = "u-1"
		rr.CreationTimestamp = metav1.NewTime(t0)
		rr.Spec.Deduplication.Count = 3
		rr.Spec.Target = gen.DeploymentTarget()
		rr.Status.Phase = kubernautv1.RemediationPhaseFailed
		rr.Status.SignalType = "crashloop"
		rr.Status.RootCause = "revision 8 crashes"
		rr.Status.CompletedAt = at(95 * time.Second)
		rr.Status.AIAnalysisRef = &kubernautv1.LocalReference{Name: "rr-1-ai"}
		rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: "rr-1-we"}
		rr.Status.Conditions = []metav1.Condition{{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: "Failed",
			Message: "verification failed; undone", LastTransitionTime: *at(95 * time.Second)}}
	})
	aia := gen.AIAnalysis("kubernaut-system", "rr-1-ai", func(a *kubernautv1.AIAnalysis) {
		a.Status.Analyzer = "holmesgpt"
		a.Status.RootCause = &kubernautv1.RootCause{Summary: "revision 8 logs password=hunter2 and crashes", Confidence: 0.91,
			Evidence: []kubernautv1.Evidence{{Source: "logs", Fact: "panic: nil map"}}}
	})
	we := gen.WorkflowExecution("kubernaut-system", "rr-1-we", func(we *kubernautv1.WorkflowExecution) {
		we.CreationTimestamp = metav1.NewTime(t0.Add(4 * time.Second))
		we.Spec.ApprovalMode = kubernautv1.ApprovalManual
		we.Status.Phase = kubernautv1.WorkflowFailed
		we.Status.Engine = kubernautv1.EngineBuiltin
		we.Status.Plan = &kubernautv1.Plan{Hash: "abc123", Steps: []kubernautv1.PlannedStep{{Name: "rollback", Action: kubernautv1.ActionRollbackDeployment,
			Target: gen.DeploymentTarget(), Policy: kubernautv1.PolicyVerdict{Allowed: true},
			DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "-  image: shop:v8\n+  image: shop:v7\n"}}}}
		we.Status.Conditions = []metav1.Condition{cond(kubernautv1.ValidatedCondition, metav1.ConditionTrue, 5*time.Second),
			cond(kubernautv1.ApprovedCondition, metav1.ConditionTrue, 65*time.Second)}
		we.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Approved", PlanHash: "abc123",
			DecidedBy: "user alice, user bob", DecidedAt: at(65 * time.Second),
			Approvers: []kubernautv1.Approver{{User: "alice", At: *at(30 * time.Second), Reason: "read the diff"}, {User: "bob", At: *at(65 * time.Second)}}}
		we.Status.StartedAt = at(66 * time.Second)
		we.Status.CompletedAt = at(94 * time.Second)
		we.Status.Steps = []kubernautv1.StepStatus{{Name: "rollback", Action: kubernautv1.ActionRollbackDeployment, Phase: kubernautv1.StepFailed,
			Message: "verification failed: 0 of 2 ready", KubernetesExecutionRef: &kubernautv1.LocalReference{Name: "rr-1-we-rollback"},
			StartedAt: at(66 * time.Second), FinishedAt: at(86 * time.Second)}}
		we.Status.Compensation = []kubernautv1.StepStatus{{Name: "undo-rollback", Action: kubernautv1.ActionRollbackDeployment, Phase: kubernautv1.StepSucceeded,
			KubernetesExecutionRef: &kubernautv1.LocalReference{Name: "rr-1-we-undo-rollback"}, StartedAt: at(87 * time.Second), FinishedAt: at(93 * time.Second)}}
	})
	ke := gen.KubernetesExecution("kubernaut-system", "rr-1-we-rollback", func(ke *kubernautv1.KubernetesExecution) {
		ke.Spec.Target = gen.DeploymentTarget()
		ke.Status.Verification = &kubernautv1.Verification{Result: "Failed", Message: "0 of 2 replicas ready after 20s"}
		ke.Status.PreState = &kubernautv1.PreState{Revision: ptr.To[int64](8), ReplicaSet: "checkout-v8", TargetReplicaSet: "checkout-v7", ResourceVersion: "812"}
	})
	undo := gen.KubernetesExecution("kubernaut-system", "rr-1-we-undo-rollback", func(ke *kubernautv1.KubernetesExecution) {
		ke.Spec.Target = gen.DeploymentTarget()
	})
	return rr, aia, we, []*kubernautv1.KubernetesExecution{ke, undo}
}

func TestRead(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rr, aia, we, kes := world()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(aia, we, kes[0], kes[1]).Build()
	got, err := Read(context.Background(), c, rr)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "hunter2") {
		t.Errorf("the record carries the secret the analysis quoted: %s", raw)
	}
	if got.Outcome != kubernautv1.RemediationPhaseFailed || got.Message != "verification failed; undone" || got.Classification != "crashloop" ||
		got.Signal.Deliveries != 3 || got.Target != "Deployment/shop/checkout" {
		t.Errorf("head of the record: %s", raw)
	}
	if a := got.Analysis; a == nil || a.Analyzer != "holmesgpt" || a.Confidence != 0.91 || !strings.Contains(a.RootCause, "password=[REDACTED]") ||
		len(a.Evidence) != 1 || a.Evidence[0] != "logs: panic: nil map" {
		t.Errorf("analysis %+v", got.Analysis)
	}
	p := got.Plan
	if p == nil {
		t.Fatalf("no plan: %s", raw)
	}
	if p.Hash != "abc123" || p.Engine != "builtin" || p.Approval.Decision != "Approved" || len(p.Approval.Approvers) != 2 ||
		p.Approval.Approvers[0] != (Approver{User: "alice", At: t0.Add(30 * time.Second), Reason: "read the diff"}) {
		t.Errorf("plan and approval %+v", p)
	}
	want := Step{Name: "rollback", Action: "rollback_deployment", Target: "Deployment/shop/checkout", Policy: "allowed",
		DryRun: "Succeeded: - image: shop:v8 + image: shop:v7", Phase: "Failed", Message: "verification failed: 0 of 2 ready",
		PreState:     "revision 8, ReplicaSet checkout-v8, restoring ReplicaSet checkout-v7, at resourceVersion 812",
		Verification: "Failed: 0 of 2 replicas ready after 20s", Seconds: 20}
	if len(p.Steps) != 1 || p.Steps[0] != want {
		t.Errorf("steps\n got %+v\nwant %+v", p.Steps, want)
	}
	if len(p.Undo) != 1 || p.Undo[0] != (Step{Name: "undo-rollback", Action: "rollback_deployment", Target: "Deployment/shop/checkout", Phase: "Succeeded", Seconds: 6}) {
		t.Errorf("undo %+v", p.Undo)
	}
	if p.Verification == nil || *p.Verification != (Verification{Result: "Failed", Message: "rollback: 0 of 2 replicas ready after 20s"}) {
		t.Errorf("verification %+v", p.Verification)
	}
	if got.Durations != (Durations{Total: 95, ToPlan: 4, AwaitingApproval: 60, Execution: 28}) {
		t.Errorf("durations %+v", got.Durations)
	}

	// The children gone (their retention ran out): what the remediation itself says.
	bare, err := Read(context.Background(), fake.NewClientBuilder().WithScheme(scheme).Build(), rr)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Plan != nil || bare.Analysis == nil || bare.Analysis.RootCause != "revision 8 crashes" || bare.Durations.Total != 95 {
		t.Errorf("without children: %+v", bare)
	}
}

func TestPreState(t *testing.T) {
	for _, tc := range []struct {
		ps   *kubernautv1.PreState
		want string
	}{
		{nil, ""},
		{&kubernautv1.PreState{Replicas: ptr.To[int32](2)}, "replicas 2"},
		{&kubernautv1.PreState{ConfigData: map[string]string{"b": "2", "a": "1"}}, "data {a=1, b=2}"},
		{&kubernautv1.PreState{MemoryLimits: map[string]resource.Quantity{"app": resource.MustParse("256Mi")}}, "memory limits {app=256Mi}"},
		{&kubernautv1.PreState{Unschedulable: ptr.To(false)}, "unschedulable false"},
		{&kubernautv1.PreState{MinReplicas: ptr.To[int32](1), MaxReplicas: ptr.To[int32](4)}, "minReplicas 1, maxReplicas 4"},
		{&kubernautv1.PreState{UID: "p-1", ReplicaSet: "web-1"}, "ReplicaSet web-1"},
		{&kubernautv1.PreState{UID: "p-1"}, "uid p-1"},
	} {
		if got := PreState(tc.ps); got != tc.want {
			t.Errorf("PreState(%+v) = %q, want %q", tc.ps, got, tc.want)
		}
	}
}
