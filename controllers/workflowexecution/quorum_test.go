package workflowexecution

import (
	"testing"
	"time"
)

// Admission writes every line of kubernaut.io/changed-by; a line that does not parse (an
// older format, a hand edit admission undid too late) is skipped, never read as a person.
func TestParseChanges(t *testing.T) {
	got := parseChanges("Deployment/shop/web", "2026-12-07T02:25:04Z alice\n2026-12-07T02:25:02Z alice@example.com\n"+
		"not-a-time bob\n2026-12-07T02:25:01Z\n\n  2026-12-07T02:24:56Z system:serviceaccount:kube-system:deployer  ")
	want := []change{
		{target: "Deployment/shop/web", user: "alice", at: time.Date(2026, 12, 7, 2, 25, 4, 0, time.UTC)},
		{target: "Deployment/shop/web", user: "alice@example.com", at: time.Date(2026, 12, 7, 2, 25, 2, 0, time.UTC)},
		{target: "Deployment/shop/web", user: "system:serviceaccount:kube-system:deployer", at: time.Date(2026, 12, 7, 2, 24, 56, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].target != want[i].target || got[i].user != want[i].user || !got[i].at.Equal(want[i].at) {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if parseChanges("Deployment/shop/web", "") != nil {
		t.Error("no annotation, no change")
	}
}
