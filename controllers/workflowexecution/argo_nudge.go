package workflowexecution

import (
	"context"
	"fmt"
	"strconv"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/packer"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Argo's controller can lose a write to a Workflow that it did not make itself. Argo v3.x
// writes its own copy of a Workflow back into its informer's store after each update
// (INFORMER_WRITE_BACK, on by default until v4.0: argoproj/argo-workflows#12352, #15079).
// When a resume (ours, or a person's `argo resume`) or a terminate lands in the milliseconds
// between Argo's update and that write-back, the store goes back to Argo's older copy; Argo
// processes the old copy (the gate still suspended), finds nothing to do, and no event ever
// brings the newer one back: the approval silently never takes effect, a rejected plan's
// Workflow keeps its locks. So the argo engine checks that Argo acted on such a write, and,
// when it has not after a while, nudges the Workflow: an annotation update, which reaches
// Argo's informer as a new event carrying the whole current object.

// Annotations of a Workflow the argo engine nudged.
const (
	// NudgedAtAnnotation is when the engine last nudged the Workflow (RFC 3339).
	NudgedAtAnnotation = "kubernaut.io/nudged-at"
	// NudgesAnnotation counts the engine's nudges of the Workflow.
	NudgesAnnotation = "kubernaut.io/nudges"
)

// DefaultRecheck is how long Argo's controller may take to act on a resume or a terminate
// before the engine nudges the Workflow: Argo handles an update after its requeue time
// (DEFAULT_REQUEUE_TIME, 10 s by default), so 30 s leaves it two more.
const DefaultRecheck = 30 * time.Second

// maxRecheck bounds the backoff between nudges of a Workflow Argo keeps ignoring (its
// controller down, say).
const maxRecheck = 5 * time.Minute

func (a *Argo) recheck() time.Duration {
	if a.Recheck > 0 {
		return a.Recheck
	}
	return DefaultRecheck
}

// unacted says what Argo's controller has yet to act on in wf, a copy with its nodes
// decompressed: a gate that was resumed while no task after it has started, or a terminate of
// a Workflow that has not ended; "" when there is nothing.
func unacted(wf *wfv1.Workflow) string {
	if wf.Status.Phase.Completed() {
		return ""
	}
	switch wf.Spec.Shutdown {
	case wfv1.ShutdownStrategyTerminate:
		return "the terminate (spec.shutdown " + string(wf.Spec.Shutdown) + ")"
	case "":
	default:
		// A Stop (a deleted plan) runs the exit hook for minutes; Argo missing it cannot start
		// a new step: the KubernetesExecution controller refuses every step of a deleted plan.
		return ""
	}
	gate := taskNode(wf, wf.Name, approveTask)
	if gate == nil || gate.Phase != wfv1.NodeSucceeded {
		return ""
	}
	for _, n := range wf.Status.Nodes {
		if n.Name != wf.Name && n.ID != gate.ID {
			return "" // a task after the gate started: Argo saw the resume
		}
	}
	return "the resumed approval gate"
}

// settle checks that Argo's controller acted on the last write it must act on, made at since
// (or at the last nudge, if later), and nudges the Workflow when it has not for the recheck
// time, doubling the wait after each nudge. It returns when to look again (0: nothing is
// pending) and, when it nudged, what for.
func (a *Argo) settle(ctx context.Context, wf *wfv1.Workflow, since time.Time) (time.Duration, string, error) {
	what := unacted(wf)
	if what == "" {
		return 0, "", nil
	}
	nudges, _ := strconv.Atoi(wf.Annotations[NudgesAnnotation])
	if t, err := time.Parse(time.RFC3339Nano, wf.Annotations[NudgedAtAnnotation]); err == nil && t.After(since) {
		since = t
	}
	wait := a.recheck() << min(nudges, 10)
	wait = min(wait, maxRecheck)
	if left := since.Add(wait).Sub(a.now()); left > 0 {
		return left, "", nil
	}
	var nudged string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		nudged = ""
		got := &wfv1.Workflow{}
		if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), got); err != nil {
			return client.IgnoreNotFound(err)
		}
		check := got.DeepCopy()
		if err := packer.DecompressWorkflow(check); err != nil {
			return err
		}
		if unacted(check) == "" {
			return nil // Argo acted meanwhile
		}
		n, _ := strconv.Atoi(got.Annotations[NudgesAnnotation])
		if got.Annotations == nil {
			got.Annotations = map[string]string{}
		}
		got.Annotations[NudgesAnnotation] = strconv.Itoa(n + 1)
		got.Annotations[NudgedAtAnnotation] = a.now().UTC().Format(time.RFC3339Nano)
		nudged = fmt.Sprintf("Argo's workflow-controller had not acted on %s of Workflow %s for %s: nudged it (nudge %d); "+
			"Argo before v4.0 can lose such an update while INFORMER_WRITE_BACK is on (its default): set INFORMER_WRITE_BACK=false on the workflow-controller",
			what, got.Name, a.now().Sub(since).Round(time.Second), n+1)
		return a.Client.Update(ctx, got, client.FieldOwner(FieldManager))
	})
	if err != nil {
		return 0, "", fmt.Errorf("nudging Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	if nudged == "" {
		return 0, "", nil
	}
	return min(a.recheck()<<min(nudges+1, 10), maxRecheck), nudged, nil
}
