package v1alpha1

import (
	"fmt"
	"hash/fnv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SignalSource names where a signal came from.
// +kubebuilder:validation:Enum=alertmanager;kubernetes-event
type SignalSource string

const (
	// SignalSourceAlertmanager is an alert delivered by Alertmanager's webhook (version 4).
	SignalSourceAlertmanager SignalSource = "alertmanager"
	// SignalSourceKubernetesEvent is a Kubernetes Warning event.
	SignalSourceKubernetesEvent SignalSource = "kubernetes-event"
)

// Severity is a signal's severity, normalised from the alert's `severity` label.
// +kubebuilder:validation:Enum=critical;warning;info;unknown
type Severity string

const (
	// SeverityCritical needs attention now.
	SeverityCritical Severity = "critical"
	// SeverityWarning needs attention soon.
	SeverityWarning Severity = "warning"
	// SeverityInfo is informational.
	SeverityInfo Severity = "info"
	// SeverityUnknown is used when the alert carried no recognisable severity.
	SeverityUnknown Severity = "unknown"
)

// Signal is the alert (or event) that started a remediation, as the gateway received it.
// Labels and annotations are kept bounded; the fingerprint identifies the alert's label set.
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || self.annotations.all(k, size(self.annotations[k]) <= 4096)",message="signal annotation values must be at most 4096 characters"
// +kubebuilder:validation:XValidation:rule="!has(self.labels) || self.labels.all(k, size(self.labels[k]) <= 1024)",message="signal label values must be at most 1024 characters"
type Signal struct {
	// Fingerprint is Alertmanager's fingerprint of the alert's label set: 16 lowercase hex
	// digits (FNV-1a 64 over the sorted labels). It is the identity of the alert.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{16}$`
	Fingerprint string `json:"fingerprint"`

	// Name is the alert's name (the `alertname` label).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Source is where the signal came from.
	// +kubebuilder:default=alertmanager
	Source SignalSource `json:"source"`

	// Severity is the normalised severity (critical, warning, info, unknown).
	// +kubebuilder:default=unknown
	Severity Severity `json:"severity"`

	// Labels are the alert's labels, at most 64 of them.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations are the alert's annotations (summary, description, runbook_url…), at most
	// 32 of them, each value at most 4096 characters. They are untrusted text.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Annotations map[string]string `json:"annotations,omitempty"`

	// StartsAt is when the alert started firing, as Alertmanager reported it.
	StartsAt metav1.Time `json:"startsAt"`

	// GeneratorURL links to the expression that raised the alert (Prometheus' graph link).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	GeneratorURL string `json:"generatorURL,omitempty"`

	// ExternalURL is the URL of the Alertmanager that sent the alert.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	ExternalURL string `json:"externalURL,omitempty"`

	// GroupKey is Alertmanager's opaque key of the aggregation group the alert was sent in.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	GroupKey string `json:"groupKey,omitempty"`

	// Receiver is the Alertmanager receiver that delivered the alert (regexp-quoted by
	// Alertmanager).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Receiver string `json:"receiver,omitempty"`
}

// TargetKind is the kind of Kubernetes object a signal or an action is about.
// +kubebuilder:validation:Enum=Pod;Deployment;StatefulSet;DaemonSet;ReplicaSet;Job;HorizontalPodAutoscaler;PersistentVolumeClaim;Service;ConfigMap;Node;Namespace
type TargetKind string

// The kinds a target can have.
const (
	TargetKindPod                     TargetKind = "Pod"
	TargetKindDeployment              TargetKind = "Deployment"
	TargetKindStatefulSet             TargetKind = "StatefulSet"
	TargetKindDaemonSet               TargetKind = "DaemonSet"
	TargetKindReplicaSet              TargetKind = "ReplicaSet"
	TargetKindJob                     TargetKind = "Job"
	TargetKindHorizontalPodAutoscaler TargetKind = "HorizontalPodAutoscaler"
	TargetKindPersistentVolumeClaim   TargetKind = "PersistentVolumeClaim"
	TargetKindService                 TargetKind = "Service"
	TargetKindConfigMap               TargetKind = "ConfigMap"
	TargetKindNode                    TargetKind = "Node"
	TargetKindNamespace               TargetKind = "Namespace"
)

// IsClusterScoped reports whether objects of this kind have no namespace.
func (k TargetKind) IsClusterScoped() bool {
	return k == TargetKindNode || k == TargetKindNamespace
}

// Target names one Kubernetes object. Namespaced kinds need a namespace; Node and Namespace
// must not have one.
// +kubebuilder:validation:XValidation:rule="(self.kind == 'Node' || self.kind == 'Namespace') ? !has(self.__namespace__) : has(self.__namespace__)",message="namespace is required for namespaced kinds and must be empty for Node and Namespace"
type Target struct {
	// Kind of the object.
	Kind TargetKind `json:"kind"`

	// Namespace of the object; empty for Node and Namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// String renders the target as kind/namespace/name (kind/name when cluster-scoped).
func (t Target) String() string {
	if t.Namespace == "" {
		return string(t.Kind) + "/" + t.Name
	}
	return string(t.Kind) + "/" + t.Namespace + "/" + t.Name
}

// LabelTargetHash labels a WorkflowExecution with its target's Hash, so that the plans of one
// target are found with a label selector instead of by reading every plan.
const LabelTargetHash = "kubernaut.io/target-hash"

// Hash is a short stable name of the target: FNV-64a of String, 16 hex digits, fit for a
// label value or a resource name. Different targets may share one (rarely): compare the
// targets themselves after selecting by it.
func (t Target) Hash() string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.String()))
	return fmt.Sprintf("%016x", h.Sum64())
}

// MemberTarget is one alert folded into a storm remediation: the target it was about and
// the fingerprint of the alert.
type MemberTarget struct {
	// Target the member alert was about.
	Target Target `json:"target"`

	// Fingerprint of the member alert.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{16}$`
	Fingerprint string `json:"fingerprint"`
}

// Deduplication counts the deliveries of one alert occurrence that the gateway folded into
// one RemediationRequest.
// +kubebuilder:validation:XValidation:rule="self.count >= oldSelf.count",message="deduplication count never decreases"
// +kubebuilder:validation:XValidation:rule="self.lastSeen >= self.firstSeen",message="deduplication lastSeen must not be before firstSeen"
type Deduplication struct {
	// FirstSeen is when the gateway first received this occurrence.
	FirstSeen metav1.Time `json:"firstSeen"`

	// LastSeen is when the gateway last received this occurrence.
	LastSeen metav1.Time `json:"lastSeen"`

	// Count is how many deliveries of this occurrence the gateway received.
	// +kubebuilder:validation:Minimum=1
	Count int64 `json:"count"`
}

// ObjectReference points at an object by API version, kind, namespace and name.
type ObjectReference struct {
	// APIVersion of the object, e.g. apps/v1.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the object.
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// Namespace of the object; empty when cluster-scoped.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// Name of the object.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// UID of the object, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid,omitempty"`
}

// LocalReference names an object in the same namespace.
type LocalReference struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
