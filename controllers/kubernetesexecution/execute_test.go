package kubernetesexecution

import (
	"testing"
	"time"
)

func TestVerifyAfter(t *testing.T) {
	r := &Reconciler{VerifyInterval: 2 * time.Second}
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		waited time.Duration
		want   time.Duration
	}{
		{0, 2 * time.Second},
		{7 * time.Second, 2 * time.Second},
		{20 * time.Second, 5 * time.Second},
		{64 * time.Second, 16 * time.Second},
		{10 * time.Minute, 16 * time.Second},
	} {
		if got := r.verifyAfter(start, start.Add(tc.waited)); got != tc.want {
			t.Errorf("after waiting %s: look again in %s, want %s", tc.waited, got, tc.want)
		}
	}
	if got := r.verifyAfter(time.Time{}, start); got != 2*time.Second {
		t.Errorf("without a start: %s, want the interval", got)
	}
}
