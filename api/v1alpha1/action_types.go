package v1alpha1

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ActionName names an action of the catalog. Nothing outside the catalog can be recommended,
// planned or executed.
// +kubebuilder:validation:Enum=restart_pod;delete_pod;restart_deployment;scale_deployment;rollback_deployment;update_config;update_hpa;increase_memory_limit;cordon_node;uncordon_node;drain_node;restart_service;clear_cache;custom_script
type ActionName string

// The actions of the catalog.
const (
	ActionRestartPod          ActionName = "restart_pod"
	ActionDeletePod           ActionName = "delete_pod"
	ActionRestartDeployment   ActionName = "restart_deployment"
	ActionScaleDeployment     ActionName = "scale_deployment"
	ActionRollbackDeployment  ActionName = "rollback_deployment"
	ActionUpdateConfig        ActionName = "update_config"
	ActionUpdateHPA           ActionName = "update_hpa"
	ActionIncreaseMemoryLimit ActionName = "increase_memory_limit"
	ActionCordonNode          ActionName = "cordon_node"
	ActionUncordonNode        ActionName = "uncordon_node"
	ActionDrainNode           ActionName = "drain_node"
	ActionRestartService      ActionName = "restart_service"
	ActionClearCache          ActionName = "clear_cache"
	ActionCustomScript        ActionName = "custom_script"
)

// DNSName is the action's name with dashes (rollback-deployment), for object names, template
// names and labels.
func (a ActionName) DNSName() string { return strings.ReplaceAll(string(a), "_", "-") }

// Actions lists every action of the catalog, in a stable order.
var Actions = []ActionName{
	ActionRestartPod, ActionDeletePod, ActionRestartDeployment, ActionScaleDeployment,
	ActionRollbackDeployment, ActionUpdateConfig, ActionUpdateHPA, ActionIncreaseMemoryLimit,
	ActionCordonNode, ActionUncordonNode, ActionDrainNode, ActionRestartService,
	ActionClearCache, ActionCustomScript,
}

// ActionStep is one action applied to one target with its typed parameters. Each action has
// its own parameter block, named after it; a block must match the step's action.
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.deletePod) || self.action == 'delete_pod'",message="parameters.deletePod is only valid for action delete_pod"
// +kubebuilder:validation:XValidation:rule="self.action != 'scale_deployment' || (has(self.parameters) && has(self.parameters.scaleDeployment))",message="action scale_deployment needs parameters.scaleDeployment"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.scaleDeployment) || self.action == 'scale_deployment'",message="parameters.scaleDeployment is only valid for action scale_deployment"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.rollbackDeployment) || self.action == 'rollback_deployment'",message="parameters.rollbackDeployment is only valid for action rollback_deployment"
// +kubebuilder:validation:XValidation:rule="self.action != 'update_config' || (has(self.parameters) && has(self.parameters.updateConfig))",message="action update_config needs parameters.updateConfig"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.updateConfig) || self.action == 'update_config'",message="parameters.updateConfig is only valid for action update_config"
// +kubebuilder:validation:XValidation:rule="self.action != 'update_hpa' || (has(self.parameters) && has(self.parameters.updateHPA))",message="action update_hpa needs parameters.updateHPA"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.updateHPA) || self.action == 'update_hpa'",message="parameters.updateHPA is only valid for action update_hpa"
// +kubebuilder:validation:XValidation:rule="self.action != 'increase_memory_limit' || (has(self.parameters) && has(self.parameters.increaseMemoryLimit))",message="action increase_memory_limit needs parameters.increaseMemoryLimit"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.increaseMemoryLimit) || self.action == 'increase_memory_limit'",message="parameters.increaseMemoryLimit is only valid for action increase_memory_limit"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.drainNode) || self.action == 'drain_node'",message="parameters.drainNode is only valid for action drain_node"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.clearCache) || self.action == 'clear_cache'",message="parameters.clearCache is only valid for action clear_cache"
// +kubebuilder:validation:XValidation:rule="self.action != 'custom_script' || (has(self.parameters) && has(self.parameters.customScript))",message="action custom_script needs parameters.customScript"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || !has(self.parameters.customScript) || self.action == 'custom_script'",message="parameters.customScript is only valid for action custom_script"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['restart_pod', 'delete_pod']) || self.target.kind == 'Pod'",message="restart_pod and delete_pod need a Pod target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['restart_deployment', 'increase_memory_limit', 'clear_cache']) || self.target.kind in ['Deployment', 'StatefulSet', 'DaemonSet']",message="restart_deployment, increase_memory_limit and clear_cache need a Deployment, StatefulSet or DaemonSet target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['scale_deployment']) || self.target.kind in ['Deployment', 'StatefulSet']",message="scale_deployment needs a Deployment or StatefulSet target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['rollback_deployment']) || self.target.kind == 'Deployment'",message="rollback_deployment needs a Deployment target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['update_config']) || self.target.kind == 'ConfigMap'",message="update_config needs a ConfigMap target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['update_hpa']) || self.target.kind == 'HorizontalPodAutoscaler'",message="update_hpa needs a HorizontalPodAutoscaler target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['cordon_node', 'uncordon_node', 'drain_node']) || self.target.kind == 'Node'",message="cordon_node, uncordon_node and drain_node need a Node target"
// +kubebuilder:validation:XValidation:rule="!(self.action in ['restart_service']) || self.target.kind == 'Service'",message="restart_service needs a Service target"
type ActionStep struct {
	// Action is the catalog action to run.
	Action ActionName `json:"action"`

	// Target is the object the action changes.
	Target Target `json:"target"`

	// Parameters are the action's typed parameters: at most the one block named after the
	// action. Actions without parameters (restart_pod, restart_deployment, cordon_node,
	// uncordon_node, restart_service) take none.
	// +optional
	Parameters *ActionParameters `json:"parameters,omitempty"`
}

