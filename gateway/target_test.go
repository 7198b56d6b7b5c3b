package gateway

import (
	"strings"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func TestExtractTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   kubernautv1.Target
		err    string
	}{
		{"pod beats the scrape service", map[string]string{"namespace": "shop", "pod": "web-1", "service": "kube-state-metrics", "job": "kube-state-metrics"},
			kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}, ""},
		{"deployment", map[string]string{"namespace": "shop", "deployment": "web"}, kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}, ""},
		{"statefulset", map[string]string{"namespace": "db", "statefulset": "pg"}, kubernautv1.Target{Kind: "StatefulSet", Namespace: "db", Name: "pg"}, ""},
		{"daemonset", map[string]string{"namespace": "kube-system", "daemonset": "fluentbit"}, kubernautv1.Target{Kind: "DaemonSet", Namespace: "kube-system", Name: "fluentbit"}, ""},
		{"replicaset", map[string]string{"namespace": "shop", "replicaset": "web-7d9f"}, kubernautv1.Target{Kind: "ReplicaSet", Namespace: "shop", Name: "web-7d9f"}, ""},
		{"a Kubernetes Job is job_name", map[string]string{"namespace": "batch", "job_name": "nightly-1", "job": "kube-state-metrics"}, kubernautv1.Target{Kind: "Job", Namespace: "batch", Name: "nightly-1"}, ""},
		{"the scrape job alone is not a target", map[string]string{"job": "node-exporter", "node": "worker-1"}, kubernautv1.Target{Kind: "Node", Name: "worker-1"}, ""},
		{"hpa", map[string]string{"namespace": "shop", "horizontalpodautoscaler": "web"}, kubernautv1.Target{Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "web"}, ""},
		{"pvc", map[string]string{"namespace": "db", "persistentvolumeclaim": "data-pg-0"}, kubernautv1.Target{Kind: "PersistentVolumeClaim", Namespace: "db", Name: "data-pg-0"}, ""},
		{"service", map[string]string{"namespace": "shop", "service": "web"}, kubernautv1.Target{Kind: "Service", Namespace: "shop", Name: "web"}, ""},
		{"node", map[string]string{"node": "worker-3"}, kubernautv1.Target{Kind: "Node", Name: "worker-3"}, ""},
		{"namespace only", map[string]string{"namespace": "shop"}, kubernautv1.Target{Kind: "Namespace", Name: "shop"}, ""},
		{"nothing", map[string]string{"alertname": "Watchdog"}, kubernautv1.Target{}, "no target"},
		{"bad namespace", map[string]string{"namespace": "Shop!", "pod": "x"}, kubernautv1.Target{}, `label namespace="Shop!" is not a namespace name`},
		{"bad pod name", map[string]string{"namespace": "shop", "pod": "web 1"}, kubernautv1.Target{}, `label pod="web 1" is not an object name`},
		{"bad node name", map[string]string{"node": "10.0.0.1:9100"}, kubernautv1.Target{}, `label node="10.0.0.1:9100" is not a node name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractTarget(tc.labels)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestNormalizeSeverity(t *testing.T) {
	for in, want := range map[string]kubernautv1.Severity{
		"critical": "critical", "CRITICAL": "critical", " page ": "critical", "error": "critical", "P1": "critical",
		"warning": "warning", "warn": "warning", "medium": "warning",
		"info": "info", "none": "info", "low": "info",
		"": "unknown", "sev-9": "unknown",
	} {
		if got := NormalizeSeverity(in); got != want {
			t.Errorf("NormalizeSeverity(%q) = %s, want %s", in, got, want)
		}
	}
}
