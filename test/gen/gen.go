// Package gen builds valid Kubernaut objects for tests; modifier functions change what a test
// is about.
package gen

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Fingerprint is a valid alert fingerprint used by the builders.
const Fingerprint = "5f8a3c2e9b1d4a07"

// startsAt is a fixed time, truncated to seconds as the API server stores it.
var startsAt = metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))

// Signal returns a firing KubePodCrashLooping alert.
func Signal() kubernautv1.Signal {
	return kubernautv1.Signal{
		Fingerprint: Fingerprint,
		Name:        "KubePodCrashLooping",
		Source:      kubernautv1.SignalSourceAlertmanager,
		Severity:    kubernautv1.SeverityCritical,
		Labels: map[string]string{
			"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-7d9f8b6c5-x2k4q",
		},
		Annotations: map[string]string{"summary": "Pod shop/checkout-7d9f8b6c5-x2k4q is crash looping"},
		StartsAt:    startsAt,
		GroupKey:    `{}/{severity="critical"}:{alertname="KubePodCrashLooping"}`,
	}
}

// PodTarget is the pod the builders' signal is about.
func PodTarget() kubernautv1.Target {
	return kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: "shop", Name: "checkout-7d9f8b6c5-x2k4q"}
}

// DeploymentTarget is the Deployment that owns the pod.
func DeploymentTarget() kubernautv1.Target {
	return kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "checkout"}
}

// RollbackStep is a plan step that rolls back the Deployment.
func RollbackStep() kubernautv1.PlanStep {
	return kubernautv1.PlanStep{
		Name: "rollback",
		ActionStep: kubernautv1.ActionStep{
			Action:     kubernautv1.ActionRollbackDeployment,
			Target:     DeploymentTarget(),
			Parameters: &kubernautv1.ActionParameters{RollbackDeployment: &kubernautv1.RollbackDeploymentParameters{}},
		},
	}
}

func meta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// RemediationRequest returns a valid RemediationRequest changed by mods.
func RemediationRequest(namespace, name string, mods ...func(*kubernautv1.RemediationRequest)) *kubernautv1.RemediationRequest {
	o := &kubernautv1.RemediationRequest{
		ObjectMeta: meta(namespace, name),
		Spec: kubernautv1.RemediationRequestSpec{
			Signal: Signal(),
			Target: PodTarget(),
			Deduplication: kubernautv1.Deduplication{
				FirstSeen: startsAt, LastSeen: startsAt, Count: 1,
			},
		},
	}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	return o
}

// RemediationProcessing returns a valid RemediationProcessing changed by mods.
func RemediationProcessing(namespace, name string, mods ...func(*kubernautv1.RemediationProcessing)) *kubernautv1.RemediationProcessing {
	o := &kubernautv1.RemediationProcessing{
		ObjectMeta: meta(namespace, name),
		Spec: kubernautv1.RemediationProcessingSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: "rr-" + Fingerprint},
			Signal:                Signal(),
			Target:                PodTarget(),
		},
	}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	return o
}

// AIAnalysis returns a valid AIAnalysis changed by mods.
func AIAnalysis(namespace, name string, mods ...func(*kubernautv1.AIAnalysis)) *kubernautv1.AIAnalysis {
	o := &kubernautv1.AIAnalysis{
		ObjectMeta: meta(namespace, name),
		Spec: kubernautv1.AIAnalysisSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: "rr-" + Fingerprint},
			Signal:                Signal(),
			Target:                PodTarget(),
		},
	}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	return o
}

// AutoApproved makes a WorkflowExecution's plan approved by policy (the default is Manual).
func AutoApproved(w *kubernautv1.WorkflowExecution) { w.Spec.ApprovalMode = kubernautv1.ApprovalAuto }

// WorkflowExecution returns a valid Manual WorkflowExecution with one rollback step, changed
// by mods.
func WorkflowExecution(namespace, name string, mods ...func(*kubernautv1.WorkflowExecution)) *kubernautv1.WorkflowExecution {
	o := &kubernautv1.WorkflowExecution{
		ObjectMeta: meta(namespace, name),
		Spec: kubernautv1.WorkflowExecutionSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: "rr-" + Fingerprint},
			AIAnalysisRef:         kubernautv1.LocalReference{Name: kubernautv1.AnalysisName("rr-" + Fingerprint)},
			AlertName:             "KubePodCrashLooping",
			Target:                DeploymentTarget(),
			Steps:                 []kubernautv1.PlanStep{RollbackStep()},
			ApprovalMode:          kubernautv1.ApprovalManual,
		},
	}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	// As the orchestrator labels its plans (after mods: the label follows the target).
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	if _, set := o.Labels[kubernautv1.LabelTargetHash]; !set {
		o.Labels[kubernautv1.LabelTargetHash] = o.Spec.Target.Hash()
	}
	return o
}

// KubernetesExecution returns a valid rollback KubernetesExecution changed by mods.
func KubernetesExecution(namespace, name string, mods ...func(*kubernautv1.KubernetesExecution)) *kubernautv1.KubernetesExecution {
	o := &kubernautv1.KubernetesExecution{
		ObjectMeta: meta(namespace, name),
		Spec: kubernautv1.KubernetesExecutionSpec{
			ActionStep: RollbackStep().ActionStep,
			Mode:       kubernautv1.ExecutionModeExecute,
			StepName:   "rollback",
		},
	}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	return o
}
