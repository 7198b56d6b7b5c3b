package templates

import (
	"strings"
	"testing"

	"github.com/argoproj/argo-workflows/v3/workflow/validate"

	"github.com/kubernaut/kubernaut/catalog"
)

// committed reads the generated YAML files, which are what users sync (embedded as they are).
func committed(t *testing.T) Set {
	t.Helper()
	set, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return set
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
		if r.Action != "create" || r.SetOwnerReference || !strings.Contains(r.Manifest, `uid: "{{workflow.uid}}"`) || r.SuccessCondition != SuccessCondition || r.FailureCondition != FailureCondition {
			t.Errorf("%s: %+v", tmpl.Name, r)
		}
		for _, p := range tmpl.Inputs.Parameters {
			if p.Description == nil || p.Description.String() == "" {
				t.Errorf("%s: input %s is not documented", tmpl.Name, p.Name)
			}
		}
	}
}