// ActionParameters holds the typed parameters of one action. Exactly the block named after
// the step's action may be set.
// +kubebuilder:validation:MaxProperties=1
type ActionParameters struct {
	// DeletePod are the parameters of delete_pod.
	// +optional
	DeletePod *DeletePodParameters `json:"deletePod,omitempty"`

	// ScaleDeployment are the parameters of scale_deployment.
	// +optional
	ScaleDeployment *ScaleDeploymentParameters `json:"scaleDeployment,omitempty"`

	// RollbackDeployment are the parameters of rollback_deployment.
	// +optional
	RollbackDeployment *RollbackDeploymentParameters `json:"rollbackDeployment,omitempty"`

	// UpdateConfig are the parameters of update_config.
	// +optional
	UpdateConfig *UpdateConfigParameters `json:"updateConfig,omitempty"`

	// UpdateHPA are the parameters of update_hpa.
	// +optional
	UpdateHPA *UpdateHPAParameters `json:"updateHPA,omitempty"`

	// IncreaseMemoryLimit are the parameters of increase_memory_limit.
	// +optional
	IncreaseMemoryLimit *IncreaseMemoryLimitParameters `json:"increaseMemoryLimit,omitempty"`

	// DrainNode are the parameters of drain_node.
	// +optional
	DrainNode *DrainNodeParameters `json:"drainNode,omitempty"`

	// ClearCache are the parameters of clear_cache.
	// +optional
	ClearCache *ClearCacheParameters `json:"clearCache,omitempty"`

	// CustomScript are the parameters of custom_script.
	// +optional
	CustomScript *CustomScriptParameters `json:"customScript,omitempty"`
}

