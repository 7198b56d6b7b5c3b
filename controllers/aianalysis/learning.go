package aianalysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Learner adjusts an analysis' confidence by the outcomes of the same actions for the same
// signal type in recently finished remediations: a plan that kept working gains a little, one
// that kept failing loses more.
type Learner struct {
	// Reader lists RemediationRequests (the cache).
	Reader client.Reader
	// Window is how far back outcomes count.
	Window time.Duration
	// MinSamples is how many outcomes an action needs before it adjusts anything.
	MinSamples int
	// MaxGain bounds the gain per action and in total (a plan of several well-tried actions
	// gains no more than one); MaxLoss bounds the loss per action.
	MaxGain, MaxLoss float64
}

// outcomes counts verified successes and failures of one action.
type outcomes struct{ ok, failed int }

// Adjust returns the adjustments for the plan's actions and the adjusted confidence.
func (l *Learner) Adjust(ctx context.Context, aia *kubernautv1.AIAnalysis, confidence float64, now time.Time) ([]kubernautv1.ConfidenceAdjustment, float64, error) {
	rec := aia.Status.Recommendation
	if l == nil || rec == nil || len(rec.Steps) == 0 || aia.Spec.Classification == nil {
		return nil, confidence, nil
	}
	var list kubernautv1.RemediationRequestList
	// Read only: the cache's objects themselves, not a copy of each (a copy of every finished
	// remediation per analysis made 1,000 at once quadratic).
	if err := l.Reader.List(ctx, &list, client.InNamespace(aia.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, confidence, fmt.Errorf("listing past remediations: %w", err)
	}
	signalType := aia.Spec.Classification.SignalType
	byAction := map[kubernautv1.ActionName]*outcomes{}
	for _, rr := range list.Items {
		if rr.Name == aia.Spec.RemediationRequestRef.Name || rr.Status.SignalType != signalType || len(rr.Status.Actions) == 0 ||
			rr.Status.CompletedAt == nil || now.Sub(rr.Status.CompletedAt.Time) > l.Window {
			continue
		}
		for _, a := range rr.Status.Actions {
			o := byAction[a]
			if o == nil {
				o = &outcomes{}
				byAction[a] = o
			}
			switch rr.Status.Phase {
			case kubernautv1.RemediationPhaseCompleted:
				o.ok++
			case kubernautv1.RemediationPhaseFailed, kubernautv1.RemediationPhaseTimedOut:
				if rr.Status.WorkflowExecutionRef != nil { // it ran: the action's outcome, not a guard's
					o.failed++
				}
			}
		}
	}
	var adjustments []kubernautv1.ConfidenceAdjustment
	seen := map[kubernautv1.ActionName]bool{}
	gained := 0.0
	for _, s := range rec.Steps {
		o := byAction[s.Action]
		if seen[s.Action] || o == nil || o.ok+o.failed < l.MinSamples {
			continue
		}
		seen[s.Action] = true
		rate := float64(o.ok) / float64(o.ok+o.failed)
		delta := l.MaxGain * (rate - 0.8) / 0.2 // +MaxGain at 100 %, 0 at 80 %
		if rate < 0.8 {
			delta = -l.MaxLoss * (0.8 - rate) / 0.8 // -MaxLoss at 0 %
		}
		delta = min(delta, l.MaxGain-gained)
		delta = math.Round(delta*1000) / 1000 // not truncated: 0.04999… is +0.05
		if delta == 0 {
			continue
		}
		adjustments = append(adjustments, kubernautv1.ConfidenceAdjustment{Delta: delta,
			Reason: fmt.Sprintf("%d of %d recent %s remediations with %s were verified successful", o.ok, o.ok+o.failed, signalType, s.Action)})
		confidence += delta
		gained += max(delta, 0)
		if len(adjustments) == 8 {
			break
		}
	}
	return adjustments, min(max(confidence, 0), 1), nil
}
