package remediationrequest

import (
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// guardInput is what the guards decide on, gathered by the reconciler.
type guardInput struct {
	rr  *kubernautv1.RemediationRequest
	now time.Time
	// optedIn: the target's namespace (or Node) carries the opt-in label, or the
	// orchestrator is cluster-wide.
	optedIn bool
	// sameTarget are the other RemediationRequests of the same target.
	sameTarget []kubernautv1.RemediationRequest
	// sameFingerprint are the other RemediationRequests of the same alert fingerprint.
	sameFingerprint []kubernautv1.RemediationRequest
	// killSwitch is the kill switch's state.
	killSwitch bool
}

// guardVerdict is a guard's refusal; an empty reason means every guard passed.
type guardVerdict struct {
	reason    string
	message   string
	blockedBy string
}

// checkGuards runs the guards in order: kill switch, opt-in scope, a remediation already
// running for the target, cooldown, consecutive failures. It is pure.
func checkGuards(cfg Config, in guardInput) guardVerdict {
	t := in.rr.Spec.Target
	if in.killSwitch {
		return guardVerdict{reason: kubernautv1.ReasonKillSwitchActive,
			message: fmt.Sprintf("the kill switch (%s) stops new remediations", cfg.KillSwitch(nil))}
	}
	if !in.optedIn {
		where := "namespace " + t.Namespace
		if t.Namespace == "" {
			where = string(t.Kind) + " " + t.Name
		}
		return guardVerdict{reason: kubernautv1.ReasonOutOfScope,
			message: fmt.Sprintf("%s has not opted in (label %s=true) and remediation is not cluster-wide", where, kubernautv1.OptInLabel)}
	}
	for i := range in.sameTarget {
		other := &in.sameTarget[i]
		if other.Name == in.rr.Name || other.Status.Phase.IsFinished() || !olderThan(other, in.rr) {
			continue
		}
		return alreadyRemediating(other.Name, t)
	}
	for i := range in.sameTarget {
		if other := &in.sameTarget[i]; other.Name != in.rr.Name {
			if v, cooling := coolingDown(cfg, t, in.rr, other, in.now); cooling {
				return v
			}
		}
	}
	if cfg.FailureLimit > 0 {
		var finished []*kubernautv1.RemediationRequest
		for i := range in.sameFingerprint {
			if o := &in.sameFingerprint[i]; o.Name != in.rr.Name && ran(o) && o.Status.CompletedAt != nil {
				finished = append(finished, o)
			}
		}
		sort.Slice(finished, func(i, j int) bool { return finished[i].Status.CompletedAt.After(finished[j].Status.CompletedAt.Time) })
		failures := 0
		for _, o := range finished {
			if o.Status.Phase != kubernautv1.RemediationPhaseFailed && o.Status.Phase != kubernautv1.RemediationPhaseTimedOut {
				break
			}
			failures++
		}
		if failures >= cfg.FailureLimit {
			last := finished[0]
			if until := last.Status.CompletedAt.Add(cfg.FailureBlock); in.now.Before(until) {
				return guardVerdict{reason: kubernautv1.ReasonTooManyFailures, blockedBy: last.Name,
					message: fmt.Sprintf("the last %d remediations of alert %s failed; it is blocked until %s",
						failures, in.rr.Spec.Signal.Fingerprint, until.UTC().Format(time.RFC3339))}
			}
		}
	}
	return guardVerdict{}
}

// alreadyRemediating is the verdict on a remediation of t while holder remediates it.
func alreadyRemediating(holder string, t kubernautv1.Target) guardVerdict {
	return guardVerdict{reason: kubernautv1.ReasonAlreadyRemediating, blockedBy: holder,
		message: fmt.Sprintf("RemediationRequest %s is already remediating %s", holder, t)}
}

// coolingDown reports whether other, a finished remediation of target t, holds rr back: it
// ran for the same signal and finished less than the cooldown ago.
func coolingDown(cfg Config, t kubernautv1.Target, rr, other *kubernautv1.RemediationRequest, now time.Time) (guardVerdict, bool) {
	if !ran(other) || other.Spec.Signal.Name != rr.Spec.Signal.Name || other.Status.CompletedAt == nil {
		return guardVerdict{}, false
	}
	since := now.Sub(other.Status.CompletedAt.Time)
	if since >= cfg.Cooldown {
		return guardVerdict{}, false
	}
	return guardVerdict{reason: kubernautv1.ReasonCoolingDown, blockedBy: other.Name,
		message: fmt.Sprintf("%s was remediated for %s %s ago (RemediationRequest %s); cooldown is %s",
			t, rr.Spec.Signal.Name, since.Round(time.Second), other.Name, cfg.Cooldown)}, true
}

// ran reports whether a remediation passed its guards (so it counts for cooldown and
// failures; a skipped one does not).
func ran(rr *kubernautv1.RemediationRequest) bool {
	return meta.IsStatusConditionTrue(rr.Status.Conditions, kubernautv1.GuardsPassedCondition)
}

// olderThan orders remediations by creation, then name, so exactly one of two concurrent
// remediations of a target goes on.
func olderThan(a, b *kubernautv1.RemediationRequest) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