// DeletePodParameters tune delete_pod.
type DeletePodParameters struct {
	// GracePeriodSeconds overrides the pod's termination grace period. Zero is refused: a
	// pod is never force-deleted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// ScaleDeploymentParameters set the replica count through the scale subresource.
type ScaleDeploymentParameters struct {
	// Replicas is the desired replica count.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas int32 `json:"replicas"`
}

// RollbackDeploymentParameters choose the revision to roll back to.
type RollbackDeploymentParameters struct {
	// ToRevision is the revision to roll back to; 0 (the default) means the previous one,
	// as `kubectl rollout undo` does.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ToRevision int64 `json:"toRevision,omitempty"`
}

// UpdateConfigParameters patch a ConfigMap's data. The previous data is kept for the inverse.
// +kubebuilder:validation:XValidation:rule="(has(self.data) && size(self.data) > 0) || (has(self.removeKeys) && size(self.removeKeys) > 0)",message="updateConfig needs data to set or keys to remove"
type UpdateConfigParameters struct {
	// Data are the keys to set and their new values.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 65536)",message="updateConfig values must be at most 65536 characters"
	Data map[string]string `json:"data,omitempty"`

	// RemoveKeys are the keys to delete.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	RemoveKeys []string `json:"removeKeys,omitempty"`
}

// UpdateHPAParameters set a HorizontalPodAutoscaler's bounds, within the policy's limits.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="updateHPA minReplicas must not exceed maxReplicas"
type UpdateHPAParameters struct {
	// MinReplicas is the new lower bound; unchanged when omitted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the new upper bound.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`
}

// IncreaseMemoryLimitParameters raise containers' memory limits by a bounded factor.
type IncreaseMemoryLimitParameters struct {
	// Container is the container to change; all containers that have a memory limit when
	// empty.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`

	// Percent is how much to raise the limit by: 50 makes 512Mi into 768Mi. Bounded to
	// 1–200 (at most tripling the limit).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	Percent int32 `json:"percent"`

	// MaxLimit caps the resulting limit, whatever the percentage gives.
	// +optional
	MaxLimit *resource.Quantity `json:"maxLimit,omitempty"`
}

// DrainNodeParameters tune drain_node (k8s.io/kubectl/pkg/drain: eviction API, PDBs
// respected).
type DrainNodeParameters struct {
	// TimeoutSeconds bounds the whole drain; evictions refused by a PodDisruptionBudget are
	// retried until then.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`

	// GracePeriodSeconds overrides each pod's termination grace period; the pod's own when
	// omitted.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// DeleteEmptyDirData allows evicting pods that use emptyDir volumes (their data is lost).
	// +optional
	DeleteEmptyDirData bool `json:"deleteEmptyDirData,omitempty"`
}

// ClearCacheParameters choose the container whose declared cache-clearing command runs.
type ClearCacheParameters struct {
	// Container runs the command declared in the workload's
	// `kubernaut.io/clear-cache-command` annotation; the first container when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`
}

// CustomScriptParameters run an allow-listed image in a Job of its own. Off by default.
type CustomScriptParameters struct {
	// Image is the container image to run; it must be on the operator's allow-list.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Args are the arguments passed to the image's entrypoint.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	Args []string `json:"args,omitempty"`

	// TimeoutSeconds bounds the Job.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
}

// PlanStep is one step of a remediation plan: an action with a name and the steps it waits
// for.
type PlanStep struct {
	// Name identifies the step inside its plan; it becomes the Argo DAG task name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	ActionStep `json:",inline"`

	// DependsOn lists the steps that must succeed before this one runs.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=40
	// +listType=set
	DependsOn []string `json:"dependsOn,omitempty"`

	// Rationale says why this step is part of the plan.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Rationale string `json:"rationale,omitempty"`
}

// PreState is what an action recorded of its target before changing it, so that its inverse
// can restore it. Only the fields the action touches are set.
type PreState struct {
	// CapturedAt is when the state was read.
	CapturedAt metav1.Time `json:"capturedAt"`

	// ResourceVersion of the target when the state was read.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResourceVersion string `json:"resourceVersion,omitempty"`

	// UID of the target when the state was read (restart_pod, delete_pod): the delete names
	// it as a precondition, so a retried delete never removes the pod that replaced it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid,omitempty"`

	// Replicas was the replica count (scale_deployment).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Revision was the Deployment's revision (rollback_deployment).
	// +optional
	Revision *int64 `json:"revision,omitempty"`

	// ReplicaSet was the Deployment's current ReplicaSet (rollback_deployment: the inverse
	// restores its template), or the ReplicaSet owning the pod (restart_pod, delete_pod: the
	// verification waits for it to be ready again).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ReplicaSet string `json:"replicaSet,omitempty"`

	// TargetReplicaSet is the ReplicaSet whose template rollback_deployment restores,
	// resolved when the state was read, so that a retried execution makes the same change.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	TargetReplicaSet string `json:"targetReplicaSet,omitempty"`

	// RestartedAt was the `kubectl.kubernetes.io/restartedAt` pod-template annotation
	// (restart_deployment, restart_service).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RestartedAt string `json:"restartedAt,omitempty"`

	// ConfigData was the ConfigMap's data for the keys update_config changes or removes;
	// a key absent here did not exist.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	ConfigData map[string]string `json:"configData,omitempty"`

	// MinReplicas was the HorizontalPodAutoscaler's lower bound (update_hpa).
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas was the HorizontalPodAutoscaler's upper bound (update_hpa).
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`

	// MemoryLimits were the containers' memory limits (increase_memory_limit).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	MemoryLimits map[string]resource.Quantity `json:"memoryLimits,omitempty"`

	// Unschedulable was the Node's spec.unschedulable (cordon_node, drain_node).
	// +optional
	Unschedulable *bool `json:"unschedulable,omitempty"`
}

// JoinActions lists actions for people: "rollback_deployment, restart_deployment" ("" for
// none).
func JoinActions(as []ActionName) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return strings.Join(out, ", ")
}

// StepActions are the steps' actions, in order.
func StepActions(steps []PlanStep) []ActionName {
	out := make([]ActionName, len(steps))
	for i, s := range steps {
		out[i] = s.Action
	}
	return out
}
