package workflowexecution

import (
	"context"
	"errors"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// Progress is an engine's account of a run: the step and compensation nodes, and where the
// Workflow stands.
type Progress struct {
	// Main is the phase of the plan's DAG (Running, Succeeded, Failed, Error).
	Main wfv1.NodePhase
	// Exit is the phase of the exit hook's DAG ("" before it starts).
	Exit wfv1.NodePhase
	// Steps are the plan's step nodes, in plan order.
	Steps []kubernautv1.StepStatus
	// Compensation are the exit hook's nodes that ran, in the order they ran: the newest step's
	// undo first.
	Compensation []kubernautv1.StepStatus
	// Workflow points at the Argo Workflow (argo engine).
	Workflow *kubernautv1.WorkflowReference
	// Failures name every failed or errored node with its message, the plan's and the exit
	// hook's.
	Failures []string
	// Waiting says why a plan that has not started waits (a full semaphore); "" when it runs.
	Waiting string
	// Recheck is when to look again even if nothing changes (the argo engine waits for Argo's
	// controller to act on a resume); 0 for the usual resync.
	Recheck time.Duration
	// Nudged says why the engine nudged Argo's controller in this call; "" when it did not.
	Nudged string
}

// errWorkflowGone: the Workflow of a deleted plan was deleted before it (a foreground or a
// namespace deletion); the builtin engine finishes its stop and its undo.
var errWorkflowGone = errors.New("the plan's Workflow is gone")

// Engine runs a compiled Workflow.
type Engine interface {
	// Advance starts the Workflow or moves it on, and reports its progress.
	Advance(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Progress, error)
}

// Gate is an engine whose Workflow holds a Manual plan at its own approval gate: the Workflow
// exists before the approval, so that a person can resume it (`argo resume`, the Argo UI), and
// a resume of the gate is an approval of the plan the Workflow was compiled from.
type Gate interface {
	// Await creates the Workflow when it does not exist and reports who resumed its approval
	// gate (the zero Resume while it waits).
	Await(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Resume, error)
	// Reject stops the Workflow of a refused plan before anything ran. It is called again while
	// the plan stays refused, until it reports no recheck: the Workflow has ended or is gone.
	// nudged says why it nudged the engine's controller in this call ("" when it did not).
	Reject(ctx context.Context, we *kubernautv1.WorkflowExecution) (recheck time.Duration, nudged string, err error)
}

// Resume is a person's resume of a plan's approval gate in the engine (`argo resume`).
type Resume struct {
	// By describes who resumed it, for the record ("argo resume by user alice"); "" while
	// the gate waits.
	By string
	// User is the identity the API server vouched for ("" when it did not): the one counted
	// against the quorum and the separation of duties.
	User string
}

// failPlan is an error no retry can cure — the templates in the cluster do not match, a
// Workflow of another plan holds the name: the plan fails with it as the reason.
func failPlan(format string, args ...any) error { return terminal.Errorf(format, args...) }

// undoOrder is the order the exit hook undoes the steps in, as the compiler emits the undo
// tasks: the dependency order reversed, the newest step first.
func undoOrder(steps []kubernautv1.PlanStep) []kubernautv1.PlanStep {
	order, err := topoOrder(steps)
	if err != nil {
		order = steps // a plan with a cycle never compiles, so never runs
	}
	out := make([]kubernautv1.PlanStep, 0, len(order))
	for i := len(order) - 1; i >= 0; i-- {
		out = append(out, order[i])
	}
	return out
}
