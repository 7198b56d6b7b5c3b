package aianalysis

import (
	"strings"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestSanitizeMakesAnyAnswerStorable: whatever an analyzer writes, the stored fields fit the
// API's bounds, so a status patch is never refused (which would re-run the analysis forever).
func TestSanitizeMakesAnyAnswerStorable(t *testing.T) {
	long := strings.Repeat("ä", 5000)
	res := &Result{
		RootCause: kubernautv1.RootCause{Summary: "", Confidence: 7, Evidence: make([]kubernautv1.Evidence, 30)},
		Recommendation: kubernautv1.Recommendation{
			Rationale: long,
			Steps:     []kubernautv1.PlanStep{{Name: "a", Rationale: long}},
			Alternatives: []kubernautv1.Alternative{
				{Action: "exec_shell", Reason: "nope"},
				{Action: kubernautv1.ActionRestartDeployment, Reason: long},
			},
		},
	}
	res.RootCause.Evidence[0] = kubernautv1.Evidence{Source: long, Fact: long}
	rc, rec := sanitize(res)
	switch {
	case rc.Summary == "", rc.Confidence != 1, len(rc.Evidence) != 20:
		t.Errorf("root cause %q %v %d", rc.Summary, rc.Confidence, len(rc.Evidence))
	case len(rc.Evidence[0].Source) > 63, len(rc.Evidence[0].Fact) > 1024:
		t.Error("evidence not bounded")
	case len(rec.Rationale) > 4096, len(rec.Steps[0].Rationale) > 2048:
		t.Error("rationales not bounded")
	case len(rec.Alternatives) != 1 || rec.Alternatives[0].Action != kubernautv1.ActionRestartDeployment || len(rec.Alternatives[0].Reason) > 1024:
		t.Errorf("alternatives %+v: an action outside the catalog is dropped, reasons bounded", rec.Alternatives)
	}
}

func TestFindCycle(t *testing.T) {
	s := func(name string, deps ...string) kubernautv1.PlanStep {
		return kubernautv1.PlanStep{Name: name, DependsOn: deps}
	}
	for want, steps := range map[string][]kubernautv1.PlanStep{
		"":              {s("a"), s("b", "a"), s("c", "a", "b")},
		"a → c → b → a": {s("a", "c"), s("b", "a"), s("c", "b")}, // a waits for c, c for b, b for a
		"x → x":         {s("x", "x")},
		" ":             {s("a", "missing")}, // unknown dependencies are reported elsewhere
	} {
		if got := findCycle(steps); got != strings.TrimSpace(want) {
			t.Errorf("findCycle = %q, want %q", got, strings.TrimSpace(want))
		}
	}
}
