package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Enrichment is the cluster context gathered for a signal. Every list is bounded; every
// lookup that failed is listed in FailedDetections and never taken as "nothing found".
type Enrichment struct {
	// Workload is the object at the top of the target's owner chain (the Deployment of a
	// Pod, say), or the target itself.
	// +optional
	Workload *WorkloadState `json:"workload,omitempty"`

	// OwnerChain is the chain from the target up to the workload, target first.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	OwnerChain []Target `json:"ownerChain,omitempty"`

	// Pods are the workload's pods (or the target pod), at most 50.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	Pods []PodState `json:"pods,omitempty"`

	// Events are recent Warning events about the target, the workload and its pods.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	Events []EventSummary `json:"events,omitempty"`

	// Logs are bounded tails of the failing containers' logs, secrets redacted.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	Logs []LogTail `json:"logs,omitempty"`

	// Node is the node the target runs on (or the target node).
	// +optional
	Node *NodeState `json:"node,omitempty"`

	// HPA is the HorizontalPodAutoscaler that scales the workload.
	// +optional
	HPA *HPAState `json:"hpa,omitempty"`

	// PodDisruptionBudgets that select the workload's pods.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	PodDisruptionBudgets []PDBState `json:"podDisruptionBudgets,omitempty"`

	// Rollouts are the workload's recent revisions (ReplicaSets), newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Rollouts []RolloutRevision `json:"rollouts,omitempty"`

	// ConfigMaps are the ConfigMaps the workload's pod template uses.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	ConfigMaps []ConfigMapState `json:"configMaps,omitempty"`

	// Backends are the workloads behind a Service target: the Deployments, StatefulSets and
	// DaemonSets in its namespace whose pod template its selector selects, sorted, at most 10.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Backends []BackendState `json:"backends,omitempty"`

	// GitOps records Argo CD or Flux ownership of the workload, if any.
	// +optional
	GitOps *GitOpsOwnership `json:"gitOps,omitempty"`

	// FailedDetections lists every lookup that failed, with why.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=detection
	FailedDetections []FailedDetection `json:"failedDetections,omitempty"`
}

// WorkloadState is the spec and status of a workload that matter for remediation.
type WorkloadState struct {
	// Target names the workload.
	Target Target `json:"target"`

	// Generation is the workload's metadata.generation.
	// +optional
	Generation int64 `json:"generation,omitempty"`

	// ObservedGeneration is the generation its controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Replicas desired.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// ReadyReplicas counted by the workload's controller.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// AvailableReplicas counted by the workload's controller.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// UpdatedReplicas counted by the workload's controller.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// RolloutInProgress is true while the workload's controller has not finished rolling out
	// its current spec (the `kubectl rollout status` rules).
	// +optional
	RolloutInProgress bool `json:"rolloutInProgress,omitempty"`

	// Revision is the current `deployment.kubernetes.io/revision` (Deployments).
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// Conditions are the workload's own conditions (type, status, reason), at most 10.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Conditions []ObservedCondition `json:"conditions,omitempty"`

	// Containers are the pod template's containers with their images and resources.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Containers []ContainerSpecSummary `json:"containers,omitempty"`

	// Annotations of the workload that Kubernaut reads (kubernaut.io/*), at most 16.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Annotations map[string]string `json:"annotations,omitempty"`
}

// BackendState is one workload behind a Service: its replicas and whether a rollout of a new
// spec is under way.
type BackendState struct {
	// Target names the workload.
	Target Target `json:"target"`

	// Replicas desired (for a DaemonSet, the nodes it should run on).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas counted by the workload's controller.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// RolloutInProgress is true while a new spec is still being rolled out (a newer
	// generation, or pods not yet updated) — not merely while pods are unavailable.
	// +optional
	RolloutInProgress bool `json:"rolloutInProgress,omitempty"`
}

