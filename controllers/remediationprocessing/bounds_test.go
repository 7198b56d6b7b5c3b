package remediationprocessing

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestWorstCaseEnrichmentFitsAnObject fills every list of an Enrichment to the bounds the
// enrichment code keeps, every string to its API maximum, and checks the result stays far below
// etcd's 1.5 MiB object limit — the AIAnalysis carries a copy in its spec.
func TestWorstCaseEnrichmentFitsAnObject(t *testing.T) {
	s := func(n int) string { return strings.Repeat("x", n) }
	now := metav1.Now()
	q := resource.MustParse("16Gi")
	cond := kubernautv1.ObservedCondition{Type: s(128), Status: s(16), Reason: s(128), Message: s(512), LastTransitionTime: &now}
	target := kubernautv1.Target{Kind: "Deployment", Namespace: s(63), Name: s(253)}
	e := &kubernautv1.Enrichment{Workload: &kubernautv1.WorkloadState{Target: target, Replicas: ptr.To[int32](1)}, Node: &kubernautv1.NodeState{Name: s(253)},
		HPA: &kubernautv1.HPAState{Name: s(253)}, GitOps: &kubernautv1.GitOpsOwnership{Tool: "flux", Owner: s(512)}}
	for range 8 {
		e.OwnerChain = append(e.OwnerChain, target)
	}
	for range 10 {
		e.Workload.Conditions = append(e.Workload.Conditions, cond)
	}
	for range 20 {
		e.Workload.Containers = append(e.Workload.Containers, kubernautv1.ContainerSpecSummary{Name: s(63), Image: s(512), MemoryLimit: &q, MemoryRequest: &q, CPULimit: &q, CPURequest: &q})
	}
	for range 16 {
		e.Workload.Annotations = map[string]string{}
	}
	for i := range 16 {
		e.Workload.Annotations[s(40)+string(rune('a'+i))] = s(1024)
	}
	for range maxPods {
		p := kubernautv1.PodState{Name: s(253), Phase: s(32), NodeName: s(253), Reason: s(128), StartedAt: &now}
		for range maxPodContainers {
			p.Containers = append(p.Containers, kubernautv1.ContainerState{Name: s(63), State: "Waiting", Reason: s(128), LastTerminationReason: s(128),
				LastTerminationExitCode: ptr.To[int32](137), LastTerminatedAt: &now, RestartCount: 1 << 20})
		}
		e.Pods = append(e.Pods, p)
	}
	for range maxEvents {
		e.Events = append(e.Events, kubernautv1.EventSummary{Type: s(16), Reason: s(128), Message: s(maxMessage), Object: s(320), Count: 1 << 20, LastSeen: &now})
	}
	for range maxLogs {
		e.Logs = append(e.Logs, kubernautv1.LogTail{Pod: s(253), Container: s(63), Text: s(maxLogBytes)})
	}
	for range 16 {
		e.Node.Conditions = append(e.Node.Conditions, cond)
		e.Node.Taints = append(e.Node.Taints, s(512))
	}
	for range 8 {
		e.HPA.Conditions = append(e.HPA.Conditions, cond)
	}
	for range 10 {
		e.PodDisruptionBudgets = append(e.PodDisruptionBudgets, kubernautv1.PDBState{Name: s(253)})
		r := kubernautv1.RolloutRevision{Name: s(253), CreatedAt: &now, ChangeCause: s(512)}
		for range 20 {
			r.Images = append(r.Images, s(512))
		}
		e.Rollouts = append(e.Rollouts, r)
	}
	for range maxBackends {
		e.Backends = append(e.Backends, kubernautv1.BackendState{Target: target, Replicas: 1 << 20, ReadyReplicas: 1 << 20, RolloutInProgress: true})
	}
	for range maxConfigMaps {
		e.ConfigMaps = append(e.ConfigMaps, kubernautv1.ConfigMapState{Name: s(253), ResourceVersion: s(64), LastUpdated: &now})
	}
	for range 32 {
		e.FailedDetections = append(e.FailedDetections, kubernautv1.FailedDetection{Detection: s(63), Error: s(1024)})
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 768 << 10 // half of etcd's 1.5 MiB: room for the rest of the object
	t.Logf("worst-case enrichment: %d bytes", len(raw))
	if len(raw) > limit {
		t.Fatalf("a worst-case enrichment is %d bytes, more than %d", len(raw), limit)
	}
}
