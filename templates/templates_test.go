package templates

import (
	"fmt"
	"os"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	"sigs.k8s.io/yaml"

	"github.com/kubernaut/kubernaut/actions-image/catalog"
)

// clusterTemplates serves the templates to Argo's validator, as the cluster would.
type clusterTemplates map[string]*wfv1.ClusterWorkflowTemplate

func (c clusterTemplates) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := c[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("clusterworkflowtemplate %q not found", name)
}

// committed reads the generated YAML files, which are what users sync.
func committed(t *testing.T) clusterTemplates {
	t.Helper()
	out := clusterTemplates{}
	for _, f := range []string{"actions.yaml", "approval.yaml", "compensate.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c wfv1.ClusterWorkflowTemplate
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[c.Name] = &c
	}
	return out
}

func TestArgoValidatesEveryTemplate(t *testing.T) {
	all := committed(t)
	for name, c := range all {
		if err := validate.ValidateClusterWorkflowTemplate(nil, all, c, nil, validate.ValidateOpts{Lint: true}); err != nil {
			t.Errorf("Argo refuses ClusterWorkflowTemplate %s: %v", name, err)
		}
		if c.Labels[VersionLabel] != Version {
			t.Errorf("%s carries version %q, want %q", name, c.Labels[VersionLabel], Version)
		}
	}
}

func TestEveryCatalogActionHasItsTemplate(t *testing.T) {
	actions := committed(t)[Actions]
	if len(actions.Spec.Templates) != len(catalog.Actions) {
		t.Fatalf("%d templates for %d catalog actions", len(actions.Spec.Templates), len(catalog.Actions))
	}
	for _, a := range catalog.Actions {
		tmpl := actions.GetTemplateByName(TemplateName(a.Name))
		if tmpl == nil || tmpl.Resource == nil {
			t.Errorf("no resource template %s", TemplateName(a.Name))
			continue
		}
		r := tmpl.Resource
		if r.Action != "create" || !r.SetOwnerReference || r.SuccessCondition != SuccessCondition || r.FailureCondition != FailureCondition {
			t.Errorf("%s: %+v", tmpl.Name, r)
		}
		for _, p := range tmpl.Inputs.Parameters {
			if p.Description == nil || p.Description.String() == "" {
				t.Errorf("%s: input %s is not documented", tmpl.Name, p.Name)
			}
		}
	}
}
