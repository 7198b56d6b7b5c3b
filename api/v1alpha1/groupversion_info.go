// Package v1alpha1 holds the kubernaut.io/v1alpha1 API: the five kinds of the remediation
// chain (RemediationRequest → RemediationProcessing → AIAnalysis → WorkflowExecution →
// KubernetesExecution) and the types they share.
//
// +kubebuilder:object:generate=true
// +groupName=kubernaut.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kubernaut.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
