package facts

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func TestOf(t *testing.T) {
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
	got := Of(e, start)
	want := Facts{OOMKilled: true, CrashLooping: true, NotReadyPods: 1, ReplicasMissing: 2, HPAAtMax: true,
		NodePressure: true, RolloutInProgress: true, RecentRollout: true, ConfigChangedRecently: true}
	if got != want {
		t.Fatalf("Of = %+v\nwant      %+v", got, want)
	}

	quiet := Of(&kubernautv1.Enrichment{
		Node:     &kubernautv1.NodeState{Conditions: []kubernautv1.ObservedCondition{{Type: "Ready", Status: "Unknown"}, {Type: "MemoryPressure", Status: "False"}}},
		Rollouts: []kubernautv1.RolloutRevision{{Revision: 1, CreatedAt: at(-time.Minute)}},
		HPA:      &kubernautv1.HPAState{MaxReplicas: 5, CurrentReplicas: 5, DesiredReplicas: 3},
	}, start)
	if !quiet.NodeNotReady || quiet.NodePressure || quiet.RecentRollout || quiet.HPAAtMax {
		t.Fatalf("a first revision is no rollout, an HPA that wants fewer is not at its max, Unknown is not Ready: %+v", quiet)
	}
	// A real kubelet's crash loop: between back-offs the container is Running or Terminated
	// (Error), rarely Waiting in CrashLoopBackOff; its restarts and the kubelet's BackOff
	// events say it.
	for name, e := range map[string]*kubernautv1.Enrichment{
		"restarts after errors": {Pods: []kubernautv1.PodState{{Name: "a", Containers: []kubernautv1.ContainerState{
			{Name: "app", State: "Running", RestartCount: 3, LastTerminationReason: "Error"}}}}},
		"the kubelet's BackOff event": {Events: []kubernautv1.EventSummary{{Reason: "BackOff", Object: "Pod/a",
			Message: "Back-off restarting failed container app in pod a_shop(0d1e)"}}},
	} {
		if !Of(e, start).CrashLooping {
			t.Errorf("%s: not seen as a crash loop", name)
		}
	}
	for name, e := range map[string]*kubernautv1.Enrichment{
		"one restart":              {Pods: []kubernautv1.PodState{{Name: "a", Containers: []kubernautv1.ContainerState{{Name: "app", RestartCount: 1, LastTerminationReason: "Error"}}}}},
		"restarts that completed":  {Pods: []kubernautv1.PodState{{Name: "a", Containers: []kubernautv1.ContainerState{{Name: "app", RestartCount: 5, LastTerminationReason: "Completed"}}}}},
		"a back-off pulling image": {Events: []kubernautv1.EventSummary{{Reason: "BackOff", Message: "Back-off pulling image \"shop/web:2.0\""}}},
	} {
		if Of(e, start).CrashLooping {
			t.Errorf("%s: seen as a crash loop", name)
		}
	}
	if Of(nil, start) != (Facts{}) {
		t.Fatal("no enrichment, no facts")
	}
}
