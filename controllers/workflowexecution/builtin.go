package workflowexecution

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argotemplate "github.com/argoproj/argo-workflows/v3/util/template"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// Builtin runs compiled Workflows in-process, as Argo's controller would: the same DAG, its
// `depends` and `when` evaluated with Argo's own evaluators, templateRefs resolved from the
// ClusterWorkflowTemplates (in the cluster or embedded), each resource template's manifest
// rendered with Argo's substitution and created with the WorkflowExecution as owner, its
// success and failure conditions evaluated on the created object with Argo's semantics, and
// the exit hook run once the plan's DAG has finished. It keeps no state of its own: every
// node's phase is derived from the KubernetesExecutions that exist, so a restart loses
// nothing and creates nothing twice.
type Builtin struct {
	// Client reads the steps (cache) and creates them.
	Client client.Client
	// Templates resolve templateRefs.
	Templates templateresolution.ClusterWorkflowTemplateGetter
	// Reader reads the semaphore ConfigMap from the API server; Client when nil.
	Reader client.Reader
	// Now is the clock (the Workflow's deadline); time.Now when nil.
	Now func() time.Time

	// sem holds plans back while the semaphores they name are full, as Argo's controller does.
	sem semaphores
}

func (b *Builtin) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Builtin) reader() client.Reader {
	if b.Reader != nil {
		return b.Reader
	}
	return b.Client
}

// Advance creates the steps that are due and reports every node. A plan that has not started
// waits while a semaphore it names is full.
func (b *Builtin) Advance(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Progress, error) {
	if we.Status.StartedAt == nil {
		ok, why, err := b.sem.acquire(ctx, b.Client, b.reader(), we, wf)
		if err != nil {
			return Progress{}, err
		}
		if !ok {
			return Progress{Main: wfv1.NodePending, Waiting: why}, nil
		}
	}
	p, err := b.advance(ctx, we, wf)
	if err == nil && p.Main.Completed() && (p.Exit == "" || p.Exit.Completed()) {
		b.sem.release(we)
	}
	return p, err
}

func (b *Builtin) advance(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Progress, error) {
	var list kubernautv1.KubernetesExecutionList
	if err := b.Client.List(ctx, &list, client.InNamespace(we.Namespace), client.MatchingLabels{kubernautv1.LabelWorkflowExecution: we.Name}); err != nil {
		return Progress{}, fmt.Errorf("listing the steps of %s: %w", we.Name, err)
	}
	existing := map[string]*kubernautv1.KubernetesExecution{}
	for i := range list.Items {
		existing[list.Items[i].Name] = &list.Items[i]
	}
	main := wf.GetTemplateByName(wf.Spec.Entrypoint)
	run := &dagRun{b: b, we: we, wf: wf, existing: existing, status: "Running"}
	var recheck time.Duration
	if d := wf.Spec.ActiveDeadlineSeconds; d != nil && we.Status.StartedAt != nil {
		// As Argo's controller: past the Workflow's deadline no step starts and a running one
		// fails; the exit hook still runs.
		left := we.Status.StartedAt.Add(time.Duration(*d) * time.Second).Sub(b.now())
		run.expired, recheck = left <= 0, max(left, 0)
	}
	nodes, err := run.advance(ctx, main.DAG.Tasks)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Main: assess(dagContext{main.DAG.Tasks}, nodes)}
	if !p.Main.Completed() && recheck > 0 {
		p.Recheck = recheck
	}
	p.Steps = run.mirror(we.Spec.Steps, nodes, "")
	p.Failures = failures(main.DAG.Tasks, nodes)
	if !p.Main.Completed() {
		return p, nil
	}
	hook, ok := wf.Spec.Hooks[wfv1.ExitLifecycleEvent]
	if !ok {
		return p, nil
	}
	exit := wf.GetTemplateByName(hook.Template)
	run.status = string(p.Main) // Succeeded, Failed or Error: {{workflow.status}}
	exitNodes, err := run.advance(ctx, exit.DAG.Tasks)
	if err != nil {
		return Progress{}, err
	}
	p.Exit = assess(dagContext{exit.DAG.Tasks}, exitNodes)
	p.Failures = append(p.Failures, failures(exit.DAG.Tasks, exitNodes)...)
	for _, s := range run.mirror(undoOrder(we.Spec.Steps), exitNodes, "undo-") {
		if s.KubernetesExecutionRef != nil {
			p.Compensation = append(p.Compensation, s)
		}
	}
	return p, nil
}

