package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
)

// A candidate policy folder is judged before any history is read: a module that does not
// compile, a file the backtest would ignore, or nothing to replay is told at once, naming it.
func TestCandidatePoliciesAreCheckedFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"does not compile", map[string]string{"approval.rego": "package kubernaut.approval\n\ndecision := {"}, "approval.rego"},
		{"another policy", map[string]string{"safety.rego": "package kubernaut.safety\n"}, "safety.rego is not a policy the backtest replays"},
		{"nothing", map[string]string{"README.md": "hello"}, "holds neither classification.rego nor approval.rego"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			a := &backtest.Analysis{Classifier: remediationprocessing.NewClassifier(nil, "", ""),
				Stages: &aianalysis.Reconciler{Approver: aianalysis.NewApprover(nil, "", "", 0.9, 0.7)}}
			err := candidatePolicies(context.Background(), dir, a)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--policy-dir") {
				t.Errorf("got %v, want an error naming --policy-dir and %q", err, tc.want)
			}
		})
	}
}
