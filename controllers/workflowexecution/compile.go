// Package workflowexecution plans a remediation (safety policy, dry run, plan hash), records
// its approval, compiles it into an Argo Workflow (this file) and runs it with an engine: the
// builtin engine in-process, or Argo's controller with the nodes mirrored.
package workflowexecution

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/templates"
)

// CompileOptions are the settings of compiled Workflows.
type CompileOptions struct {
	// ServiceAccount runs the Workflow's pods (it needs workflowtaskresults create/patch and
	// kubernetesexecutions create/get).
	ServiceAccount string
	// ActiveDeadline bounds the whole Workflow.
	ActiveDeadline time.Duration
	// TTLAfterCompletion deletes the finished Workflow after this long.
	TTLAfterCompletion time.Duration
	// SemaphoreConfigMap holds the blast-radius limits: key "cluster" for every running
	// remediation, key "namespace.<ns>" per target namespace (Argo's semaphore ConfigMap).
	SemaphoreConfigMap string
}

// planHashAnnotation carries the hash of the plan a compiled Workflow (or, by reference, its
// WorkflowTemplate) runs; a Workflow of another plan is never adopted.
const planHashAnnotation = "kubernaut.io/plan-hash"

// Task names the compiler adds beside the plan's steps.
const (
	approveTask  = "approve"
	joinTask     = "done"
	entrypoint   = "plan"
	joinTemplate = "join"
	compensation = "compensate"
)

// Compile turns a WorkflowExecution's plan into an Argo Workflow: a DAG whose tasks use the
// kubernaut-actions templates, behind a suspend gate when approval is Manual, ending in a join
// task so that the Workflow's phase says whether every step succeeded, with an exit hook that
// undoes the steps newest-first when it did not, and a mutex on the target plus semaphores per
// namespace and for the cluster. The result has passed Argo's own validation against the given
// ClusterWorkflowTemplates.
func Compile(we *kubernautv1.WorkflowExecution, planHash string, opts CompileOptions, cwfts templateresolution.ClusterWorkflowTemplateGetter) (*wfv1.Workflow, error) {
	wf, err := build(we, planHash, opts)
	if err != nil {
		return nil, err
	}
	if err := validate.ValidateWorkflow(nil, cwfts, wf, nil, validate.ValidateOpts{Lint: true}); err != nil {
		return nil, fmt.Errorf("Argo refuses the compiled Workflow %s: %w", wf.Name, err)
	}
	return wf, nil
}

