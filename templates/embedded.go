package templates

import (
	"embed"
	"fmt"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"sigs.k8s.io/yaml"
)

//go:embed actions.yaml approval.yaml compensate.yaml
var files embed.FS

// Set is a set of ClusterWorkflowTemplates by name; it serves them to Argo's validator and to
// the builtin engine (templateresolution.ClusterWorkflowTemplateGetter).
type Set map[string]*wfv1.ClusterWorkflowTemplate

// Get returns the named template.
func (s Set) Get(name string) (*wfv1.ClusterWorkflowTemplate, error) {
	if t, ok := s[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("ClusterWorkflowTemplate %q not found", name)
}

// Embedded returns the committed templates (the YAML of this folder, embedded in the binary),
// for clusters where Argo and its templates are not installed.
func Embedded() (Set, error) {
	out := Set{}
	for _, f := range []string{"actions.yaml", "approval.yaml", "compensate.yaml"} {
		data, err := files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c wfv1.ClusterWorkflowTemplate
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			return nil, fmt.Errorf("decoding embedded template %s: %w", f, err)
		}
		out[c.Name] = &c
	}
	return out, nil
}
