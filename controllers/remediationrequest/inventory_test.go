package remediationrequest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

func inventoryScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// The inventory counts remediations by phase (a new one without status as Pending) and
// reports the oldest unfinished one per phase from its phase start, or its creation.
func TestInventoryCountsPhasesAndOldest(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rr := func(name string, phase kubernautv1.RemediationPhase, created, phaseStarted time.Duration) *kubernautv1.RemediationRequest {
		return gen.RemediationRequest("kubernaut-system", name, func(o *kubernautv1.RemediationRequest) {
			o.CreationTimestamp = metav1.NewTime(now.Add(-created))
			o.Status.Phase = phase
			if phaseStarted > 0 {
				o.Status.PhaseStartedAt = &metav1.Time{Time: now.Add(-phaseStarted)}
			}
		})
	}
	c := fake.NewClientBuilder().WithScheme(inventoryScheme(t)).WithObjects(
		rr("new", "", 30*time.Second, 0),
		rr("waiting-long", kubernautv1.RemediationPhaseAwaitingApproval, time.Hour, 40*time.Minute),
		rr("waiting-short", kubernautv1.RemediationPhaseAwaitingApproval, 10*time.Minute, 5*time.Minute),
		rr("done", kubernautv1.RemediationPhaseCompleted, 3*time.Hour, 2*time.Hour),
		rr("failed", kubernautv1.RemediationPhaseFailed, 3*time.Hour, 2*time.Hour),
	).Build()
	inv := NewInventory(c, nil)
	inv.now = func() time.Time { return now }

	want := `
# HELP kubernaut_remediation_phase_oldest_seconds How long the oldest RemediationRequest still in an unfinished phase has been in it, by phase (0: none).
# TYPE kubernaut_remediation_phase_oldest_seconds gauge
kubernaut_remediation_phase_oldest_seconds{phase="Analyzing"} 0
kubernaut_remediation_phase_oldest_seconds{phase="AwaitingApproval"} 2400
kubernaut_remediation_phase_oldest_seconds{phase="Executing"} 0
kubernaut_remediation_phase_oldest_seconds{phase="Pending"} 30
kubernaut_remediation_phase_oldest_seconds{phase="Processing"} 0
kubernaut_remediation_phase_oldest_seconds{phase="Verifying"} 0
# HELP kubernaut_remediations RemediationRequests that exist now, by phase (finished ones until their retention TTL deletes them).
# TYPE kubernaut_remediations gauge
kubernaut_remediations{phase="Analyzing"} 0
kubernaut_remediations{phase="AwaitingApproval"} 2
kubernaut_remediations{phase="Cancelled"} 0
kubernaut_remediations{phase="Completed"} 1
kubernaut_remediations{phase="Executing"} 0
kubernaut_remediations{phase="Failed"} 1
kubernaut_remediations{phase="Pending"} 1
kubernaut_remediations{phase="Processing"} 0
kubernaut_remediations{phase="Rejected"} 0
kubernaut_remediations{phase="Skipped"} 0
kubernaut_remediations{phase="TimedOut"} 0
kubernaut_remediations{phase="Verifying"} 0
`
	if err := testutil.CollectAndCompare(inv, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// A replica that does not lead reports nothing (the leader reports the same objects), and a
// failed list fails the scrape instead of reporting zeros.
func TestInventoryFollowerSilentListErrorVisible(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(inventoryScheme(t)).Build()
	if n := testutil.CollectAndCount(NewInventory(c, func() bool { return false })); n != 0 {
		t.Errorf("a follower reported %d metrics", n)
	}
	broken := fake.NewClientBuilder().WithScheme(inventoryScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("cache not synced")
		},
	}).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewInventory(broken, nil))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "cache not synced") {
		t.Errorf("gather: %v, want the list error", err)
	}
}
