package gateway

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// targetLabels are the labels that name a namespaced object, most specific first, as
// kube-state-metrics and the usual alert rules write them. `job` is not among them: in
// Prometheus it names the scrape job; kube-state-metrics names a Kubernetes Job `job_name`.
// `service` comes last because scrape metadata also sets it (the scraped Service).
var targetLabels = []struct {
	label string
	kind  kubernautv1.TargetKind
}{
	{"pod", kubernautv1.TargetKindPod},
	{"deployment", kubernautv1.TargetKindDeployment},
	{"statefulset", kubernautv1.TargetKindStatefulSet},
	{"daemonset", kubernautv1.TargetKindDaemonSet},
	{"replicaset", kubernautv1.TargetKindReplicaSet},
	{"job_name", kubernautv1.TargetKindJob},
	{"horizontalpodautoscaler", kubernautv1.TargetKindHorizontalPodAutoscaler},
	{"persistentvolumeclaim", kubernautv1.TargetKindPersistentVolumeClaim},
	{"service", kubernautv1.TargetKindService},
}

// ExtractTarget reads the object an alert is about from its labels: a namespaced object
// (namespace plus pod, deployment, statefulset, daemonset, replicaset, job_name,
// horizontalpodautoscaler, persistentvolumeclaim or service), else a node (node), else the
// namespace itself. An alert naming none of them has no target Kubernaut can act on.
func ExtractTarget(labels map[string]string) (kubernautv1.Target, error) {
	ns := labels["namespace"]
	if ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return kubernautv1.Target{}, fmt.Errorf("label namespace=%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		for _, tl := range targetLabels {
			name := labels[tl.label]
			if name == "" {
				continue
			}
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				return kubernautv1.Target{}, fmt.Errorf("label %s=%q is not an object name: %s", tl.label, name, strings.Join(errs, "; "))
			}
			return kubernautv1.Target{Kind: tl.kind, Namespace: ns, Name: name}, nil
		}
	}
	if node := labels["node"]; node != "" {
		if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
			return kubernautv1.Target{}, fmt.Errorf("label node=%q is not a node name: %s", node, strings.Join(errs, "; "))
		}
		return kubernautv1.Target{Kind: kubernautv1.TargetKindNode, Name: node}, nil
	}
	if ns != "" {
		return kubernautv1.Target{Kind: kubernautv1.TargetKindNamespace, Name: ns}, nil
	}
	return kubernautv1.Target{}, fmt.Errorf("no target: the labels name no namespace, workload, pod or node")
}

// NormalizeSeverity maps the usual spellings of an alert's severity label to Kubernaut's four
// severities.
func NormalizeSeverity(s string) kubernautv1.Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "alert", "page", "error", "high", "p0", "p1", "sev1", "sev-1":
		return kubernautv1.SeverityCritical
	case "warning", "warn", "medium", "major", "p2", "sev2", "sev-2":
		return kubernautv1.SeverityWarning
	case "info", "informational", "notice", "low", "minor", "none", "p3", "p4", "sev3", "sev-3":
		return kubernautv1.SeverityInfo
	default:
		return kubernautv1.SeverityUnknown
	}
}
