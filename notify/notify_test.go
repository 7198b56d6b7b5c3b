package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func cond(typ string, status metav1.ConditionStatus, reason, msg string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(at)}
}

// awaiting is a remediation whose one-step plan waits for a second approval.
func awaiting() (*kubernautv1.RemediationRequest, *kubernautv1.WorkflowExecution) {
	we := gen.WorkflowExecution("kubernaut-system", "rr-1-we", func(we *kubernautv1.WorkflowExecution) {
		we.Spec.Target = gen.DeploymentTarget()
		we.Spec.Quorum = &kubernautv1.Quorum{Approvers: 2}
		we.Status.Plan = &kubernautv1.Plan{Hash: "abc123", Steps: []kubernautv1.PlannedStep{{Name: "rollback", Action: kubernautv1.ActionRollbackDeployment,
			Target: gen.DeploymentTarget(), Policy: kubernautv1.PolicyVerdict{Allowed: true},
			DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "- image: v8\n+ image: v7"}}}}
		we.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, PlanHash: "abc123",
			Approvers: []kubernautv1.Approver{{User: "alice", At: metav1.NewTime(now)}}}
		we.Status.Conditions = []metav1.Condition{cond(kubernautv1.ApprovedCondition, metav1.ConditionUnknown, kubernautv1.ReasonAwaitingApproval, "waiting", now.Add(-time.Minute))}
		we.Status.Phase = kubernautv1.WorkflowAwaitingApproval
		we.Status.WorkflowRef = &kubernautv1.WorkflowReference{Namespace: "kubernaut-system", Name: "rr-1-we-x7",
			UIURL: "https://argo.example.com/workflows/kubernaut-system/rr-1-we-x7?uid=u1"}
	})
	rr := gen.RemediationRequest("kubernaut-system", "rr-1", func(rr *kubernautv1.RemediationRequest) {
		rr.Status.Phase = kubernautv1.RemediationPhaseAwaitingApproval
		rr.Status.RootCause = "revision 8 crashes on start; revision 7 served"
		rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: we.Name}
	})
	return rr, we
}

func TestDesired(t *testing.T) {
	o := Options{Namespace: "kubernaut-system"}

	rr, we := awaiting()
	got := Desired(rr, we, o, now)
	if len(got) != 1 {
		t.Fatalf("awaiting approval: %d alerts, want 1: %+v", len(got), got)
	}
	a := got[0]
	for k, v := range map[string]string{"alertname": ApprovalRequired, "severity": "warning", "namespace": "shop", "target_kind": "Deployment",
		"target_name": "checkout", LabelSourceAlertname: "KubePodCrashLooping", LabelSourceSeverity: "critical", LabelRemediation: "rr-1", LabelRemediationNamespace: "kubernaut-system"} {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	for k, want := range map[string]string{
		"approve":              "kubectl kubernaut approve rr-1 -n kubernaut-system",
		"approve_with_kubectl": "kubectl -n kubernaut-system annotate workflowexecution rr-1-we kubernaut.io/approve=abc123",
		"steps":                "1. rollback_deployment on Deployment/shop/checkout — policy allowed; dry run succeeded: - image: v8 + image: v7",
		"plan_hash":            "abc123",
		"quorum":               "1 of 2 approvals",
		"root_cause":           "revision 8 crashes on start; revision 7 served",
	} {
		if a.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, a.Annotations[k], want)
		}
	}
	if !strings.Contains(a.Annotations["summary"], "waits for approval: rollback_deployment") {
		t.Errorf("summary %q", a.Annotations["summary"])
	}
	if a.GeneratorURL != "https://argo.example.com/workflows/kubernaut-system/rr-1-we-x7?uid=u1" || !a.StartsAt.Equal(now.Add(-time.Minute)) {
		t.Errorf("link %q, startsAt %s", a.GeneratorURL, a.StartsAt)
	}

	rr.Status.Phase = kubernautv1.RemediationPhaseExecuting
	started := metav1.NewTime(now)
	we.Status.StartedAt = &started
	got = Desired(rr, we, o, now)
	if len(got) != 1 || got[0].Labels["alertname"] != Remediating {
		t.Fatalf("executing: %+v, want one %s", got, Remediating)
	}
	// The source alert's labels, for inhibit rules; Kubernaut's own win.
	if r := got[0]; r.Labels["pod"] != "checkout-7d9f8b6c5-x2k4q" || r.Labels["namespace"] != "shop" || r.Labels["severity"] != "info" || !r.StartsAt.Equal(now) {
		t.Errorf("remediating: labels %v, startsAt %s", r.Labels, r.StartsAt)
	}

	rr.Status.Phase = kubernautv1.RemediationPhaseCompleted
	if got := Desired(rr, we, o, now); len(got) != 0 {
		t.Errorf("completed: %+v, want none", got)
	}

	rr.Status.Phase = kubernautv1.RemediationPhaseFailed
	ended := metav1.NewTime(now.Add(-time.Hour))
	rr.Status.CompletedAt = &ended
	rr.Status.Conditions = []metav1.Condition{cond(kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, "verification failed: 0 of 2 ready", now)}
	we.Status.Conditions = append(we.Status.Conditions, cond(kubernautv1.CompensatedCondition, metav1.ConditionFalse, kubernautv1.ReasonCompensationFailed, "undo-rollback failed", now))
	got = Desired(rr, we, o, now)
	if len(got) != 2 || got[0].Labels["alertname"] != RemediationFailed || got[1].Labels["alertname"] != CompensationFailed {
		t.Fatalf("failed, undo failed: %+v, want %s and %s", got, RemediationFailed, CompensationFailed)
	}
	if got[0].Annotations["message"] != "verification failed: 0 of 2 ready" || got[1].Labels["severity"] != "critical" {
		t.Errorf("failed: %+v", got)
	}
	// A person released the undo: no more CompensationFailed; hours later, no more
	// RemediationFailed.
	we.Annotations = map[string]string{kubernautv1.ReleaseUndoAnnotation: "restored by hand"}
	if got := Desired(rr, we, o, now.Add(2*time.Hour+59*time.Minute)); len(got) != 1 || got[0].Labels["alertname"] != RemediationFailed {
		t.Errorf("released, 3 h 59 min after the failure: %+v, want RemediationFailed only", got)
	}
	if got := Desired(rr, we, o, now.Add(3*time.Hour)); len(got) != 0 {
		t.Errorf("4 h after the failure: %+v, want none", got)
	}
}