// ObservedCondition is a condition read from another object.
type ObservedCondition struct {
	// Type of the condition.
	// +kubebuilder:validation:MaxLength=128
	Type string `json:"type"`

	// Status of the condition: True, False or Unknown.
	// +kubebuilder:validation:MaxLength=16
	Status string `json:"status"`

	// Reason of the condition.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// Message of the condition, truncated.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`

	// LastTransitionTime of the condition.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// ContainerSpecSummary is a pod template container's image and resources.
type ContainerSpecSummary struct {
	// Name of the container.
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Image of the container.
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// MemoryRequest of the container.
	// +optional
	MemoryRequest *resource.Quantity `json:"memoryRequest,omitempty"`

	// MemoryLimit of the container.
	// +optional
	MemoryLimit *resource.Quantity `json:"memoryLimit,omitempty"`

	// CPURequest of the container.
	// +optional
	CPURequest *resource.Quantity `json:"cpuRequest,omitempty"`

	// CPULimit of the container.
	// +optional
	CPULimit *resource.Quantity `json:"cpuLimit,omitempty"`
}

// PodState is a pod's phase, readiness, node and container states.
type PodState struct {
	// Name of the pod.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Phase of the pod.
	// +kubebuilder:validation:MaxLength=32
	Phase string `json:"phase"`

	// Ready is the pod's Ready condition.
	Ready bool `json:"ready"`

	// NodeName is where the pod is scheduled.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName,omitempty"`

	// Reason is the pod's status reason (Evicted, …) or its PodScheduled reason when
	// unschedulable.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// StartedAt is the pod's start time.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// Containers are the states of the pod's containers.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Containers []ContainerState `json:"containers,omitempty"`
}

// ContainerState is one container's state, restarts and last termination.
type ContainerState struct {
	// Name of the container.
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Ready is the container's readiness.
	Ready bool `json:"ready"`

	// RestartCount is how often the container restarted.
	RestartCount int32 `json:"restartCount"`

	// State is Running, Waiting or Terminated.
	// +kubebuilder:validation:Enum=Running;Waiting;Terminated;Unknown
	State string `json:"state"`

	// Reason of a Waiting or Terminated state (CrashLoopBackOff, ImagePullBackOff, …).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason,omitempty"`

	// LastTerminationReason is why the previous instance ended (OOMKilled, Error, …).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	LastTerminationReason string `json:"lastTerminationReason,omitempty"`

	// LastTerminationExitCode is the previous instance's exit code.
	// +optional
	LastTerminationExitCode *int32 `json:"lastTerminationExitCode,omitempty"`

	// LastTerminatedAt is when the previous instance ended.
	// +optional
	LastTerminatedAt *metav1.Time `json:"lastTerminatedAt,omitempty"`
}

// EventSummary is a Kubernetes event, truncated.
type EventSummary struct {
	// Type is Normal or Warning.
	// +kubebuilder:validation:MaxLength=16
	Type string `json:"type"`

	// Reason of the event (BackOff, FailedScheduling, …).
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// Message of the event, truncated to 1024 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// Object the event is about, as Kind/name.
	// +kubebuilder:validation:MaxLength=320
	Object string `json:"object"`

	// Count of occurrences.
	// +optional
	Count int32 `json:"count,omitempty"`

	// LastSeen is the last occurrence.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`
}

// LogTail is the end of one container's log, bounded and with secrets redacted.
type LogTail struct {
	// Pod the log is from.
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`

	// Container the log is from.
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container"`

	// Previous is true when the log is of an instance that ended: the previous one of a
	// container running or waiting after a restart, or the current one when it has ended too
	// (a crash loop in its back-off).
	// +optional
	Previous bool `json:"previous,omitempty"`

	// Text is the log tail, at most 8192 characters.
	// +kubebuilder:validation:MaxLength=8192
	Text string `json:"text"`

	// Redactions counts the secrets replaced in Text.
	// +optional
	Redactions int32 `json:"redactions,omitempty"`
}

// NodeState is a node's conditions and schedulability.
type NodeState struct {
	// Name of the node.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Unschedulable is the node's spec.unschedulable (cordoned).
	// +optional
	Unschedulable bool `json:"unschedulable,omitempty"`

	// Conditions are the node's conditions (Ready, MemoryPressure, DiskPressure, …).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Conditions []ObservedCondition `json:"conditions,omitempty"`

	// Taints are the node's taints as key=value:effect.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Taints []string `json:"taints,omitempty"`
}

// HPAState is a HorizontalPodAutoscaler's bounds and current state.
type HPAState struct {
	// Name of the HorizontalPodAutoscaler.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// MinReplicas bound.
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas bound.
	MaxReplicas int32 `json:"maxReplicas"`

	// CurrentReplicas as the HPA last saw them.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`

	// DesiredReplicas as the HPA last computed them.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`

	// Conditions of the HPA (AbleToScale, ScalingActive, ScalingLimited).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Conditions []ObservedCondition `json:"conditions,omitempty"`
}

// PDBState is a PodDisruptionBudget's current allowance.
type PDBState struct {
	// Name of the PodDisruptionBudget.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// DisruptionsAllowed now.
	DisruptionsAllowed int32 `json:"disruptionsAllowed"`

	// CurrentHealthy pods.
	CurrentHealthy int32 `json:"currentHealthy"`

	// DesiredHealthy pods.
	DesiredHealthy int32 `json:"desiredHealthy"`
}

// RolloutRevision is one revision of a workload (a ReplicaSet of a Deployment).
type RolloutRevision struct {
	// Revision number (`deployment.kubernetes.io/revision`).
	Revision int64 `json:"revision"`

	// Name of the ReplicaSet.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// CreatedAt is when the revision was created.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// Images of the revision's containers.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Images []string `json:"images,omitempty"`

	// Replicas of the revision now.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ChangeCause is the `kubernetes.io/change-cause` annotation.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ChangeCause string `json:"changeCause,omitempty"`
}

// ConfigMapState is a ConfigMap the workload uses and when it last changed.
type ConfigMapState struct {
	// Name of the ConfigMap.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// ResourceVersion of the ConfigMap when read.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResourceVersion string `json:"resourceVersion,omitempty"`

	// LastUpdated is the newest time in the ConfigMap's managed fields.
	// +optional
	LastUpdated *metav1.Time `json:"lastUpdated,omitempty"`
}

// GitOpsTool names a GitOps controller.
// +kubebuilder:validation:Enum=argocd;flux
type GitOpsTool string

const (
	// GitOpsArgoCD is Argo CD.
	GitOpsArgoCD GitOpsTool = "argocd"
	// GitOpsFlux is Flux.
	GitOpsFlux GitOpsTool = "flux"
)

// GitOpsOwnership records that a GitOps controller manages the workload: a change Kubernaut
// makes may be reverted by the next sync.
type GitOpsOwnership struct {
	// Tool is the GitOps controller.
	Tool GitOpsTool `json:"tool"`

	// Owner is the Argo CD Application or Flux Kustomization/HelmRelease, as namespace/name.
	// +kubebuilder:validation:MaxLength=512
	Owner string `json:"owner"`
}

// FailedDetection is a lookup that failed during enrichment.
type FailedDetection struct {
	// Detection names the lookup (pods, events, logs, node, hpa, pdb, rollouts, …).
	// +kubebuilder:validation:MaxLength=63
	Detection string `json:"detection"`

	// Error says why it failed.
	// +kubebuilder:validation:MaxLength=1024
	Error string `json:"error"`
}

// Environment classifies where a workload runs.
// +kubebuilder:validation:Enum=production;staging;development;unknown
type Environment string

// The environments.
const (
	EnvironmentProduction  Environment = "production"
	EnvironmentStaging     Environment = "staging"
	EnvironmentDevelopment Environment = "development"
	EnvironmentUnknown     Environment = "unknown"
)

// Priority orders remediations: P0 first.
// +kubebuilder:validation:Enum=P0;P1;P2;P3
type Priority string

// Criticality is a workload's business criticality.
// +kubebuilder:validation:Enum=high;medium;low;unknown
type Criticality string

// Classification is what the classification policy (Rego) decided about a signal.
type Classification struct {
	// Environment of the target (from namespace labels).
	Environment Environment `json:"environment"`

	// Severity after the policy's adjustments.
	Severity Severity `json:"severity"`

	// Priority of the remediation.
	Priority Priority `json:"priority"`

	// SignalType is the kind of problem (crashloop, oom-killed, node-not-ready, …).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	SignalType string `json:"signalType"`

	// BusinessCriticality of the workload.
	BusinessCriticality Criticality `json:"businessCriticality"`

	// Reasons are the policy's explanations, one per decision.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Reasons []string `json:"reasons,omitempty"`
}