// failures lists the failed nodes of a DAG, in task order.
func failures(tasks []wfv1.DAGTask, nodes map[string]dagNode) []string {
	var out []string
	for _, t := range tasks {
		if n, ok := nodes[t.Name]; ok && n.phase.FailedOrError() {
			out = append(out, fmt.Sprintf("%s %s: %s", t.Name, strings.ToLower(string(n.phase)), n.message))
		}
	}
	return out
}

// dagRun is one pass over one DAG.
type dagRun struct {
	b        *Builtin
	we       *kubernautv1.WorkflowExecution
	wf       *wfv1.Workflow
	existing map[string]*kubernautv1.KubernetesExecution
	// status is {{workflow.status}}: Running during the plan, its outcome in the exit hook.
	status string
	// expired: the Workflow's deadline has passed.
	expired bool
}

// deadlineExceeded is what Argo's controller says of a step past the Workflow's deadline.
const deadlineExceeded = "Step exceeded its deadline"

// advance decides every task it can, in passes until nothing changes: a task whose
// dependencies are fulfilled runs (or is Omitted when its `depends` is false, Skipped when its
// `when` is false); a running step's node follows its KubernetesExecution.
func (r *dagRun) advance(ctx context.Context, tasks []wfv1.DAGTask) (map[string]dagNode, error) {
	d := dagContext{tasks}
	nodes := map[string]dagNode{}
	for changed := true; changed; {
		changed = false
		for i := range tasks {
			t := &tasks[i]
			if _, done := nodes[t.Name]; done {
				continue
			}
			execute, proceed, err := readiness(d, t, nodes)
			if err != nil {
				nodes[t.Name], changed = dagNode{phase: wfv1.NodeError, message: err.Error()}, true
				continue
			}
			if !proceed {
				continue
			}
			changed = true
			if !execute {
				nodes[t.Name] = dagNode{phase: wfv1.NodeOmitted, message: "omitted: depends condition not met"}
				continue
			}
			n, err := r.task(ctx, t)
			if err != nil {
				return nil, err
			}
			nodes[t.Name] = n
		}
	}
	return nodes, nil
}

// task runs one task: the approval gate (passed: the engine runs only approved plans), the
// join (a zero-length suspend), or a resource template.
func (r *dagRun) task(ctx context.Context, t *wfv1.DAGTask) (dagNode, error) {
	tmpl, err := r.resolve(t)
	if err != nil {
		return dagNode{phase: wfv1.NodeError, message: err.Error()}, nil
	}
	scope := map[string]string{"workflow.name": r.wf.Name, "workflow.namespace": r.wf.Namespace, "workflow.uid": string(r.wf.UID), "workflow.status": r.status}
	for _, p := range t.Arguments.Parameters {
		if p.Value != nil {
			scope["inputs.parameters."+p.Name] = p.Value.String()
		}
	}
	when, err := substitute(t.When, scope)
	if err != nil {
		return dagNode{phase: wfv1.NodeError, message: err.Error()}, nil
	}
	if ok, err := shouldExecute(when); err != nil {
		return dagNode{phase: wfv1.NodeError, message: err.Error()}, nil
	} else if !ok {
		return dagNode{phase: wfv1.NodeSkipped, message: fmt.Sprintf("when '%s' evaluated false", when)}, nil
	}
	switch {
	case tmpl.Suspend != nil && t.Name == approveTask:
		if !meta.IsStatusConditionTrue(r.we.Status.Conditions, kubernautv1.ApprovedCondition) {
			return dagNode{phase: wfv1.NodeRunning, message: "waiting for approval"}, nil
		}
		return dagNode{phase: wfv1.NodeSucceeded, message: "approved"}, nil
	case tmpl.Suspend != nil:
		return dagNode{phase: wfv1.NodeSucceeded}, nil
	case tmpl.Resource != nil:
		return r.resource(ctx, t, tmpl, scope)
	}
	return dagNode{phase: wfv1.NodeError, message: fmt.Sprintf("template %s is of a kind the builtin engine does not run", tmpl.Name)}, nil
}

