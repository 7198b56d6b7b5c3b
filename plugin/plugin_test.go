package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// The table's columns align on the text; colour, on a terminal only, paints the phase without
// moving them.
func TestPrintTableColour(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	rr := func(name string, phase kubernautv1.RemediationPhase) kubernautv1.RemediationRequest {
		r := gen.RemediationRequest("kubernaut-system", name)
		r.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
		r.Status.Phase = phase
		return *r
	}
	items := []kubernautv1.RemediationRequest{rr("rr-a", kubernautv1.RemediationPhaseAwaitingApproval), rr("rr-b", kubernautv1.RemediationPhaseExecuting)}
	var plain, coloured bytes.Buffer
	(&Plugin{Out: &plain, Now: func() time.Time { return now }}).PrintTable(items, false, false)
	(&Plugin{Out: &coloured, Colour: true, Now: func() time.Time { return now }}).PrintTable(items, false, false)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("colour without a terminal:\n%q", plain.String())
	}
	if !strings.Contains(coloured.String(), "\x1b[33mAwaitingApproval") {
		t.Errorf("a plan waiting for a person is not yellow:\n%q", coloured.String())
	}
	strip := strings.NewReplacer("\x1b[33m", "", "\x1b[0m", "")
	if got := strip.Replace(coloured.String()); got != plain.String() {
		t.Errorf("colour moved the columns:\n%s\nwant\n%s", got, plain.String())
	}
}