// recorder is a sink that keeps every post, and fails while fail is set.
type recorder struct {
	mu    sync.Mutex
	posts [][]Alert
	fail  bool
}

func (r *recorder) Post(_ context.Context, alerts []Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("connection refused")
	}
	r.posts = append(r.posts, append([]Alert(nil), alerts...))
	return nil
}

func (r *recorder) take() [][]Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.posts
	r.posts = nil
	return out
}

// The notifier posts what is new at once, nothing while nothing changed, again before endsAt,
// a change at once, a resolution when the situation ends; a failed post is posted again.
func TestSync(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rr, we := awaiting()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rr, we).WithStatusSubresource(rr, we).Build()
	clock := now
	sink := &recorder{}
	recorder := events.NewFakeRecorder(10)
	n := &Notifier{Reader: c, Sink: sink, Options: Options{Namespace: "kubernaut-system"}, Interval: time.Minute, Now: func() time.Time { return clock }, Events: recorder}
	ctx := context.Background()
	sync := func() {
		t.Helper()
		if err := n.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}

	sync()
	posts := sink.take()
	if len(posts) != 1 || len(posts[0]) != 1 || posts[0][0].Labels["alertname"] != ApprovalRequired || !posts[0][0].EndsAt.Equal(clock.Add(3*time.Minute)) {
		t.Fatalf("first sync: %+v, want ApprovalRequired ending in 3 intervals", posts)
	}
	clock = clock.Add(30 * time.Second)
	sync()
	if posts := sink.take(); len(posts) != 0 {
		t.Errorf("nothing changed: %+v, want no post", posts)
	}
	clock = clock.Add(30 * time.Second)
	sync()
	if posts := sink.take(); len(posts) != 1 || !posts[0][0].EndsAt.Equal(clock.Add(3*time.Minute)) {
		t.Errorf("an interval later: %+v, want it posted again", posts)
	}

	// The second approval: the plan runs.
	update := func(mod func(*kubernautv1.RemediationRequest)) {
		t.Helper()
		got := &kubernautv1.RemediationRequest{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rr), got); err != nil {
			t.Fatal(err)
		}
		mod(got)
		if err := c.Status().Update(ctx, got); err != nil {
			t.Fatal(err)
		}
	}
	update(func(rr *kubernautv1.RemediationRequest) { rr.Status.Phase = kubernautv1.RemediationPhaseExecuting })
	sink.fail = true
	for range 2 {
		clock = clock.Add(time.Second)
		if err := n.Sync(ctx); err == nil {
			t.Fatal("a failed post is an error (tried again)")
		}
	}
	if got := len(recorder.Events); got != 1 {
		t.Errorf("%d NotificationFailed events for two failed posts, want one until a post succeeds", got)
	} else if e := <-recorder.Events; !strings.Contains(e, "NotificationFailed") || !strings.Contains(e, "connection refused") {
		t.Errorf("event %q", e)
	}
	sink.fail = false
	sync()
	posts = sink.take()
	if len(posts) != 1 || len(posts[0]) != 2 {
		t.Fatalf("after the approval: %+v, want one post of two alerts", posts)
	}
	byName := map[string]Alert{}
	for _, a := range posts[0] {
		byName[a.Labels["alertname"]] = a
	}
	if a := byName[ApprovalRequired]; !a.EndsAt.Equal(clock) {
		t.Errorf("ApprovalRequired: %+v, want resolved now", a)
	}
	if a := byName[Remediating]; !a.EndsAt.After(clock) {
		t.Errorf("Remediating: %+v, want firing", a)
	}

	update(func(rr *kubernautv1.RemediationRequest) { rr.Status.Phase = kubernautv1.RemediationPhaseCompleted })
	clock = clock.Add(time.Second)
	sync()
	posts = sink.take()
	if len(posts) != 1 || len(posts[0]) != 1 || posts[0][0].Labels["alertname"] != Remediating || !posts[0][0].EndsAt.Equal(clock) {
		t.Fatalf("completed: %+v, want Remediating resolved", posts)
	}
	clock = clock.Add(5 * time.Minute)
	sync()
	if posts := sink.take(); len(posts) != 0 {
		t.Errorf("after the end: %+v, want nothing more", posts)
	}
}

// An alert leaves the cluster: its root cause and its steps' diffs (a ConfigMap's values) are
// redacted.
func TestAlertsAreRedacted(t *testing.T) {
	rr, we := awaiting()
	rr.Status.RootCause = "the app logs password=hunter2 and exits"
	we.Status.Plan.Steps[0].DryRun.Diff = "- DB_PASSWORD: hunter2\n+ DB_PASSWORD: s3cret-rotated"
	got := Desired(rr, we, Options{Namespace: "kubernaut-system"}, now)
	if len(got) != 1 {
		t.Fatalf("%+v", got)
	}
	for k, v := range got[0].Annotations {
		if strings.Contains(v, "hunter2") || strings.Contains(v, "s3cret-rotated") {
			t.Errorf("annotation %s carries a secret: %q", k, v)
		}
	}
}
