package remediationrequest

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type rrMod func(*kubernautv1.RemediationRequest)

func mkRR(name string, created time.Time, mods ...rrMod) kubernautv1.RemediationRequest {
	rr := kubernautv1.RemediationRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec: kubernautv1.RemediationRequestSpec{
			Signal: kubernautv1.Signal{Fingerprint: "aaaaaaaaaaaaaaaa", Name: "KubePodCrashLooping"},
			Target: kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"},
		},
	}
	for _, m := range mods {
		m(&rr)
	}
	return rr
}

func finished(phase kubernautv1.RemediationPhase, at time.Time) rrMod {
	return func(rr *kubernautv1.RemediationRequest) {
		rr.Status.Phase = phase
		done := metav1.NewTime(at)
		rr.Status.CompletedAt = &done
		rr.Status.Conditions = []metav1.Condition{{Type: kubernautv1.GuardsPassedCondition, Status: metav1.ConditionTrue}}
	}
}

func running(rr *kubernautv1.RemediationRequest) {
	rr.Status.Phase = kubernautv1.RemediationPhaseAnalyzing
}

func TestCheckGuards(t *testing.T) {
	cfg := DefaultConfig()
	self := mkRR("rr-self", t0)
	for _, tc := range []struct {
		name      string
		in        guardInput
		reason    string
		blockedBy string
		message   string
	}{
		{"all pass", guardInput{optedIn: true}, "", "", ""},
		{"kill switch first", guardInput{optedIn: false, killSwitch: true}, kubernautv1.ReasonKillSwitchActive, "", "kill switch"},
		{"out of scope", guardInput{}, kubernautv1.ReasonOutOfScope, "", "namespace shop has not opted in"},
		{"an older running remediation", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-old", t0.Add(-time.Minute), running), self}},
			kubernautv1.ReasonAlreadyRemediating, "rr-old", "already remediating Pod/shop/web-1"},
		{"a younger running one does not block the older", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-young", t0.Add(time.Minute), running)}}, "", "", ""},
		{"same creation second: the name decides", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-a", t0, running)}},
			kubernautv1.ReasonAlreadyRemediating, "rr-a", ""},
		{"cooldown", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-done", t0.Add(-10*time.Minute), finished(kubernautv1.RemediationPhaseCompleted, t0.Add(-2*time.Minute)))}},
			kubernautv1.ReasonCoolingDown, "rr-done", "2m0s ago"},
		{"cooldown passed", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-done", t0.Add(-time.Hour), finished(kubernautv1.RemediationPhaseCompleted, t0.Add(-6*time.Minute)))}}, "", "", ""},
		{"cooldown is per signal", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-other", t0.Add(-time.Minute), finished(kubernautv1.RemediationPhaseCompleted, t0), func(r *kubernautv1.RemediationRequest) { r.Spec.Signal.Name = "KubePodNotReady" })}}, "", "", ""},
		{"a skipped remediation starts no cooldown", guardInput{optedIn: true, sameTarget: []kubernautv1.RemediationRequest{mkRR("rr-skip", t0.Add(-time.Minute), func(r *kubernautv1.RemediationRequest) {
			r.Status.Phase = kubernautv1.RemediationPhaseSkipped
			done := metav1.NewTime(t0)
			r.Status.CompletedAt = &done
		})}}, "", "", ""},
		{"three failures in a row block", guardInput{optedIn: true, sameFingerprint: []kubernautv1.RemediationRequest{
			mkRR("f1", t0.Add(-3*time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-50*time.Minute))),
			mkRR("f2", t0.Add(-2*time.Hour), finished(kubernautv1.RemediationPhaseTimedOut, t0.Add(-40*time.Minute))),
			mkRR("f3", t0.Add(-time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-30*time.Minute))),
		}}, kubernautv1.ReasonTooManyFailures, "f3", "the last 3 remediations of alert aaaaaaaaaaaaaaaa failed; it is blocked until 2026-11-25T12:30:00Z"},
		{"a success in between resets the count", guardInput{optedIn: true, sameFingerprint: []kubernautv1.RemediationRequest{
			mkRR("f1", t0.Add(-3*time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-50*time.Minute))),
			mkRR("ok", t0.Add(-2*time.Hour), finished(kubernautv1.RemediationPhaseCompleted, t0.Add(-40*time.Minute))),
			mkRR("f3", t0.Add(-time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-30*time.Minute))),
		}}, "", "", ""},
		{"the block expires", guardInput{optedIn: true, sameFingerprint: []kubernautv1.RemediationRequest{
			mkRR("f1", t0.Add(-5*time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-4*time.Hour))),
			mkRR("f2", t0.Add(-5*time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-3*time.Hour))),
			mkRR("f3", t0.Add(-5*time.Hour), finished(kubernautv1.RemediationPhaseFailed, t0.Add(-2*time.Hour))),
		}}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.rr, in.now = &self, t0
			v := checkGuards(cfg, in)
			if v.reason != tc.reason || v.blockedBy != tc.blockedBy || !strings.Contains(v.message, tc.message) {
				t.Fatalf("got %+v; want reason %q, blockedBy %q, message containing %q", v, tc.reason, tc.blockedBy, tc.message)
			}
		})
	}
}
