package plugin

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Record is one finished remediation, as history prints it.
type Record struct {
	// Name of the RemediationRequest.
	Name string `json:"name"`
	// Signal is the alert's name.
	Signal string `json:"signal"`
	// Target is what the alert was about.
	Target string `json:"target"`
	// Actions are the plan's actions.
	Actions []kubernautv1.ActionName `json:"actions,omitempty"`
	// Approval is how the plan was approved ("auto", "alice, bob", "rejected by carol", "-").
	Approval string `json:"approval"`
	// Outcome is the remediation's final phase.
	Outcome kubernautv1.RemediationPhase `json:"outcome"`
	// Duration is from the alert's remediation to its end.
	Duration time.Duration `json:"duration"`
	// Finished is when it ended.
	Finished time.Time `json:"finished"`
}

// History returns the remediations of namespace that finished since, newest first.
func (p *Plugin) History(ctx context.Context, namespace string, since time.Time) ([]Record, error) {
	var rrs kubernautv1.RemediationRequestList
	if err := p.Client.List(ctx, &rrs, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing RemediationRequests: %w", err)
	}
	var wes kubernautv1.WorkflowExecutionList
	if err := p.Client.List(ctx, &wes, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing WorkflowExecutions: %w", err)
	}
	plans := map[string]*kubernautv1.WorkflowExecution{}
	for i := range wes.Items {
		plans[wes.Items[i].Namespace+"/"+wes.Items[i].Name] = &wes.Items[i]
	}
	var out []Record
	for i := range rrs.Items {
		rr := &rrs.Items[i]
		if !rr.Status.Phase.IsFinished() || rr.Status.CompletedAt == nil || rr.Status.CompletedAt.Time.Before(since) {
			continue
		}
		rec := Record{Name: rr.Name, Signal: rr.Spec.Signal.Name, Target: rr.Spec.Target.String(), Actions: rr.Status.Actions,
			Approval: "-", Outcome: rr.Status.Phase, Duration: rr.Status.CompletedAt.Sub(rr.CreationTimestamp.Time), Finished: rr.Status.CompletedAt.Time}
		if ref := rr.Status.WorkflowExecutionRef; ref != nil {
			if we := plans[rr.Namespace+"/"+ref.Name]; we != nil && we.Status.Approval != nil {
				rec.Approval = approval(we.Status.Approval)
			}
		}
		out = append(out, rec)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Finished.After(out[j].Finished) })
	return out, nil
}

// approval says how a plan was decided.
func approval(a *kubernautv1.Approval) string {
	switch {
	case a.Decision == "Approved" && a.Mode == kubernautv1.ApprovalAuto:
		return "auto"
	case a.Decision == "Approved":
		return orDash(a.DecidedBy)
	case a.Decision != "":
		return a.Decision + " by " + orDash(a.DecidedBy)
	}
	return "-"
}

// PrintHistory prints records as a table.
func (p *Plugin) PrintHistory(records []Record) {
	rows := [][]string{{"NAME", "SIGNAL", "TARGET", "ACTIONS", "APPROVAL", "OUTCOME", "DURATION", "FINISHED"}}
	for _, r := range records {
		rows = append(rows, []string{r.Name, r.Signal, r.Target, actionList(r.Actions), kubernautv1.Truncate(r.Approval, 60), string(r.Outcome),
			duration.HumanDuration(r.Duration), duration.HumanDuration(p.now().Sub(r.Finished)) + " ago"})
	}
	writeTable(p.Out, rows, nil)
}
