// Package catalog describes the actions Kubernaut can take: for each, the kinds of target it
// applies to, its risk level and what it does. The analysis recommends only these; the
// approval policy weighs their risk. (The actions' execution, pre-state capture, verification
// and inverses join this package with the KubernetesExecution issue.)
package catalog

import (
	"fmt"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Risk is how much an action can hurt when it is wrong.
type Risk string

// The risk levels.
const (
	// RiskLow: restarts a single pod or the like; the workload keeps serving.
	RiskLow Risk = "low"
	// RiskMedium: changes a workload's pods, replicas or configuration; reversible.
	RiskMedium Risk = "medium"
	// RiskHigh: moves workloads off a node or runs custom code.
	RiskHigh Risk = "high"
)

// Action describes one catalog action.
type Action struct {
	// Name of the action.
	Name kubernautv1.ActionName
	// Risk of the action.
	Risk Risk
	// Targets are the kinds of object the action applies to.
	Targets []kubernautv1.TargetKind
	// Inverse is the action that undoes it from its pre-state ("" when nothing to undo).
	Inverse kubernautv1.ActionName
	// Description says what it does, for people and for the analyzer's prompt.
	Description string
}

var workloads = []kubernautv1.TargetKind{kubernautv1.TargetKindDeployment, kubernautv1.TargetKindStatefulSet, kubernautv1.TargetKindDaemonSet}

// Actions is the catalog, in the order of kubernautv1.Actions.
var Actions = []Action{
	{kubernautv1.ActionRestartPod, RiskLow, []kubernautv1.TargetKind{kubernautv1.TargetKindPod}, "", "delete one pod so that its controller recreates it"},
	{kubernautv1.ActionDeletePod, RiskLow, []kubernautv1.TargetKind{kubernautv1.TargetKindPod}, "", "delete one pod (never forced) so that its controller replaces it"},
	{kubernautv1.ActionRestartDeployment, RiskMedium, workloads, "", "rolling restart of a workload, as kubectl rollout restart"},
	{kubernautv1.ActionScaleDeployment, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindDeployment, kubernautv1.TargetKindStatefulSet}, kubernautv1.ActionScaleDeployment, "set the replica count (refused while an HPA owns it)"},
	{kubernautv1.ActionRollbackDeployment, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindDeployment}, kubernautv1.ActionRollbackDeployment, "roll a Deployment back to its previous revision, as kubectl rollout undo"},
	{kubernautv1.ActionUpdateConfig, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindConfigMap}, kubernautv1.ActionUpdateConfig, "patch keys of a ConfigMap; the previous data is kept for the inverse"},
	{kubernautv1.ActionUpdateHPA, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindHorizontalPodAutoscaler}, kubernautv1.ActionUpdateHPA, "change an HPA's min/max replicas within the policy's bounds"},
	{kubernautv1.ActionIncreaseMemoryLimit, RiskMedium, workloads, kubernautv1.ActionIncreaseMemoryLimit, "raise containers' memory limits by a bounded percentage (rolls the pods)"},
	{kubernautv1.ActionCordonNode, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindNode}, kubernautv1.ActionUncordonNode, "mark a node unschedulable"},
	{kubernautv1.ActionUncordonNode, RiskLow, []kubernautv1.TargetKind{kubernautv1.TargetKindNode}, kubernautv1.ActionCordonNode, "mark a node schedulable again"},
	{kubernautv1.ActionDrainNode, RiskHigh, []kubernautv1.TargetKind{kubernautv1.TargetKindNode}, kubernautv1.ActionUncordonNode, "evict a node's pods through the eviction API, respecting PodDisruptionBudgets"},
	{kubernautv1.ActionRestartService, RiskMedium, []kubernautv1.TargetKind{kubernautv1.TargetKindService}, "", "rolling restart of every workload behind a Service's selector"},
	{kubernautv1.ActionClearCache, RiskLow, workloads, "", "run the command the workload declares in its kubernaut.io/clear-cache-command annotation"},
	{kubernautv1.ActionCustomScript, RiskHigh, workloads, "", "run an allow-listed image in a Job of its own (off by default)"},
}

// Lookup returns the catalog entry of an action.
func Lookup(name kubernautv1.ActionName) (Action, error) {
	for _, a := range Actions {
		if a.Name == name {
			return a, nil
		}
	}
	return Action{}, fmt.Errorf("action %q is not in the catalog", name)
}

// AppliesTo reports whether the action can target objects of kind.
func (a Action) AppliesTo(kind kubernautv1.TargetKind) bool {
	for _, k := range a.Targets {
		if k == kind {
			return true
		}
	}
	return false
}
