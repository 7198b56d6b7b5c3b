package plugin

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/trust"
)

// Trust reads the TrustPolicy Kubernaut reads.
func (p *Plugin) Trust(ctx context.Context) (*kubernautv1.TrustPolicy, error) {
	tp := &kubernautv1.TrustPolicy{}
	if err := p.Client.Get(ctx, client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, tp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no TrustPolicy %q: every plan is approved as the approval policy decides (docs/autonomy.md)", kubernautv1.DefaultTrustPolicy)
		}
		return nil, fmt.Errorf("reading TrustPolicy %s: %w", kubernautv1.DefaultTrustPolicy, err)
	}
	return tp, nil
}

// PrintTrust prints each scope: its level, since when, its bounds, the evidence and the
// proposal waiting for people.
func (p *Plugin) PrintTrust(tp *kubernautv1.TrustPolicy) {
	rows := [][]string{{"SCOPE", "LEVEL", "SINCE", "BOUNDS", "OBSERVED", "AGREED", "VERIFIED", "FAILED", "PROPOSAL"}}
	for _, s := range tp.Status.Scopes {
		e := s.Evidence
		proposal := "-"
		if pr := s.Proposal; pr != nil {
			proposal = fmt.Sprintf("%s (kubectl kubernaut trust promote %s)", pr.Level, s.TrustScope)
		}
		rows = append(rows, []string{s.TrustScope.String(), string(s.Level), duration.HumanDuration(p.now().Sub(s.Since.Time)) + " ago",
			string(s.Floor) + ".." + string(s.Ceiling), fmt.Sprint(e.Observed), fmt.Sprint(e.Agreed), fmt.Sprint(e.Verified),
			fmt.Sprint(e.Failed), proposal})
	}
	writeTable(p.Out, rows, nil)
	for _, s := range tp.Status.Scopes {
		if s.Proposal != nil {
			fmt.Fprintf(p.Out, "\n%s: %s proposed %s ago: %s\n", s.TrustScope, s.Proposal.Level, duration.HumanDuration(p.now().Sub(s.Proposal.Since.Time)), s.Proposal.Reason)
		}
	}
}

// ParseScope reads a scope as people write it: group/signalType/action.
func ParseScope(s string) (kubernautv1.TrustScope, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return kubernautv1.TrustScope{}, fmt.Errorf("scope %q: want NAMESPACE-GROUP/SIGNAL-TYPE/ACTION, e.g. %s/crashloop/rollback_deployment", s, trust.DefaultGroup)
	}
	return kubernautv1.TrustScope{NamespaceGroup: parts[0], SignalType: parts[1], Action: kubernautv1.ActionName(parts[2])}, nil
}

// Promote confirms the promotion proposed for a scope: it adds the confirmation that names
// the proposal to the TrustPolicy's spec (as an edit in Git would), at the version read, as
// the current user; the trust controller then promotes the scope. It refuses a scope with
// no proposal.
func (p *Plugin) Promote(ctx context.Context, scope string) error {
	s, err := ParseScope(scope)
	if err != nil {
		return err
	}
	tp, err := p.Trust(ctx)
	if err != nil {
		return err
	}
	st := trust.Find(tp, s)
	switch {
	case st == nil:
		return fmt.Errorf("TrustPolicy %s has no scope %s (kubectl kubernaut trust lists them)", tp.Name, s)
	case st.Proposal == nil:
		return fmt.Errorf("scope %s (level %s) has no promotion proposed: only a promotion the evidence earned can be confirmed; raise a floor in the TrustPolicy to set a level by hand", s, st.Level)
	}
	before := tp.DeepCopy()
	tp.Spec.Confirmations = append(tp.Spec.Confirmations, kubernautv1.TrustConfirmation{TrustScope: s, Level: st.Proposal.Level, ProposedAt: st.Proposal.Since})
	if err := p.Client.Patch(ctx, tp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), client.FieldOwner("kubectl-kubernaut")); err != nil {
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("confirming the promotion of %s needs the verb patch on trustpolicies.kubernaut.io %s: %w", s, tp.Name, err)
		}
		return fmt.Errorf("confirming the promotion of %s: %w", s, err)
	}
	fmt.Fprintf(p.Out, "%s: promotion to %s confirmed (proposed %s: %s); Kubernaut takes it at its next look\n", s, st.Proposal.Level,
		st.Proposal.Since.UTC().Format("2006-01-02T15:04:05Z"), st.Proposal.Reason)
	return nil
}