// substitute replaces {{…}} in one string with Argo's substitution (which works on JSON).
func substitute(s string, scope map[string]string) (string, error) {
	if s == "" {
		return "", nil
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	out, err := argotemplate.Replace(string(raw), argotemplate.ToAnyMap(scope), true)
	if err != nil {
		return "", err
	}
	var res string
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return "", fmt.Errorf("substituting %q: %w", s, err)
	}
	return res, nil
}

// resolve finds a task's template: a local one, or the templateRef's in the
// ClusterWorkflowTemplates.
func (r *dagRun) resolve(t *wfv1.DAGTask) (*wfv1.Template, error) {
	if t.TemplateRef == nil {
		if tmpl := r.wf.GetTemplateByName(t.Template); tmpl != nil {
			return tmpl, nil
		}
		return nil, fmt.Errorf("task %s: template %s not found", t.Name, t.Template)
	}
	c, err := r.b.Templates.Get(t.TemplateRef.Name)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	tmpl := c.GetTemplateByName(t.TemplateRef.Template)
	if tmpl == nil {
		return nil, fmt.Errorf("task %s: template %s not found in ClusterWorkflowTemplate %s", t.Name, t.TemplateRef.Template, t.TemplateRef.Name)
	}
	return tmpl, nil
}

// resource plays Argo's executor for a resource template: render the manifest, create it
// owned by the WorkflowExecution, and evaluate the failure, then the success, condition on it.
func (r *dagRun) resource(ctx context.Context, t *wfv1.DAGTask, tmpl *wfv1.Template, scope map[string]string) (dagNode, error) {
	for _, p := range tmpl.Inputs.Parameters {
		k := "inputs.parameters." + p.Name
		if _, ok := scope[k]; !ok && p.Default != nil {
			scope[k] = p.Default.String()
		}
	}
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return dagNode{}, err
	}
	out, err := argotemplate.Replace(string(raw), argotemplate.ToAnyMap(scope), false)
	if err != nil {
		return dagNode{phase: wfv1.NodeError, message: fmt.Sprintf("task %s: %v", t.Name, err)}, nil
	}
	var resolved wfv1.Template
	if err := json.Unmarshal([]byte(out), &resolved); err != nil {
		return dagNode{}, fmt.Errorf("task %s: decoding the substituted template: %w", t.Name, err)
	}
	ke := &kubernautv1.KubernetesExecution{}
	if err := yaml.UnmarshalStrict([]byte(resolved.Resource.Manifest), ke); err != nil {
		return dagNode{phase: wfv1.NodeError, message: fmt.Sprintf("task %s: the manifest is not a KubernetesExecution: %v", t.Name, err)}, nil
	}
	ke.Namespace = r.we.Namespace
	obj, ok := r.existing[ke.Name]
	switch {
	case !ok && r.status == "Running" && r.we.DeletionTimestamp != nil:
		// As Argo's Stop: a deleted plan starts no new step; its exit hook undoes the rest.
		return dagNode{phase: wfv1.NodeFailed, message: "not started: the plan is being deleted"}, nil
	case !ok && r.status == "Running" && r.expired:
		return dagNode{phase: wfv1.NodeFailed, message: deadlineExceeded}, nil
	case ok && r.status == "Running" && r.expired:
		// Argo kills a running step's executor at the deadline: the node fails while the step
		// itself ends on its own (its undo waits for it).
		n, err := conditions(resolved.Resource, obj)
		if err == nil && !n.phase.Completed() {
			n = dagNode{phase: wfv1.NodeFailed, message: deadlineExceeded}
		}
		return n, err
	}
	if !ok {
		// No Workflow exists here: the step is owned by the WorkflowExecution instead of the
		// Workflow the template names.
		ke.OwnerReferences = nil
		if err := controllerutil.SetControllerReference(r.we, ke, r.b.Client.Scheme()); err != nil {
			return dagNode{}, fmt.Errorf("owning step %s: %w", ke.Name, err)
		}
		switch err := r.b.Client.Create(ctx, ke); {
		case err == nil:
		case apierrors.IsAlreadyExists(err):
			// The cache has not seen it yet; the next pass will.
		case terminal.Is(terminal.API(err)):
			// Invalid, or refused for good: creating it again cannot help (in a namespace being
			// deleted nothing new may be created, an undo step included).
			return dagNode{phase: wfv1.NodeFailed, message: fmt.Sprintf("the API server refused step %s: %v", ke.Name, err)}, nil
		default:
			return dagNode{}, fmt.Errorf("creating step %s: %w", ke.Name, err)
		}
		r.existing[ke.Name] = ke
		return runningNode(ke), nil
	}
	return conditions(resolved.Resource, obj)
}