// build is the Workflow of a plan, not yet validated: Compile validates it once, when the plan
// is planned; the engines rebuild it (the spec is immutable, the result the same) without
// paying for Argo's validation on every reconcile.
func build(we *kubernautv1.WorkflowExecution, planHash string, opts CompileOptions) (*wfv1.Workflow, error) {
	if len(we.Name) > 63 {
		return nil, fmt.Errorf("WorkflowExecution name %q is longer than the 63 characters of a Workflow name", we.Name)
	}
	order, err := topoOrder(we.Spec.Steps)
	if err != nil {
		return nil, err
	}
	manual := we.Spec.ApprovalMode == kubernautv1.ApprovalManual
	dag := &wfv1.DAGTemplate{}
	if manual {
		dag.Tasks = append(dag.Tasks, wfv1.DAGTask{
			Name:        approveTask,
			TemplateRef: &wfv1.TemplateRef{Name: templates.Approval, Template: "approve", ClusterScope: true},
			Arguments:   args(map[string]string{"plan-hash": planHash, "summary": inert(description(we, planHash))}),
		})
	}
	dependents := map[string]bool{}
	for _, s := range we.Spec.Steps {
		for _, d := range s.DependsOn {
			dependents[d] = true
		}
	}
	var leaves []string
	for _, s := range order {
		deps := append([]string{}, s.DependsOn...)
		if len(deps) == 0 && manual {
			deps = []string{approveTask}
		}
		task, err := stepTask(we, s)
		if err != nil {
			return nil, err
		}
		task.Depends = succeeded(deps)
		dag.Tasks = append(dag.Tasks, task)
		if !dependents[s.Name] {
			leaves = append(leaves, s.Name)
		}
	}
	dag.Tasks = append(dag.Tasks, wfv1.DAGTask{Name: joinTask, Template: joinTemplate, Depends: succeeded(leaves)})

	var undo []wfv1.DAGTask
	previous := ""
	for i := len(order) - 1; i >= 0; i-- {
		s := order[i]
		task, err := compensateTask(we, s)
		if err != nil {
			return nil, err
		}
		task.When = "{{workflow.status}} != Succeeded"
		if previous != "" {
			// Newest first, one at a time; an undo that fails does not stop the older ones.
			task.Depends = previous + ".Succeeded || " + previous + ".Failed || " + previous + ".Errored"
		}
		previous = task.Name
		undo = append(undo, task)
	}

	t := we.Spec.Target
	wf := &wfv1.Workflow{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Workflow"},
		ObjectMeta: metav1.ObjectMeta{
			Name: we.Name, Namespace: we.Namespace,
			Labels: labels(map[string]string{
				kubernautv1.LabelRemediation: we.Spec.RemediationRequestRef.Name, kubernautv1.LabelWorkflowExecution: we.Name,
				kubernautv1.LabelAlertName: we.Spec.AlertName, kubernautv1.LabelTargetKind: string(t.Kind), kubernautv1.LabelTargetNamespace: t.Namespace, kubernautv1.LabelTargetName: t.Name,
				kubernautv1.LabelApprovers: approversLabel(we),
			}),
			Annotations: map[string]string{planHashAnnotation: planHash, titleAnnotation: title(we), descriptionAnnotation: description(we, planHash)},
		},
		Spec: wfv1.WorkflowSpec{
			Entrypoint:         entrypoint,
			ServiceAccountName: opts.ServiceAccount,
			Templates: []wfv1.Template{
				{Name: entrypoint, DAG: dag},
				{Name: joinTemplate, Suspend: &wfv1.SuspendTemplate{Duration: "0"}},
				{Name: compensation, DAG: &wfv1.DAGTemplate{Tasks: undo}},
			},
			// The exit hook runs whatever the outcome; its tasks act only when the Workflow did not
			// succeed.
			Hooks: wfv1.LifecycleHooks{wfv1.ExitLifecycleEvent: wfv1.LifecycleHook{Template: compensation}},
			Synchronization: &wfv1.Synchronization{
				Mutexes: []*wfv1.Mutex{{Name: mutexName(t)}},
			},
			PodGC: &wfv1.PodGC{Strategy: wfv1.PodGCOnPodSuccess},
		},
	}
	if opts.SemaphoreConfigMap != "" {
		wf.Spec.Synchronization.Semaphores = []*wfv1.SemaphoreRef{
			{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: opts.SemaphoreConfigMap}, Key: clusterSemaphoreKey}},
			{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: opts.SemaphoreConfigMap}, Key: namespaceSemaphoreKey(t)}},
		}
	}
	if opts.ActiveDeadline > 0 {
		secs := int64(opts.ActiveDeadline.Seconds())
		wf.Spec.ActiveDeadlineSeconds = &secs
	}
	if opts.TTLAfterCompletion > 0 {
		secs := int32(opts.TTLAfterCompletion.Seconds())
		wf.Spec.TTLStrategy = &wfv1.TTLStrategy{SecondsAfterCompletion: &secs}
	}
	return wf, nil
}

// stepTask is the DAG task of one step: its action's template with the step's inputs.
func stepTask(we *kubernautv1.WorkflowExecution, s kubernautv1.PlanStep) (wfv1.DAGTask, error) {
	if _, err := catalog.Lookup(s.Action); err != nil {
		return wfv1.DAGTask{}, fmt.Errorf("step %s: %w", s.Name, err)
	}
	in, err := stepInputs(we, s.Name, s.ActionStep)
	if err != nil {
		return wfv1.DAGTask{}, err
	}
	return wfv1.DAGTask{
		Name:        s.Name,
		TemplateRef: &wfv1.TemplateRef{Name: templates.Actions, Template: templates.TemplateName(s.Action), ClusterScope: true},
		Arguments:   args(in),
	}, nil
}

// compensateTask undoes one step: kubernaut-compensate on the step's KubernetesExecution,
// which exists only if the step ran (the undo of a step that never ran has nothing to do).
func compensateTask(we *kubernautv1.WorkflowExecution, s kubernautv1.PlanStep) (wfv1.DAGTask, error) {
	in, err := stepInputs(we, "undo-"+s.Name, s.ActionStep)
	if err != nil {
		return wfv1.DAGTask{}, err
	}
	in["action"] = string(s.Action)
	in["compensates"] = we.Name + "-" + s.Name
	if in["parameters"] == "" {
		in["parameters"] = "{}"
	}
	template := "compensate"
	if s.Target.Kind.IsClusterScoped() {
		template = "compensate-node"
	}
	return wfv1.DAGTask{
		Name:        "undo-" + s.Name,
		TemplateRef: &wfv1.TemplateRef{Name: templates.Compensate, Template: template, ClusterScope: true},
		Arguments:   args(in),
	}, nil
}

