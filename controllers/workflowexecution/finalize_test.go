package workflowexecution

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// A deleted plan goes at once when nothing ran, when it ended, or when a person lets it go
// after a failed undo; otherwise it waits, and never past its bound.
func TestDeleted(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	deletedAgo := func(d time.Duration) func(*kubernautv1.WorkflowExecution) {
		return func(we *kubernautv1.WorkflowExecution) {
			at := metav1.NewTime(now.Add(-d))
			we.DeletionTimestamp = &at
			we.Finalizers = []string{kubernautv1.UndoFinalizer}
		}
	}
	cond := func(typ string, status metav1.ConditionStatus, reason string) func(*kubernautv1.WorkflowExecution) {
		return func(we *kubernautv1.WorkflowExecution) {
			we.Status.Conditions = append(we.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: reason})
		}
	}
	started := func(we *kubernautv1.WorkflowExecution) {
		at := metav1.NewTime(now.Add(-time.Hour))
		we.Status.StartedAt = &at
		cond(kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonAutoApproved)(we)
	}
	phase := func(p kubernautv1.WorkflowPhase) func(*kubernautv1.WorkflowExecution) {
		return func(we *kubernautv1.WorkflowExecution) { we.Status.Phase = p }
	}
	undoFailed := cond(kubernautv1.CompensatedCondition, metav1.ConditionFalse, kubernautv1.ReasonCompensationFailed)
	released := func(we *kubernautv1.WorkflowExecution) {
		we.Annotations = map[string]string{kubernautv1.ReleaseUndoAnnotation: "web restored by hand", kubernautv1.DecidedByAnnotation: "alice"}
	}
	// Two steps: the bound is the 30m deadline and 10m per step to undo.
	r := &Reconciler{Compile: CompileOptions{ActiveDeadline: 30 * time.Minute}}
	twoSteps := func(we *kubernautv1.WorkflowExecution) { we.Spec.Steps = append(we.Spec.Steps, gen.RollbackStep()) }
	for name, tc := range map[string]struct {
		mods    []func(*kubernautv1.WorkflowExecution)
		release bool
		reason  string
		left    time.Duration
	}{
		"waiting for its approval":     {mods: []func(*kubernautv1.WorkflowExecution){deletedAgo(0), phase(kubernautv1.WorkflowAwaitingApproval)}, release: true, reason: releaseSettled},
		"approved, waiting for a slot": {mods: []func(*kubernautv1.WorkflowExecution){deletedAgo(0), cond(kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonAutoApproved)}, release: true, reason: releaseSettled},
		"running":                      {mods: []func(*kubernautv1.WorkflowExecution){twoSteps, deletedAgo(time.Minute), started, phase(kubernautv1.WorkflowRunning)}, left: 49 * time.Minute},
		"undone":                       {mods: []func(*kubernautv1.WorkflowExecution){deletedAgo(time.Minute), started, phase(kubernautv1.WorkflowFailed), cond(kubernautv1.CompensatedCondition, metav1.ConditionTrue, kubernautv1.ReasonCompensationSucceeded)}, release: true, reason: releaseSettled},
		"completed before the delete":  {mods: []func(*kubernautv1.WorkflowExecution){deletedAgo(time.Minute), started, phase(kubernautv1.WorkflowCompleted)}, release: true, reason: releaseSettled},
		"its undo failed":              {mods: []func(*kubernautv1.WorkflowExecution){twoSteps, deletedAgo(time.Minute), started, phase(kubernautv1.WorkflowFailed), undoFailed}, left: 49 * time.Minute},
		"a person let it go":           {mods: []func(*kubernautv1.WorkflowExecution){deletedAgo(time.Minute), started, phase(kubernautv1.WorkflowFailed), undoFailed, released}, release: true, reason: releasePerson},
		"past its bound, still running": {mods: []func(*kubernautv1.WorkflowExecution){twoSteps, deletedAgo(50 * time.Minute), started, phase(kubernautv1.WorkflowCompensating)},
			release: true, reason: releaseDeadline},
	} {
		t.Run(name, func(t *testing.T) {
			we := gen.WorkflowExecution("kubernaut-system", "rr-1-we", tc.mods...)
			release, reason, why, left := r.deleted(we, now)
			if release != tc.release || reason != tc.reason || left != tc.left {
				t.Fatalf("deleted = %v %q %q, left %s; want %v %q, left %s", release, reason, why, left, tc.release, tc.reason, tc.left)
			}
			if release && why == "" {
				t.Fatal("let go without saying why")
			}
		})
	}
}

// Adding the undo finalizer keeps what the reconcile decided and has not written yet: the API
// server's answer to the metadata patch carries the stored status, which once replaced the
// plan's validation and approval (the plan was then dry-run and granted a second time).
func TestHoldForUndoKeepsTheStatus(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	stored := gen.WorkflowExecution("kubernaut-system", "plan-1")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(stored).WithStatusSubresource(stored).Build()
	we := &kubernautv1.WorkflowExecution{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(stored), we); err != nil {
		t.Fatal(err)
	}
	kubernautv1.SetCondition(&we.Status.Conditions, we.Generation, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonPlanValid, "valid")
	kubernautv1.SetCondition(&we.Status.Conditions, we.Generation, kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonAutoApproved, "approved")
	we.Status.Plan = &kubernautv1.Plan{Hash: "h"}
	want := we.Status.DeepCopy()
	r := &Reconciler{Client: c}
	if err := r.holdForUndo(context.Background(), we); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(*want, we.Status) {
		t.Errorf("the status after adding the finalizer:\n%+v\nwant what the reconcile decided:\n%+v", we.Status, *want)
	}
	got := &kubernautv1.WorkflowExecution{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(stored), got); err != nil {
		t.Fatal(err)
	}
	if !controllerutil.ContainsFinalizer(got, kubernautv1.UndoFinalizer) || got.ResourceVersion != we.ResourceVersion {
		t.Errorf("stored finalizers %v (resourceVersion %s, in hand %s), want %s", got.Finalizers, got.ResourceVersion, we.ResourceVersion, kubernautv1.UndoFinalizer)
	}
}
