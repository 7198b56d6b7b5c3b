package remediationprocessing

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func TestFactsOf(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(start.Add(d)); return &t }
	e := &kubernautv1.Enrichment{
		Workload: &kubernautv1.WorkloadState{Replicas: ptr.To[int32](3), AvailableReplicas: 1, RolloutInProgress: true},
		Pods: []kubernautv1.PodState{
			{Name: "a", Ready: false, Containers: []kubernautv1.ContainerState{{Name: "app", Reason: "CrashLoopBackOff", LastTerminationReason: "OOMKilled"}}},
			{Name: "b", Ready: true},
		},
		HPA:        &kubernautv1.HPAState{MaxReplicas: 5, CurrentReplicas: 5, DesiredReplicas: 7},
		Node:       &kubernautv1.NodeState{Conditions: []kubernautv1.ObservedCondition{{Type: "Ready", Status: "True"}, {Type: "DiskPressure", Status: "True"}}},
		Rollouts:   []kubernautv1.RolloutRevision{{Revision: 8, CreatedAt: at(-10 * time.Minute)}, {Revision: 7, CreatedAt: at(-48 * time.Hour)}},
		ConfigMaps: []kubernautv1.ConfigMapState{{Name: "old", LastUpdated: at(-72 * time.Hour)}, {Name: "fresh", LastUpdated: at(-3 * time.Minute)}},
	}
	got := FactsOf(e, start)
	want := Facts{OOMKilled: true, CrashLooping: true, NotReadyPods: 1, ReplicasMissing: 2, HPAAtMax: true,
		NodePressure: true, RolloutInProgress: true, RecentRollout: true, ConfigChangedRecently: true}
	if got != want {
		t.Fatalf("FactsOf = %+v\nwant      %+v", got, want)
	}

	quiet := FactsOf(&kubernautv1.Enrichment{
		Node:     &kubernautv1.NodeState{Conditions: []kubernautv1.ObservedCondition{{Type: "Ready", Status: "Unknown"}, {Type: "MemoryPressure", Status: "False"}}},
		Rollouts: []kubernautv1.RolloutRevision{{Revision: 1, CreatedAt: at(-time.Minute)}},
		HPA:      &kubernautv1.HPAState{MaxReplicas: 5, CurrentReplicas: 5, DesiredReplicas: 3},
	}, start)
	if !quiet.NodeNotReady || quiet.NodePressure || quiet.RecentRollout || quiet.HPAAtMax {
		t.Fatalf("a first revision is no rollout, an HPA that wants fewer is not at its max, Unknown is not Ready: %+v", quiet)
	}
	if FactsOf(nil, start) != (Facts{}) {
		t.Fatal("no enrichment, no facts")
	}
}
