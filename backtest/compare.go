package backtest

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Difference is a remediation whose plan would go otherwise under a candidate version of the
// policies (kubernaut backtest --policy-dir).
type Difference struct {
	// AlertName, Target and Start name the occurrence; Remediation its remediation.
	AlertName   string             `json:"alertName"`
	Target      kubernautv1.Target `json:"target"`
	Start       time.Time          `json:"start"`
	Remediation string             `json:"remediation"`
	// Current and Candidate are how its plan goes under each (Verdict.Mode), with its actions.
	Current          string                   `json:"current"`
	Candidate        string                   `json:"candidate"`
	CurrentActions   []kubernautv1.ActionName `json:"currentActions,omitempty"`
	CandidateActions []kubernautv1.ActionName `json:"candidateActions,omitempty"`
	BecomesAutomatic bool                     `json:"becomesAutomatic,omitempty"`
}

// Compare pairs the verdicts of two analyses of the same decisions (current, then candidate)
// and returns the remediations whose mode or actions differ, and how many of them would run
// without a person under the candidate and did not under the current policies.
func Compare(current, candidate []Decision) ([]Difference, int, error) {
	if len(current) != len(candidate) {
		return nil, 0, fmt.Errorf("comparing %d decisions with %d", len(current), len(candidate))
	}
	var out []Difference
	automatic := 0
	for i := range current {
		a, b := current[i].Verdict, candidate[i].Verdict
		if a == nil || b == nil {
			continue
		}
		if a.Mode == b.Mode && fmt.Sprint(a.Actions) == fmt.Sprint(b.Actions) {
			continue
		}
		d := Difference{AlertName: current[i].Labels["alertname"], Target: current[i].Target, Start: current[i].Start, Remediation: current[i].Remediation,
			Current: a.Mode, Candidate: b.Mode, CurrentActions: a.Actions, CandidateActions: b.Actions,
			BecomesAutomatic: b.Mode == string(kubernautv1.ApprovalAuto) && a.Mode != string(kubernautv1.ApprovalAuto)}
		if d.BecomesAutomatic {
			automatic++
		}
		out = append(out, d)
	}
	return out, automatic, nil
}

// PrintDifferences writes the differences as a table.
func PrintDifferences(w io.Writer, diffs []Difference, automatic int) error {
	fmt.Fprintf(w, "\nWith the candidate policies: %d remediations would go otherwise, %d of them automatic that were not\n", len(diffs), automatic)
	if len(diffs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tALERT\tTARGET\tNOW\tCANDIDATE\tACTIONS NOW\tACTIONS CANDIDATE")
	for _, d := range diffs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Start.UTC().Format(time.RFC3339), d.AlertName, d.Target, d.Current, d.Candidate,
			orDash(kubernautv1.JoinActions(d.CurrentActions)), orDash(kubernautv1.JoinActions(d.CandidateActions)))
	}
	return tw.Flush()
}
