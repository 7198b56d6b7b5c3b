// Package plugin is what `kubectl kubernaut` does (cmd/kubectl-kubernaut parses its flags):
// list the remediations with those waiting for a person first, show one as a timeline, and
// approve or reject a plan as the current user — through the annotations that the API server's
// admission policies vouch for, so that the approval is recorded under the name the API server
// authenticated, and refused, naming the missing permission, for a user who may not approve.
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Plugin runs the commands with a client acting as the current user.
type Plugin struct {
	// Client reads and annotates Kubernaut's objects (as the kubeconfig's user).
	Client client.Client
	// Out receives what the command prints.
	Out io.Writer
	// Colour paints the phases (waiting yellow, failed red, completed green): on a terminal
	// only, and not with NO_COLOR (cmd/kubectl-kubernaut decides).
	Colour bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (p *Plugin) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// rank orders remediations for a person: waiting for them first, then running, then finished
// (the most recent first).
func rank(rr *kubernautv1.RemediationRequest) int {
	switch {
	case rr.Status.Phase == kubernautv1.RemediationPhaseAwaitingApproval:
		return 0
	case !rr.Status.Phase.IsFinished():
		return 1
	}
	return 2
}

// sortForPeople sorts remediations by rank, then the newest first.
func sortForPeople(items []kubernautv1.RemediationRequest) {
	at := func(rr *kubernautv1.RemediationRequest) time.Time {
		if rr.Status.CompletedAt != nil {
			return rr.Status.CompletedAt.Time
		}
		return rr.CreationTimestamp.Time
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := &items[i], &items[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		return at(a).After(at(b))
	})
}

// List returns the remediations of namespace ("" for all), sorted for people.
func (p *Plugin) List(ctx context.Context, namespace string) ([]kubernautv1.RemediationRequest, error) {
	var list kubernautv1.RemediationRequestList
	if err := p.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing RemediationRequests: %w", err)
	}
	sortForPeople(list.Items)
	return list.Items, nil
}

// PrintTable prints remediations as kubectl prints a table (wide adds the root cause and the
// plan).
func (p *Plugin) PrintTable(items []kubernautv1.RemediationRequest, allNamespaces, wide bool) {
	var rows [][]string
	header := []string{"NAME", "PHASE", "SIGNAL", "TARGET", "ACTIONS", "AGE", "OUTCOME"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, "PLAN", "ROOT CAUSE")
	}
	rows = append(rows, header)
	phaseCol := slices.Index(header, "PHASE")
	for i := range items {
		rr := &items[i]
		row := []string{rr.Name, orDash(string(rr.Status.Phase)), rr.Spec.Signal.Name, rr.Spec.Target.String(), actionList(rr.Status.Actions),
			duration.HumanDuration(p.now().Sub(rr.CreationTimestamp.Time)), outcome(rr)}
		if allNamespaces {
			row = append([]string{rr.Namespace}, row...)
		}
		if wide {
			plan := "-"
			if ref := rr.Status.WorkflowExecutionRef; ref != nil {
				plan = ref.Name
			}
			row = append(row, plan, orDash(kubernautv1.Truncate(rr.Status.RootCause, 80)))
		}
		rows = append(rows, row)
	}
	writeTable(p.Out, rows, func(row, col int, cell string) string {
		if !p.Colour || row == 0 || col != phaseCol {
			return cell
		}
		return paint(kubernautv1.RemediationPhase(strings.TrimSpace(cell)), cell)
	})
}

// paint colours a phase's cell with ANSI escapes: yellow waiting for a person, red failed,
// green completed; others as they are.
func paint(phase kubernautv1.RemediationPhase, cell string) string {
	code := ""
	switch phase {
	case kubernautv1.RemediationPhaseAwaitingApproval:
		code = "33"
	case kubernautv1.RemediationPhaseFailed, kubernautv1.RemediationPhaseTimedOut, kubernautv1.RemediationPhaseRejected:
		code = "31"
	case kubernautv1.RemediationPhaseCompleted:
		code = "32"
	}
	if code == "" {
		return cell
	}
	return "\x1b[" + code + "m" + cell + "\x1b[0m"
}

