package workflowexecution

import (
	"fmt"
	"strings"
	"time"

	"github.com/Knetic/govaluate"
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/expr/argoexpr"
	"github.com/argoproj/argo-workflows/v3/workflow/common"
)

// dagNode is the builtin engine's view of one DAG task, as Argo's controller would record it.
type dagNode struct {
	phase   wfv1.NodePhase
	message string
}

// taskResults is the scope of a `depends` expression, field for field Argo's
// (workflow/controller/dag.go TaskResults).
type taskResults struct {
	Succeeded, Failed, Errored, Skipped, Omitted, Daemoned, AnySucceeded, AllFailed bool
}

// dagContext serves Argo's own dependency parsing (common.GetTaskDependencies).
type dagContext struct{ tasks []wfv1.DAGTask }

func (d dagContext) GetTask(name string) *wfv1.DAGTask {
	for i := range d.tasks {
		if d.tasks[i].Name == name {
			return &d.tasks[i]
		}
	}
	return nil
}

// GetTaskFinishedAtTime is unused by the dependency parsing.
func (d dagContext) GetTaskFinishedAtTime(string) time.Time { return time.Time{} }

func (d dagContext) GetTaskDependencies(name string) []string {
	deps, _ := common.GetTaskDependencies(d.GetTask(name), d)
	var out []string
	for k := range deps {
		out = append(out, k)
	}
	return out
}

// readiness says whether a task may be decided: proceed when every task it depends on is
// fulfilled; execute when its `depends` expression holds (Argo's evaluateDependsLogic).
func readiness(d dagContext, task *wfv1.DAGTask, nodes map[string]dagNode) (execute, proceed bool, err error) {
	deps, logic := common.GetTaskDependencies(task, d)
	if logic == "" {
		return true, true, nil
	}
	scope := map[string]taskResults{}
	for name := range deps {
		n, ok := nodes[name]
		if !ok || !fulfilled(n.phase) {
			return false, false, nil
		}
		scope[strings.ReplaceAll(name, "-", "_")] = taskResults{
			Succeeded: n.phase == wfv1.NodeSucceeded, Failed: n.phase == wfv1.NodeFailed, Errored: n.phase == wfv1.NodeError,
			Skipped: n.phase == wfv1.NodeSkipped, Omitted: n.phase == wfv1.NodeOmitted,
		}
	}
	ok, err := argoexpr.EvalBool(strings.ReplaceAll(logic, "-", "_"), scope)
	if err != nil {
		return false, true, fmt.Errorf("task %s: unable to evaluate depends %q: %w", task.Name, logic, err)
	}
	return ok, true, nil
}

func fulfilled(p wfv1.NodePhase) bool {
	return p.Completed() || p == wfv1.NodeSkipped || p == wfv1.NodeOmitted
}

// shouldExecute evaluates a `when` expression (already substituted) as Argo's controller
// does: govaluate, with bare words taken as strings.
func shouldExecute(when string) (bool, error) {
	if when == "" {
		return true, nil
	}
	expr, err := govaluate.NewEvaluableExpression(when)
	if err != nil {
		return false, fmt.Errorf("invalid 'when' expression %q: %w", when, err)
	}
	tokens := expr.Tokens()
	for i, tok := range tokens {
		if tok.Kind == govaluate.VARIABLE {
			tok.Kind = govaluate.STRING
			tokens[i] = tok
		}
	}
	expr, err = govaluate.NewEvaluableExpressionFromTokens(tokens)
	if err != nil {
		return false, fmt.Errorf("invalid 'when' expression %q: %w", when, err)
	}
	v, err := expr.Evaluate(nil)
	if err != nil {
		return false, fmt.Errorf("evaluating 'when' expression %q: %w", when, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("'when' expression %q is not a boolean", when)
	}
	return b, nil
}

// leaves are a DAG's target tasks: those no other task depends on.
func leaves(d dagContext) []string {
	depended := map[string]bool{}
	for _, t := range d.tasks {
		for _, dep := range d.GetTaskDependencies(t.Name) {
			depended[dep] = true
		}
	}
	var out []string
	for _, t := range d.tasks {
		if !depended[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out
}

// assess is a DAG's phase as Argo's assessDAGPhase decides it for the shapes the compiler
// emits: Running until every target task has a node; then Succeeded when no target is Failed
// or Errored, an Omitted or Skipped target inheriting the failure of its branch.
func assess(d dagContext, nodes map[string]dagNode) wfv1.NodePhase {
	for _, n := range nodes {
		if n.phase == wfv1.NodeRunning || n.phase == wfv1.NodePending {
			return wfv1.NodeRunning
		}
	}
	branch := wfv1.NodeSucceeded
	for _, n := range nodes {
		if n.phase.FailedOrError() && !branch.FailedOrError() {
			branch = n.phase
		}
	}
	result := wfv1.NodeSucceeded
	for _, name := range leaves(d) {
		n, ok := nodes[name]
		switch {
		case !ok:
			return wfv1.NodeRunning
		case n.phase.FailedOrError():
			result = n.phase
		case n.phase == wfv1.NodeOmitted || n.phase == wfv1.NodeSkipped:
			if branch.FailedOrError() {
				result = branch
			}
		}
	}
	return result
}
