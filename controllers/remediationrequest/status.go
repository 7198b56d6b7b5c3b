package remediationrequest

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// setCondition sets one condition for the object's current generation.
func setCondition(rr *kubernautv1.RemediationRequest, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&rr.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: kubernautv1.Truncate(message, 32768), ObservedGeneration: rr.Generation,
	})
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