// outcome is how a finished remediation ended and how long it took ("Completed in 42s"); "-"
// while it runs.
func outcome(rr *kubernautv1.RemediationRequest) string {
	if !rr.Status.Phase.IsFinished() {
		return "-"
	}
	if rr.Status.CompletedAt == nil {
		return string(rr.Status.Phase)
	}
	return string(rr.Status.Phase) + " in " + duration.HumanDuration(rr.Status.CompletedAt.Sub(rr.CreationTimestamp.Time))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func actionList(as []kubernautv1.ActionName) string {
	if len(as) == 0 {
		return "-"
	}
	return strings.ReplaceAll(kubernautv1.JoinActions(as), " ", "") // a table cell: no spaces
}

// writeTable aligns rows in columns three spaces apart, as kubectl does; paint (nil: none)
// may decorate a padded cell (its width is measured before).
func writeTable(w io.Writer, rows [][]string, paint func(row, col int, cell string) string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for n, r := range rows {
		var b strings.Builder
		for i, c := range r {
			cell := c
			if i < len(r)-1 {
				cell += strings.Repeat(" ", widths[i]-len([]rune(c))+3)
			}
			if paint != nil {
				cell = paint(n, i, cell)
			}
			b.WriteString(cell)
		}
		fmt.Fprintln(w, b.String())
	}
}

// Remediation is one remediation with what its children say, as `show` prints it.
type Remediation struct {
	// Request is the RemediationRequest.
	Request *kubernautv1.RemediationRequest `json:"remediationRequest"`
	// Analysis is its AIAnalysis, when there is one.
	Analysis *kubernautv1.AIAnalysis `json:"aiAnalysis,omitempty"`
	// Plan is its WorkflowExecution, when there is one.
	Plan *kubernautv1.WorkflowExecution `json:"workflowExecution,omitempty"`
}

// Get reads a remediation by the name of its RemediationRequest or of its plan.
func (p *Plugin) Get(ctx context.Context, namespace, name string) (*Remediation, error) {
	r := &Remediation{Request: &kubernautv1.RemediationRequest{}}
	err := p.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, r.Request)
	if apierrors.IsNotFound(err) {
		// A plan's name: its remediation is its owner.
		we := &kubernautv1.WorkflowExecution{}
		if werr := p.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, we); werr == nil && we.Spec.RemediationRequestRef.Name != "" {
			err = p.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: we.Spec.RemediationRequestRef.Name}, r.Request)
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no remediation %q in namespace %s (kubectl kubernaut list -n %s)", name, namespace, namespace)
		}
		return nil, fmt.Errorf("reading remediation %s/%s: %w", namespace, name, err)
	}
	rr := r.Request
	for _, c := range []struct {
		name string
		obj  client.Object
	}{
		{kubernautv1.AnalysisName(rr.Name), &kubernautv1.AIAnalysis{}},
		{kubernautv1.WorkflowName(rr.Name), &kubernautv1.WorkflowExecution{}},
	} {
		err := p.Client.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: c.name}, c.obj)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", c.name, err)
		}
		switch o := c.obj.(type) {
		case *kubernautv1.AIAnalysis:
			r.Analysis = o
		case *kubernautv1.WorkflowExecution:
			r.Plan = o
		}
	}
	return r, nil
}

// event is one moment of a remediation's timeline.
type event struct {
	at   time.Time
	what string
}

// Timeline is what happened to a remediation, in order: its creation and every condition of
// it and of its plan, at the time it last changed.
func (r *Remediation) Timeline() []string {
	evs := []event{{r.Request.CreationTimestamp.Time, "created from alert " + r.Request.Spec.Signal.Name}}
	add := func(who string, conds []metav1.Condition) {
		for _, c := range conds {
			if c.Type == kubernautv1.ReadyCondition && c.Reason == kubernautv1.ReasonProgressing {
				continue
			}
			evs = append(evs, event{c.LastTransitionTime.Time, fmt.Sprintf("%s %s=%s (%s): %s", who, c.Type, c.Status, c.Reason, kubernautv1.Truncate(c.Message, 200))})
		}
	}
	add("remediation", r.Request.Status.Conditions)
	if r.Plan != nil {
		add("plan", r.Plan.Status.Conditions)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.at.UTC().Format(time.RFC3339) + "  " + e.what
	}
	return out
}

