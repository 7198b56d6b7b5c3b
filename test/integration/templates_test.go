package integration

import (
	"encoding/json"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argotemplate "github.com/argoproj/argo-workflows/v3/util/template"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/templates"
)

// sampleParameters are valid parameter blocks per action.
var sampleParameters = map[kubernautv1.ActionName]string{
	kubernautv1.ActionDeletePod:           `{"deletePod": {"gracePeriodSeconds": 30}}`,
	kubernautv1.ActionScaleDeployment:     `{"scaleDeployment": {"replicas": 3}}`,
	kubernautv1.ActionRollbackDeployment:  `{"rollbackDeployment": {}}`,
	kubernautv1.ActionUpdateConfig:        `{"updateConfig": {"data": {"LOG_LEVEL": "info"}}}`,
	kubernautv1.ActionUpdateHPA:           `{"updateHPA": {"minReplicas": 2, "maxReplicas": 8}}`,
	kubernautv1.ActionIncreaseMemoryLimit: `{"increaseMemoryLimit": {"container": "app", "percent": 50, "maxLimit": "2Gi"}}`,
	kubernautv1.ActionDrainNode:           `{"drainNode": {"timeoutSeconds": 300}}`,
	kubernautv1.ActionClearCache:          `{"clearCache": {}}`,
	kubernautv1.ActionCustomScript:        `{"customScript": {"image": "registry.example.com/fix:1", "args": ["--dry"]}}`,
}

// render substitutes a template's inputs into its manifest with Argo's own substitution.
func render(tmpl *wfv1.Template, values map[string]string) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	// The Workflow's globals the manifest's owner reference names.
	in := map[string]string{"workflow.name": "rr-1-we", "workflow.uid": "6f1c8a52-3d4e-4b7a-9c10-2e5f7a8b9c0d"}
	for _, p := range tmpl.Inputs.Parameters {
		if p.Default != nil {
			in["inputs.parameters."+p.Name] = p.Default.String()
		}
	}
	for k, v := range values {
		in["inputs.parameters."+k] = v
	}
	// As Argo's controller does: substitute in the template's JSON, then read the manifest.
	raw, err := json.Marshal(tmpl)
	Expect(err).NotTo(HaveOccurred())
	out, err := argotemplate.Replace(string(raw), argotemplate.ToAnyMap(in), false)
	Expect(err).NotTo(HaveOccurred(), "template %s", tmpl.Name)
	var resolved wfv1.Template
	Expect(json.Unmarshal([]byte(out), &resolved)).To(Succeed())
	var ke kubernautv1.KubernetesExecution
	Expect(yaml.UnmarshalStrict([]byte(resolved.Resource.Manifest), &ke)).To(Succeed(), "template %s rendered:\n%s", tmpl.Name, resolved.Resource.Manifest)
	return &ke
}

func loadTemplates(name string) *wfv1.ClusterWorkflowTemplate {
	GinkgoHelper()
	set, err := templates.Embedded()
	Expect(err).NotTo(HaveOccurred())
	t, err := set.Get(name)
	Expect(err).NotTo(HaveOccurred())
	return t
}

var _ = Describe("The ClusterWorkflowTemplates", func() {
	It("render, for every catalog action, a KubernetesExecution the API server accepts", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		actions := loadTemplates(templates.Actions)
		for _, a := range catalog.Actions {
			tmpl := actions.GetTemplateByName(templates.TemplateName(a.Name))
			values := map[string]string{"remediation": "rr-1", "workflow-execution": "rr-1-we", "step": "fix",
				"target-kind": string(a.Targets[0]), "target-namespace": ns, "target-name": "web", "parameters": sampleParameters[a.Name]}
			ke := render(tmpl, values)
			ke.Namespace = ns
			Expect(k8s.Create(ctx, ke, client.DryRunAll)).To(Succeed(), "action %s", a.Name)
			Expect(ke.Spec.Action).To(Equal(a.Name))
			Expect(ke.Labels).To(HaveKeyWithValue(kubernautv1.LabelRemediation, "rr-1"))
			Expect(ke.OwnerReferences).To(ConsistOf(And(HaveField("Kind", "Workflow"), HaveField("Name", "rr-1-we"),
				HaveField("UID", BeEquivalentTo("6f1c8a52-3d4e-4b7a-9c10-2e5f7a8b9c0d")), HaveField("Controller", HaveValue(BeTrue())))),
				"the Workflow owns its steps")
		}
	})

	It("cannot smuggle parameters past the API's schema", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		tmpl := loadTemplates(templates.Actions).GetTemplateByName(templates.TemplateName(kubernautv1.ActionScaleDeployment))
		ke := render(tmpl, map[string]string{"remediation": "rr-1", "workflow-execution": "rr-1-we", "step": "scale",
			"target-kind": "Deployment", "target-namespace": ns, "target-name": "web", "parameters": `{"scaleDeployment": {"replicas": 100000}}`})
		ke.Namespace = ns
		err := k8s.Create(ctx, ke, client.DryRunAll)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	})

	It("render compensation steps for namespaced objects and nodes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		comp := loadTemplates(templates.Compensate)
		ke := render(comp.GetTemplateByName("compensate"), map[string]string{"remediation": "rr-1", "workflow-execution": "rr-1-we", "step": "undo-scale",
			"action": "scale_deployment", "compensates": "rr-1-we-scale-abcde", "target-kind": "Deployment", "target-namespace": ns, "target-name": "web",
			"parameters": `{"scaleDeployment": {"replicas": 3}}`})
		ke.Namespace = ns
		Expect(k8s.Create(ctx, ke, client.DryRunAll)).To(Succeed())
		Expect(ke.Spec.Mode).To(Equal(kubernautv1.ExecutionModeCompensate))
		Expect(ke.Spec.Compensates.Name).To(Equal("rr-1-we-scale-abcde"))

		node := render(comp.GetTemplateByName("compensate-node"), map[string]string{"remediation": "rr-1", "workflow-execution": "rr-1-we", "step": "undo-cordon",
			"action": "cordon_node", "compensates": "rr-1-we-cordon-xyz", "target-kind": "Node", "target-name": "worker-1"})
		node.Namespace = ns
		Expect(k8s.Create(ctx, node, client.DryRunAll)).To(Succeed())
		Expect(node.Spec.Target.Namespace).To(BeEmpty())
	})
})
