package kubernetesexecution

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
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

func TestProgressWrites(t *testing.T) {
	p := &progressWrites{at: map[types.NamespacedName]time.Time{}}
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	every := 2 * time.Second
	for _, tc := range []struct {
		step string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", 500 * time.Millisecond, false},
		{"b", 500 * time.Millisecond, true},
		{"a", 1999 * time.Millisecond, false},
		{"a", 2 * time.Second, true},
	} {
		if got := p.due(types.NamespacedName{Namespace: "kubernaut-system", Name: tc.step}, start.Add(tc.at), every); got != tc.want {
			t.Errorf("step %s at +%s: due %v, want %v", tc.step, tc.at, got, tc.want)
		}
	}
	a := types.NamespacedName{Namespace: "kubernaut-system", Name: "a"}
	p.forget(a)
	if !p.due(a, start.Add(2100*time.Millisecond), every) {
		t.Error("a forgotten step writes at once")
	}
	// A step that just executed writes its first progress an interval later: a rollout done
	// within an interval writes none.
	c := types.NamespacedName{Namespace: "kubernaut-system", Name: "c"}
	p.started(c, start)
	if p.due(c, start.Add(1900*time.Millisecond), every) {
		t.Error("a step writes progress within an interval of executing")
	}
	if !p.due(c, start.Add(2*time.Second), every) {
		t.Error("a step does not write progress an interval after executing")
	}
	var none *progressWrites
	none.started(c, start)
	if !none.due(a, start, every) {
		t.Error("without a throttle every change is written")
	}
}
