// Package templates builds Kubernaut's Argo ClusterWorkflowTemplates from the action catalog:
// kubernaut-actions (one `resource` template per catalog action, creating a
// KubernetesExecution owned by the Workflow), kubernaut-approval (a suspend gate) and
// kubernaut-compensate (undoes a finished step from its recorded pre-state). The generated YAML
// in this folder is what Argo CD or Flux syncs (kustomization.yaml).
package templates

import (
	"fmt"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// Version is the templates' version; the controller refuses templates of another version.
// 2: the step's owner reference is written in the manifest, not by setOwnerReference (see
// manifest). 3: the step carries the undo finalizer (kubernaut.io/undo). 4: the approval gate
// takes the plan's summary (input summary), which the Argo UI shows on the gate's node.
const Version = "4"

// VersionLabel carries Version on every template.
const VersionLabel = "kubernaut.io/template-version"

// Names of the ClusterWorkflowTemplates.
const (
	Actions    = "kubernaut-actions"
	Approval   = "kubernaut-approval"
	Compensate = "kubernaut-compensate"
)

// Success and failure of a step, on the KubernetesExecution's phase.
const (
	SuccessCondition = "status.phase == Succeeded"
	FailureCondition = "status.phase in (Failed,Rejected)"
)

// TemplateName is the template of an action in kubernaut-actions: the action with dashes.
func TemplateName(a kubernautv1.ActionName) string { return a.DNSName() }

// parameterDocs documents each action's parameter block (the JSON of spec.parameters).
var parameterDocs = map[kubernautv1.ActionName]string{
	kubernautv1.ActionDeletePod:           `{"deletePod": {"gracePeriodSeconds": 1..3600 (optional; never 0)}}`,
	kubernautv1.ActionScaleDeployment:     `{"scaleDeployment": {"replicas": 0..1000}}`,
	kubernautv1.ActionRollbackDeployment:  `{"rollbackDeployment": {"toRevision": 0 = the previous revision}}`,
	kubernautv1.ActionUpdateConfig:        `{"updateConfig": {"data": {key: value}, "removeKeys": [key]}}`,
	kubernautv1.ActionUpdateHPA:           `{"updateHPA": {"minReplicas": 1..1000 (optional), "maxReplicas": 1..1000}}`,
	kubernautv1.ActionIncreaseMemoryLimit: `{"increaseMemoryLimit": {"container": name (optional), "percent": 1..200, "maxLimit": quantity (optional)}}`,
	kubernautv1.ActionDrainNode:           `{"drainNode": {"timeoutSeconds": 10..3600, "gracePeriodSeconds": 1..3600, "deleteEmptyDirData": bool}}`,
	kubernautv1.ActionClearCache:          `{"clearCache": {"container": name (optional)}}`,
	kubernautv1.ActionCustomScript:        `{"customScript": {"image": allow-listed image, "args": [string], "timeoutSeconds": 10..3600}}`,
}

// optionalParameters are the actions whose parameter block may be left out ({} by default).
var optionalParameters = map[kubernautv1.ActionName]bool{
	kubernautv1.ActionDeletePod: true, kubernautv1.ActionRollbackDeployment: true,
	kubernautv1.ActionDrainNode: true, kubernautv1.ActionClearCache: true,
}

func param(name, description string, def *string, enum ...string) wfv1.Parameter {
	p := wfv1.Parameter{Name: name, Description: wfv1.AnyStringPtr(description)}
	if def != nil {
		p.Default = wfv1.AnyStringPtr(*def)
	}
	for _, e := range enum {
		p.Enum = append(p.Enum, wfv1.AnyString(e))
	}
	return p
}

func ptr(s string) *string { return &s }

// common are the inputs every step template takes.
func common() []wfv1.Parameter {
	return []wfv1.Parameter{
		param("remediation", "the RemediationRequest this step belongs to (label kubernaut.io/remediation)", nil),
		param("workflow-execution", "the WorkflowExecution whose plan holds this step", nil),
		param("step", "the step's name in the plan (a DNS label)", nil),
		param("dry-run", "true: validate and dry-run the step on the API server, mutate nothing", ptr("false"), "true", "false"),
	}
}

// manifest is a KubernetesExecution for the action, filled from the template's inputs, owned
// by the Workflow. The owner reference is written here rather than asked of Argo with
// setOwnerReference: to add it, Argo's controller decodes the manifest and encodes it again,
// which turns the escaped braces of the step's parameters (the compiler's literal) back into
// `{{…}}` that its next substitution pass expands and evaluates. Untouched, the manifest
// reaches the API server with the escapes, and the KubernetesExecution holds the approved text.
func manifest(a catalog.Action, mode kubernautv1.ExecutionMode, clusterScoped bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kubernaut.io/v1alpha1
kind: KubernetesExecution
metadata:
  name: "{{inputs.parameters.workflow-execution}}-{{inputs.parameters.step}}"
  labels:
    kubernaut.io/remediation: "{{inputs.parameters.remediation}}"
    kubernaut.io/workflow-execution: "{{inputs.parameters.workflow-execution}}"
    kubernaut.io/step: "{{inputs.parameters.step}}"
  ownerReferences:
  - apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    name: "{{workflow.name}}"
    uid: "{{workflow.uid}}"
    controller: true
    blockOwnerDeletion: true
  finalizers:
  - kubernaut.io/undo
spec:
  action: %s
  mode: %s
  stepName: "{{inputs.parameters.step}}"
  dryRun: {{inputs.parameters.dry-run}}
  workflowExecutionRef:
    name: "{{inputs.parameters.workflow-execution}}"
  target:
    kind: "{{inputs.parameters.target-kind}}"
`, actionField(a), mode)
	if !clusterScoped {
		b.WriteString("    namespace: \"{{inputs.parameters.target-namespace}}\"\n")
	}
	b.WriteString("    name: \"{{inputs.parameters.target-name}}\"\n")
	if a.Name == "" || parameterDocs[a.Name] != "" {
		b.WriteString("  parameters: {{inputs.parameters.parameters}}\n")
	}
	if mode == kubernautv1.ExecutionModeCompensate {
		b.WriteString("  compensates:\n    name: \"{{inputs.parameters.compensates}}\"\n")
	}
	return b.String()
}

// actionField is the action, or the compensated step's action for the generic templates.
func actionField(a catalog.Action) string {
	if a.Name == "" {
		return `"{{inputs.parameters.action}}"`
	}
	return string(a.Name)
}

// stepTemplate is the resource template that creates the KubernetesExecution and waits for it.
// The KubernetesExecution is named <workflow-execution>-<step>, so compensation finds the step
// it undoes without passing outputs around.
func stepTemplate(name string, a catalog.Action, mode kubernautv1.ExecutionMode, clusterScoped bool, kinds []string, extra ...wfv1.Parameter) wfv1.Template {
	in := common()
	in = append(in, extra...)
	in = append(in, param("target-kind", "the kind of the object the step changes", nil, kinds...))
	if !clusterScoped {
		in = append(in, param("target-namespace", "the namespace of the object the step changes", nil))
	}
	in = append(in, param("target-name", "the name of the object the step changes", nil))
	if doc := parameterDocs[a.Name]; doc != "" {
		var def *string
		if optionalParameters[a.Name] {
			def = ptr("{}")
		}
		in = append(in, param("parameters", "the step's typed parameters as JSON, validated by the API server: "+doc, def))
	} else if a.Name == "" {
		in = append(in, param("parameters", "the compensated step's parameters as JSON ({} when it had none)", ptr("{}")))
	}
	return wfv1.Template{
		Name:   name,
		Inputs: wfv1.Inputs{Parameters: in},
		Resource: &wfv1.ResourceTemplate{
			Action:           "create",
			SuccessCondition: SuccessCondition, FailureCondition: FailureCondition,
			Manifest: manifest(a, mode, clusterScoped),
		},
		Outputs: wfv1.Outputs{Parameters: []wfv1.Parameter{{
			Name:        "kubernetes-execution",
			Description: wfv1.AnyStringPtr("the name of the KubernetesExecution the step created (compensation needs it)"),
			ValueFrom:   &wfv1.ValueFrom{JSONPath: "{.metadata.name}"},
		}}},
	}
}

func kindsOf(a catalog.Action) ([]string, bool) {
	var kinds []string
	clusterScoped := true
	for _, k := range a.Targets {
		kinds = append(kinds, string(k))
		clusterScoped = clusterScoped && k.IsClusterScoped()
	}
	return kinds, clusterScoped
}

func cwft(name, description string, templates []wfv1.Template) *wfv1.ClusterWorkflowTemplate {
	return &wfv1.ClusterWorkflowTemplate{
		TypeMeta: metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "ClusterWorkflowTemplate"},
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:      map[string]string{VersionLabel: Version, "app.kubernetes.io/part-of": "kubernaut"},
			Annotations: map[string]string{"kubernaut.io/description": description}},
		Spec: wfv1.WorkflowSpec{Templates: templates},
	}
}

// Build returns the three ClusterWorkflowTemplates.
func Build() []*wfv1.ClusterWorkflowTemplate {
	var actions []wfv1.Template
	for _, a := range catalog.Actions {
		kinds, clusterScoped := kindsOf(a)
		actions = append(actions, stepTemplate(TemplateName(a.Name), a, kubernautv1.ExecutionModeExecute, clusterScoped, kinds))
	}
	approval := wfv1.Template{
		Name: "approve",
		Inputs: wfv1.Inputs{Parameters: []wfv1.Parameter{
			param("plan-hash", "the SHA-256 of the plan being approved: `argo resume` or "+
				"`kubectl annotate workflowexecution NAME kubernaut.io/approve=<plan-hash>`", nil),
			param("summary", "what is approved, as the person at the gate reads it: each step with its action, "+
				"target, policy verdict and dry-run diff in short, the plan hash and how to approve", ptr("")),
		}},
		Suspend: &wfv1.SuspendTemplate{},
	}
	var namespaced, cluster []string
	for _, k := range []kubernautv1.TargetKind{"Pod", "Deployment", "StatefulSet", "DaemonSet", "HorizontalPodAutoscaler", "ConfigMap", "Service"} {
		namespaced = append(namespaced, string(k))
	}
	cluster = []string{string(kubernautv1.TargetKindNode)}
	compensates := param("compensates", "the KubernetesExecution of the step to undo (its pre-state is restored)", nil)
	action := param("action", "the compensated step's action", nil)
	return []*wfv1.ClusterWorkflowTemplate{
		cwft(Actions, "one resource template per catalog action: each creates a KubernetesExecution owned by the Workflow and waits for it to succeed or fail", actions),
		cwft(Approval, "a suspend gate: the Workflow waits here until the exact plan is approved", []wfv1.Template{approval}),
		cwft(Compensate, "undoes a finished step from its recorded pre-state", []wfv1.Template{
			stepTemplate("compensate", catalog.Action{}, kubernautv1.ExecutionModeCompensate, false, namespaced, action, compensates),
			stepTemplate("compensate-node", catalog.Action{}, kubernautv1.ExecutionModeCompensate, true, cluster, action, compensates),
		}),
	}
}
