package aianalysis

import (
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// An analyzer's long answer in a condition stays valid UTF-8: the controller once cut it at
// msg[:32000], inside a character, and the API server refused the status write.
func TestConditionMessageStaysValidUTF8(t *testing.T) {
	aia := &kubernautv1.AIAnalysis{}
	(&Reconciler{}).set(aia, kubernautv1.InvestigatedCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, "x"+strings.Repeat("é", 20000))
	if m := aia.Status.Conditions[0].Message; !utf8.ValidString(m) || len(m) > kubernautv1.MaxConditionMessage {
		t.Fatalf("a message of %d bytes, valid UTF-8: %t", len(m), utf8.ValidString(m))
	}
}