// stepInputs are the inputs of a step template.
func stepInputs(we *kubernautv1.WorkflowExecution, step string, a kubernautv1.ActionStep) (map[string]string, error) {
	in := map[string]string{
		"remediation": we.Spec.RemediationRequestRef.Name, "workflow-execution": we.Name, "step": step,
		"dry-run": fmt.Sprint(we.Spec.DryRun), "target-kind": string(a.Target.Kind), "target-name": a.Target.Name,
	}
	if !a.Target.Kind.IsClusterScoped() {
		in["target-namespace"] = a.Target.Namespace
	}
	if a.Parameters != nil {
		raw, err := json.Marshal(a.Parameters)
		if err != nil {
			return nil, fmt.Errorf("encoding the parameters of step %s: %w", step, err)
		}
		in["parameters"] = literal(raw)
	}
	return in, nil
}

// literal makes JSON that Argo's controller passes on byte for byte: Argo expands `{{…}}` and
// evaluates `{{=expr}}` in task arguments after the plan hash was taken, so an analyzer's
// parameter value "{{=sprig.upper('x')}}" reached the ConfigMap as "X", and an expression ran
// inside Argo's shared controller. Braces inside JSON strings are written as the escapes
// \u007b and \u007d, which the API server's YAML and JSON decoders read back as the braces
// themselves: the KubernetesExecution gets exactly the approved text, and no `{{` is left for
// Argo (structural braces never pair up as `{{`: an object opens with a key).
func literal(raw []byte) string {
	var b strings.Builder
	inString, escaped := false, false
	for _, c := range string(raw) {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString && c == '{':
			b.WriteString(`\u007b`)
			continue
		case inString && c == '}':
			b.WriteString(`\u007d`)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func args(in map[string]string) wfv1.Arguments {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var a wfv1.Arguments
	for _, k := range keys {
		a.Parameters = append(a.Parameters, wfv1.Parameter{Name: k, Value: wfv1.AnyStringPtr(in[k])})
	}
	return a
}

// succeeded is the `depends` expression "every task succeeded".
func succeeded(tasks []string) string {
	var parts []string
	for _, t := range tasks {
		parts = append(parts, t+".Succeeded")
	}
	return strings.Join(parts, " && ")
}

// topoOrder orders the steps so that each comes after the steps it depends on (stable: plan
// order among independent steps); a cycle or an unknown dependency is an error.
func topoOrder(steps []kubernautv1.PlanStep) ([]kubernautv1.PlanStep, error) {
	byName := map[string]kubernautv1.PlanStep{}
	for _, s := range steps {
		byName[s.Name] = s
	}
	var out []kubernautv1.PlanStep
	state := map[string]int{}
	var visit func(string, []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("the plan's steps depend on each other in a cycle: %s", strings.Join(append(path, n), " → "))
		case 2:
			return nil
		}
		s, ok := byName[n]
		if !ok {
			return fmt.Errorf("step %s depends on unknown step %q", path[len(path)-1], n)
		}
		state[n] = 1
		for _, d := range s.DependsOn {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, s)
		return nil
	}
	for _, s := range steps {
		if err := visit(s.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// labels keeps the values that are valid label values; a longer or odd one is shortened with a
// hash so that it still filters.
// approversLabel is kubernautv1.LabelApprovers' value: the quorum of a Manual plan, none for Auto.
func approversLabel(we *kubernautv1.WorkflowExecution) string {
	if we.Spec.ApprovalMode != kubernautv1.ApprovalManual {
		return ""
	}
	return strconv.Itoa(int(quorumOf(we).Approvers))
}

func labels(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if v == "" {
			continue
		}
		if len(validation.IsValidLabelValue(v)) > 0 {
			h := fnv.New32a()
			_, _ = h.Write([]byte(v))
			v = strings.Trim(labelUnsafe.ReplaceAllString(v, "-"), "-._")
			if len(v) > 54 {
				v = strings.Trim(v[:54], "-._")
			}
			v = fmt.Sprintf("%s-%08x", v, h.Sum32())
		}
		out[k] = v
	}
	return out
}

// mutexName is the blast-radius mutex of one object.
func mutexName(t kubernautv1.Target) string {
	return strings.ToLower(fmt.Sprintf("kubernaut.%s.%s.%s", t.Kind, orCluster(t.Namespace), t.Name))
}

func orCluster(ns string) string {
	if ns == "" {
		return "cluster"
	}
	return ns
}
