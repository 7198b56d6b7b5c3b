// Package crd embeds the generated CustomResourceDefinitions, so that code can read the API's
// own schemas (the action parameters' JSON schema handed to an AI, for one) from the single
// source that the API server enforces.
package crd

import (
	_ "embed"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed bases/kubernaut.io_kubernetesexecutions.yaml
var kubernetesExecutions []byte

// ActionParametersSchema returns the OpenAPI schema of a step's typed parameters
// (KubernetesExecution spec.parameters), as the API server enforces it.
func ActionParametersSchema() (*apiextensionsv1.JSONSchemaProps, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(kubernetesExecutions, &crd); err != nil {
		return nil, fmt.Errorf("decoding the embedded KubernetesExecution CRD: %w", err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
		if !ok {
			break
		}
		if p, ok := spec.Properties["parameters"]; ok {
			return &p, nil
		}
	}
	return nil, fmt.Errorf("the embedded KubernetesExecution CRD has no spec.parameters schema")
}
