// Package facts draws conclusions from a remediation's enrichment — a container
// crash-looping, OOM-killed, replicas missing, an HPA at its maximum — for the classification
// policy and the analyzers. They encode judgement that changes without an API change, so they
// live here, not in the API package, and in no controller: the processing and the analysis
// both read them.
package facts

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Facts are what the classification policy decides on besides the signal: conclusions
// drawn from the enrichment, computed here so that the policy stays short.
type Facts struct {
	OOMKilled             bool  `json:"oomKilled"`
	CrashLooping          bool  `json:"crashLooping"`
	NotReadyPods          int   `json:"notReadyPods"`
	ReplicasMissing       int32 `json:"replicasMissing"`
	HPAAtMax              bool  `json:"hpaAtMax"`
	NodeNotReady          bool  `json:"nodeNotReady"`
	NodePressure          bool  `json:"nodePressure"`
	RolloutInProgress     bool  `json:"rolloutInProgress"`
	RecentRollout         bool  `json:"recentRollout"`
	ConfigChangedRecently bool  `json:"configChangedRecently"`
}

// CrashLooping reports whether a container crash-loops. A real kubelet (1.37) reports the
// waiting reason CrashLoopBackOff only while the container waits out its back-off, and the
// status rarely reaches the API server then (seen on the real node: mostly Running or
// Terminated Error between crashes); repeated restarts after failures are the same loop.
func CrashLooping(c kubernautv1.ContainerState) bool {
	if c.Reason == "CrashLoopBackOff" {
		return true
	}
	failed := c.LastTerminationReason != "" && c.LastTerminationReason != "Completed"
	return c.RestartCount >= 2 && failed
}

// recentWindow is how long before the signal a rollout or a ConfigMap change counts as its
// likely cause.
const recentWindow = 30 * time.Minute

// Of draws the facts from an enrichment, for a signal that started at start.
func Of(e *kubernautv1.Enrichment, start time.Time) Facts {
	var f Facts
	if e == nil {
		return f
	}
	for _, p := range e.Pods {
		if !p.Ready {
			f.NotReadyPods++
		}
		for _, c := range p.Containers {
			f.OOMKilled = f.OOMKilled || c.LastTerminationReason == "OOMKilled" || (c.State == "Terminated" && c.Reason == "OOMKilled")
			f.CrashLooping = f.CrashLooping || CrashLooping(c)
		}
	}
	// The kubelet's own record of the back-off: it says BackOff on every restart it delays.
	for _, ev := range e.Events {
		f.CrashLooping = f.CrashLooping || (ev.Reason == "BackOff" && strings.Contains(ev.Message, "restarting failed container"))
	}
	if w := e.Workload; w != nil {
		f.RolloutInProgress = w.RolloutInProgress
		if w.Replicas != nil && *w.Replicas > w.AvailableReplicas {
			f.ReplicasMissing = *w.Replicas - w.AvailableReplicas
		}
	}
	if h := e.HPA; h != nil {
		f.HPAAtMax = h.MaxReplicas > 0 && h.CurrentReplicas >= h.MaxReplicas && h.DesiredReplicas >= h.MaxReplicas
	}
	if n := e.Node; n != nil {
		for _, c := range n.Conditions {
			switch {
			case c.Type == string(corev1.NodeReady) && c.Status != string(corev1.ConditionTrue):
				f.NodeNotReady = true
			case c.Type != string(corev1.NodeReady) && c.Status == string(corev1.ConditionTrue) &&
				(c.Type == string(corev1.NodeMemoryPressure) || c.Type == string(corev1.NodeDiskPressure) || c.Type == string(corev1.NodePIDPressure)):
				f.NodePressure = true
			}
		}
	}
	recent := func(t time.Time) bool {
		return !t.IsZero() && t.After(start.Add(-recentWindow)) && t.Before(start.Add(5*time.Minute))
	}
	if len(e.Rollouts) > 0 && e.Rollouts[0].CreatedAt != nil && len(e.Rollouts) > 1 {
		f.RecentRollout = recent(e.Rollouts[0].CreatedAt.Time)
	}
	for _, cm := range e.ConfigMaps {
		if cm.LastUpdated != nil && recent(cm.LastUpdated.Time) {
			f.ConfigChangedRecently = true
		}
	}
	return f
}
