package remediationrequest

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// setCondition sets one condition for the object's current generation.
func setCondition(rr *kubernautv1.RemediationRequest, typ string, status metav1.ConditionStatus, reason, message string) {
	kubernautv1.SetCondition(&rr.Status.Conditions, rr.Generation, typ, status, reason, message)
}

// end finishes the remediation with a terminal reason (Failed, Rejected, Skipped, TimedOut,
// Cancelled).
func end(rr *kubernautv1.RemediationRequest, reason, message string) {
	setCondition(rr, kubernautv1.ReadyCondition, metav1.ConditionFalse, reason, message)
	rr.Status.Message = kubernautv1.Truncate(message, 1024)
}

// complete finishes the remediation successfully.
func complete(rr *kubernautv1.RemediationRequest, message string) {
	setCondition(rr, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, message)
	rr.Status.Message = kubernautv1.Truncate(message, 1024)
}

func joinReasons(reasons []string) string {
	if len(reasons) == 0 {
		return "no reason given"
	}
	return strings.Join(reasons, "; ")
}