// Describe prints a remediation for a person: signal, timeline, root cause and evidence, the
// plan's steps with their verdicts and dry runs, the approvals, the outcome and the undo.
func (p *Plugin) Describe(r *Remediation) {
	rr := r.Request
	w := p.Out
	fmt.Fprintf(w, "Name:        %s/%s\n", rr.Namespace, rr.Name)
	fmt.Fprintf(w, "Phase:       %s\n", orDash(string(rr.Status.Phase)))
	if c := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
		fmt.Fprintf(w, "Status:      %s\n", c.Message)
	}
	s := rr.Spec.Signal
	fmt.Fprintf(w, "Signal:      %s (%s), fingerprint %s, firing since %s\n", s.Name, s.Severity, s.Fingerprint, s.StartsAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "Target:      %s\n", rr.Spec.Target)
	fmt.Fprintln(w, "Timeline:")
	for _, line := range r.Timeline() {
		fmt.Fprintln(w, "  "+line)
	}
	if a := r.Analysis; a != nil && a.Status.RootCause != nil {
		fmt.Fprintf(w, "Root cause:  %s (confidence %.2f, %s)\n", a.Status.RootCause.Summary, a.Status.RootCause.Confidence, a.Status.Analyzer)
		for _, e := range a.Status.RootCause.Evidence {
			fmt.Fprintf(w, "  evidence (%s): %s\n", e.Source, e.Fact)
		}
	} else if rr.Status.RootCause != "" {
		fmt.Fprintf(w, "Root cause:  %s\n", rr.Status.RootCause)
	}
	we := r.Plan
	if we == nil {
		fmt.Fprintln(w, "Plan:        none yet")
		return
	}
	fmt.Fprintf(w, "Plan:        %s (%s, approval %s)\n", we.Name, orDash(string(we.Status.Phase)), we.Spec.ApprovalMode)
	if pl := we.Status.Plan; pl != nil {
		fmt.Fprintf(w, "  hash:      %s\n", pl.Hash)
	}
	for i, st := range we.Spec.Steps {
		fmt.Fprintf(w, "  step %d: %s %s on %s", i+1, st.Name, st.Action, st.Target)
		if len(st.DependsOn) > 0 {
			fmt.Fprintf(w, " (after %s)", strings.Join(st.DependsOn, ", "))
		}
		fmt.Fprintln(w)
		if st.Parameters != nil {
			fmt.Fprintf(w, "    parameters: %s\n", parameters(st.Parameters))
		}
		if we.Status.Plan != nil {
			for _, ps := range we.Status.Plan.Steps {
				if ps.Name != st.Name {
					continue
				}
				fmt.Fprintf(w, "    policy: %s\n", ps.Policy.Summary())
				if d := ps.DryRun; d != nil {
					fmt.Fprintf(w, "    dry run: %s %s\n", d.Result, d.Message)
					for _, line := range strings.Split(strings.TrimRight(d.Diff, "\n"), "\n") {
						if line != "" {
							fmt.Fprintf(w, "      %s\n", line)
						}
					}
				}
			}
		}
		for _, ss := range we.Status.Steps {
			if ss.Name == st.Name {
				fmt.Fprintf(w, "    ran: %s %s\n", ss.Phase, ss.Message)
			}
		}
	}
	if a := we.Status.Approval; a != nil {
		fmt.Fprintf(w, "Approval:    %s", orDash(a.Decision))
		if a.DecidedBy != "" {
			fmt.Fprintf(w, " by %s", a.DecidedBy)
		}
		fmt.Fprintln(w)
		for _, ap := range a.Approvers {
			fmt.Fprintf(w, "  approved by %s at %s", ap.User, ap.At.UTC().Format(time.RFC3339))
			if ap.Reason != "" {
				fmt.Fprintf(w, ": %s", ap.Reason)
			}
			fmt.Fprintln(w)
		}
	}
	if t := rr.Status.Trust; t != nil {
		fmt.Fprintf(w, "Trust:       %s (scope %s): approval %s\n", t.Level, t.Scope, t.Mode)
	}
	if v := we.Status.Shadow; v != nil {
		fmt.Fprintf(w, "Shadow:      %s at %s: %s", v.Verdict, v.At.UTC().Format(time.RFC3339), v.Message)
		if len(v.ChangedBy) > 0 {
			fmt.Fprintf(w, " (changed by %s)", strings.Join(v.ChangedBy, ", "))
		}
		fmt.Fprintln(w)
	} else if rr.Status.Phase == kubernautv1.RemediationPhaseObserved {
		fmt.Fprintln(w, "Shadow:      watching the targets for a person's change (--shadow-window)")
	}
	if rr.Status.Phase == kubernautv1.RemediationPhaseAwaitingApproval && we.Status.Plan != nil {
		fmt.Fprintf(w, "To approve:  kubectl kubernaut approve %s -n %s\n", rr.Name, rr.Namespace)
	}
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.VerifiedCondition); c != nil && c.Status != metav1.ConditionUnknown {
		fmt.Fprintf(w, "Verified:    %s %s\n", c.Status, c.Message)
	}
	for _, c := range we.Status.Compensation {
		fmt.Fprintf(w, "Undo:        %s %s %s\n", c.Name, c.Phase, c.Message)
	}
	if ref := we.Status.WorkflowRef; ref != nil && ref.UIURL != "" {
		fmt.Fprintf(w, "Argo:        %s\n", ref.UIURL)
	}
}

// parameters formats a step's parameters on one line.
func parameters(ps *kubernautv1.ActionParameters) string {
	raw, err := json.Marshal(ps)
	if err != nil {
		return "?"
	}
	return string(raw)
}