// ConditionState is where a resource template's conditions stand.
type ConditionState int

// The states of a resource template's conditions.
const (
	// ConditionPending: neither condition holds yet.
	ConditionPending ConditionState = iota
	// ConditionSucceeded: every success requirement holds.
	ConditionSucceeded
	// ConditionFailed: a failure requirement holds.
	ConditionFailed
)

// ResourceConditions evaluates a resource template's failure, then success, condition on an
// object's JSON as Argo's executor does: label-selector requirements over gjson paths, any
// failure requirement failing it, every success requirement needed. An unparsable condition is
// an error.
func ResourceConditions(res *wfv1.ResourceTemplate, obj []byte) (ConditionState, string, error) {
	ls := gjsonLabels{json: obj}
	if res.FailureCondition != "" {
		sel, err := k8slabels.Parse(res.FailureCondition)
		if err != nil {
			return ConditionFailed, "", fmt.Errorf("fail condition '%s' failed to parse: %w", res.FailureCondition, err)
		}
		reqs, _ := sel.Requirements()
		for _, req := range reqs {
			if req.Matches(ls) {
				return ConditionFailed, fmt.Sprintf("failure condition '%s' evaluated true", req.String()), nil
			}
		}
	}
	if res.SuccessCondition == "" {
		return ConditionSucceeded, "", nil
	}
	sel, err := k8slabels.Parse(res.SuccessCondition)
	if err != nil {
		return ConditionFailed, "", fmt.Errorf("success condition '%s' failed to parse: %w", res.SuccessCondition, err)
	}
	reqs, _ := sel.Requirements()
	for _, req := range reqs {
		if !req.Matches(ls) {
			return ConditionPending, "", nil
		}
	}
	return ConditionSucceeded, "", nil
}

// conditions is a resource node's phase from the object its template created.
func conditions(res *wfv1.ResourceTemplate, obj *kubernautv1.KubernetesExecution) (dagNode, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return dagNode{}, err
	}
	state, msg, err := ResourceConditions(res, raw)
	switch {
	case err != nil:
		return dagNode{phase: wfv1.NodeError, message: err.Error()}, nil
	case state == ConditionFailed:
		return dagNode{phase: wfv1.NodeFailed, message: msg + ": " + readyMessage(obj)}, nil
	case state == ConditionPending:
		return runningNode(obj), nil
	}
	return dagNode{phase: wfv1.NodeSucceeded, message: readyMessage(obj)}, nil
}

// runningNode is a running step's node. Its message does not follow the step's own phases
// (the KubernetesExecution shows them): each change would cost the WorkflowExecution a status
// write, and Argo's resource nodes do not show them either.
func runningNode(ke *kubernautv1.KubernetesExecution) dagNode {
	return dagNode{phase: wfv1.NodeRunning, message: "running as KubernetesExecution " + ke.Name}
}

func readyMessage(ke *kubernautv1.KubernetesExecution) string {
	if c := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
		return c.Message
	}
	return ""
}

// mirror turns the nodes of the plan's steps into the WorkflowExecution's step statuses.
func (r *dagRun) mirror(steps []kubernautv1.PlanStep, nodes map[string]dagNode, prefix string) []kubernautv1.StepStatus {
	var out []kubernautv1.StepStatus
	for _, s := range steps {
		name := prefix + s.Name
		st := kubernautv1.StepStatus{Name: name, Action: s.Action, Phase: kubernautv1.StepPending}
		if n, ok := nodes[name]; ok {
			st.Phase = kubernautv1.StepPhase(n.phase)
			st.Message = kubernautv1.Truncate(n.message, 1024)
		}
		if ke, ok := r.existing[r.we.Name+"-"+name]; ok {
			st.KubernetesExecutionRef = &kubernautv1.LocalReference{Name: ke.Name}
			st.StartedAt, st.FinishedAt = ke.Status.StartedAt, ke.Status.CompletedAt
			if st.StartedAt == nil && !ke.CreationTimestamp.IsZero() {
				t := ke.CreationTimestamp
				st.StartedAt = &t
			}
		}
		out = append(out, st)
	}
	return out
}
