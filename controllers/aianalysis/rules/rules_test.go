package rules

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

var start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(start.Add(d)); return &t }

var deploy = kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}

func workload() *kubernautv1.WorkloadState {
	return &kubernautv1.WorkloadState{Target: deploy, Replicas: ptr.To[int32](3), AvailableReplicas: 3,
		Containers: []kubernautv1.ContainerSpecSummary{{Name: "app", Image: "web:2", MemoryLimit: ptr.To(resource.MustParse("512Mi"))}}}
}

func crashing(reason string) kubernautv1.PodState {
	return kubernautv1.PodState{Name: "web-1", Phase: "Running", Containers: []kubernautv1.ContainerState{{Name: "app", Reason: "CrashLoopBackOff", RestartCount: 7, LastTerminationReason: reason}}}
}

func analysis(target kubernautv1.Target, alert string, e *kubernautv1.Enrichment) *kubernautv1.AIAnalysis {
	return gen.AIAnalysis("shop", "rr-1-aia", func(a *kubernautv1.AIAnalysis) {
		a.Spec.Target, a.Spec.Enrichment = target, e
		a.Spec.Signal.Name, a.Spec.Signal.StartsAt = alert, metav1.NewTime(start)
		a.Spec.Signal.Labels["alertname"] = alert
	})
}

func TestSituations(t *testing.T) {
	pod := kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}
	for _, tc := range []struct {
		name       string
		aia        *kubernautv1.AIAnalysis
		actions    []kubernautv1.ActionName
		confidence float64
		evidence   string
		check      func(t *testing.T, steps []kubernautv1.PlanStep)
	}{
		{"node not ready", analysis(kubernautv1.Target{Kind: "Node", Name: "w1"}, "KubeNodeNotReady", &kubernautv1.Enrichment{
			Node: &kubernautv1.NodeState{Name: "w1", Conditions: []kubernautv1.ObservedCondition{{Type: "Ready", Status: "Unknown", Reason: "NodeStatusUnknown"}}}}),
			[]kubernautv1.ActionName{"cordon_node", "drain_node"}, 0.85, "condition Ready=Unknown",
			func(t *testing.T, s []kubernautv1.PlanStep) {
				if len(s[1].DependsOn) != 1 || s[1].DependsOn[0] != "cordon" {
					t.Errorf("drain must wait for the cordon: %v", s[1].DependsOn)
				}
			}},
		{"OOM kill with a limit", analysis(pod, "KubePodCrashLooping", &kubernautv1.Enrichment{Workload: workload(), Pods: []kubernautv1.PodState{crashing("OOMKilled")}}),
			[]kubernautv1.ActionName{"increase_memory_limit"}, 0.9, "memory limit of 512Mi",
			func(t *testing.T, s []kubernautv1.PlanStep) {
				p := s[0].Parameters.IncreaseMemoryLimit
				if p.Container != "app" || p.Percent != 50 || p.MaxLimit.String() != "8Gi" || s[0].Target != deploy {
					t.Errorf("parameters %+v target %v", p, s[0].Target)
				}
			}},
		{"OOM kill without a limit", analysis(pod, "KubePodCrashLooping", &kubernautv1.Enrichment{
			Workload: &kubernautv1.WorkloadState{Target: deploy, Containers: []kubernautv1.ContainerSpecSummary{{Name: "app"}}}, Pods: []kubernautv1.PodState{crashing("OOMKilled")}}),
			nil, 0.6, "declares no memory limit", nil},
		{"crash loop right after a rollout", analysis(pod, "KubePodCrashLooping", &kubernautv1.Enrichment{Workload: workload(), Pods: []kubernautv1.PodState{crashing("Error")},
			Rollouts: []kubernautv1.RolloutRevision{{Revision: 8, Name: "web-8", CreatedAt: at(-4 * time.Minute), Images: []string{"web:2"}}, {Revision: 7, Name: "web-7", CreatedAt: at(-72 * time.Hour), Images: []string{"web:1"}}}}),
			[]kubernautv1.ActionName{"rollback_deployment"}, 0.92, "revision 8 (web:2) was created", nil},
		{"unschedulable replicas", analysis(deploy, "KubeDeploymentReplicasMismatch", &kubernautv1.Enrichment{
			Workload: &kubernautv1.WorkloadState{Target: deploy, Replicas: ptr.To[int32](3), AvailableReplicas: 1},
			Pods:     []kubernautv1.PodState{{Name: "web-2", Phase: "Pending", Reason: "Unschedulable"}},
			Events:   []kubernautv1.EventSummary{{Type: "Warning", Reason: "FailedScheduling", Object: "Pod/web-2", Message: "0/3 nodes are available: 3 Insufficient cpu."}}}),
			nil, 0.8, "Insufficient cpu", nil},
		{"HPA at its maximum", analysis(kubernautv1.Target{Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"}, "KubeHpaMaxedOut", &kubernautv1.Enrichment{
			Workload: workload(), HPA: &kubernautv1.HPAState{Name: "web", MinReplicas: ptr.To[int32](2), MaxReplicas: 4, CurrentReplicas: 4, DesiredReplicas: 6}}),
			[]kubernautv1.ActionName{"update_hpa"}, 0.75, "desired 6, max 4",
			func(t *testing.T, s []kubernautv1.PlanStep) {
				if p := s[0].Parameters.UpdateHPA; p.MaxReplicas != 6 || *p.MinReplicas != 2 {
					t.Errorf("parameters %+v", p)
				}
			}},
		{"one pod stuck not ready", analysis(pod, "KubePodNotReady", &kubernautv1.Enrichment{Workload: workload(), Pods: []kubernautv1.PodState{
			{Name: "web-1", Phase: "Running", NodeName: "w1"}, {Name: "web-2", Phase: "Running", Ready: true}, {Name: "web-3", Phase: "Running", Ready: true}}}),
			[]kubernautv1.ActionName{"delete_pod"}, 0.85, "2 other pods", nil},
		{"pods behind a Service not ready in two of its three workloads", analysis(svc, "KubeServiceEndpointsDown", &kubernautv1.Enrichment{
			Backends: []kubernautv1.BackendState{backend("Deployment", "api", 2, 2, false), backend("Deployment", "web", 3, 1, false), backend("StatefulSet", "web", 2, 0, false)},
			Pods:     []kubernautv1.PodState{{Name: "web-1", Phase: "Running"}, {Name: "web-0", Phase: "Running"}, {Name: "api-1", Phase: "Running", Ready: true}}}),
			[]kubernautv1.ActionName{"restart_deployment", "restart_deployment"}, 0.75, "Deployment/shop/api has 2 of 2 replicas ready: left alone",
			func(t *testing.T, s []kubernautv1.PlanStep) {
				if s[0].Name != "restart-web" || s[1].Name != "restart-web-2" || s[0].Target.Kind != "Deployment" || s[1].Target.Kind != "StatefulSet" {
					t.Errorf("steps %s %v, %s %v", s[0].Name, s[0].Target, s[1].Name, s[1].Target)
				}
				for _, st := range s {
					if len(st.DependsOn) != 0 {
						t.Errorf("step %s depends on %v: the restarts are independent", st.Name, st.DependsOn)
					}
				}
			}},
		{"pods behind a Service not ready while one workload rolls out", analysis(svc, "KubeServiceEndpointsDown", &kubernautv1.Enrichment{
			Backends: []kubernautv1.BackendState{backend("Deployment", "web", 3, 1, true)},
			Pods:     []kubernautv1.PodState{{Name: "web-1", Phase: "Running"}}}),
			nil, 0.2, "none of the built-in situations", nil},
		{"pods behind a Service waiting to be scheduled", analysis(svc, "KubeServiceEndpointsDown", &kubernautv1.Enrichment{
			Backends: []kubernautv1.BackendState{backend("Deployment", "web", 3, 1, false)},
			Pods:     []kubernautv1.PodState{{Name: "web-1", Phase: "Pending", Reason: "Unschedulable"}, {Name: "web-2", Phase: "Running"}}}),
			nil, 0.2, "none of the built-in situations", nil},
		{"pods behind a Service crash-looping", analysis(svc, "KubeServiceEndpointsDown", &kubernautv1.Enrichment{
			Backends: []kubernautv1.BackendState{backend("Deployment", "web", 3, 1, false)},
			Pods:     []kubernautv1.PodState{crashing("Error")}}),
			nil, 0.4, "no rollout", nil},
		{"errors right after a ConfigMap change", analysis(pod, "KubePodNotReady", &kubernautv1.Enrichment{Workload: workload(),
			Pods:       []kubernautv1.PodState{{Name: "web-1", Phase: "Running"}},
			ConfigMaps: []kubernautv1.ConfigMapState{{Name: "web-config", LastUpdated: at(-2 * time.Minute)}}}),
			nil, 0.5, "ConfigMap web-config changed", nil},
		{"crash loop without a change", analysis(pod, "KubePodCrashLooping", &kubernautv1.Enrichment{Workload: workload(), Pods: []kubernautv1.PodState{crashing("Error")},
			Rollouts: []kubernautv1.RolloutRevision{{Revision: 1, CreatedAt: at(-72 * time.Hour)}}}),
			nil, 0.4, "no rollout", nil},
		{"anything else", analysis(pod, "Watchdog", nil), nil, 0.2, "none of the built-in situations", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New().Analyze(context.Background(), tc.aia)
			if err != nil {
				t.Fatal(err)
			}
			var actions []kubernautv1.ActionName
			for _, s := range res.Recommendation.Steps {
				actions = append(actions, s.Action)
			}
			if strings.Join(toStrings(actions), ",") != strings.Join(toStrings(tc.actions), ",") {
				t.Fatalf("actions %v, want %v (root cause: %s)", actions, tc.actions, res.RootCause.Summary)
			}
			if res.RootCause.Confidence != tc.confidence {
				t.Errorf("confidence %v, want %v", res.RootCause.Confidence, tc.confidence)
			}
			var facts []string
			for _, e := range res.RootCause.Evidence {
				facts = append(facts, e.Fact)
			}
			if !strings.Contains(strings.Join(facts, " | "), tc.evidence) {
				t.Errorf("evidence %q does not cite %q", facts, tc.evidence)
			}
			if tc.check != nil {
				tc.check(t, res.Recommendation.Steps)
			}
		})
	}
}

var svc = kubernautv1.Target{Kind: "Service", Namespace: "shop", Name: "front"}

func backend(kind kubernautv1.TargetKind, name string, replicas, ready int32, rolling bool) kubernautv1.BackendState {
	return kubernautv1.BackendState{Target: kubernautv1.Target{Kind: kind, Namespace: "shop", Name: name}, Replicas: replicas, ReadyReplicas: ready, RolloutInProgress: rolling}
}

func TestStepName(t *testing.T) {
	taken := map[string]bool{}
	for _, tc := range []struct{ name, want string }{
		{"web", "restart-web"},
		{"web", "restart-web-2"},
		{"Web.v2_blue", "restart-web-v2-blue"},
		{"a-very-long-workload-name-that-goes-on-and-on", "restart-a-very-long-workload-name-th"},
		{"a-very-long-workload-name-that-goes-on-and-on", "restart-a-very-long-workload-name-th-2"},
		{"-", "restart"},
	} {
		if got := stepName("restart", tc.name, taken); got != tc.want {
			t.Errorf("stepName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func toStrings(a []kubernautv1.ActionName) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = string(x)
	}
	return out
}
