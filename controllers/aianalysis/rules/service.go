package rules

import (
	"fmt"
	"strings"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
)

// unreadyBackends: pods behind a Service run but are not ready, with no crash loop, no OOM
// kill, no pod waiting to be scheduled and no rollout under way → a rolling restart of each
// workload that lacks ready replicas, as independent steps. One step per workload rather than
// one restart_service: each change is one workload's, verified on its own, and the healthy
// workloads behind the Service are left alone; the steps do not depend on each other, so both
// engines run them at the same time.
func unreadyBackends(_ *Analyzer, in *input) *aianalysis.Result {
	t := in.aia.Spec.Target
	if t.Kind != kubernautv1.TargetKindService || len(in.e.Backends) == 0 || in.facts.CrashLooping || in.facts.OOMKilled || in.facts.NotReadyPods == 0 {
		return nil
	}
	var evidence []kubernautv1.Evidence
	for _, p := range in.e.Pods {
		if p.Phase == "Pending" {
			return nil // scheduling, not readiness: the unschedulable situation's kind of problem
		}
		if !p.Ready && len(evidence) < 5 {
			evidence = append(evidence, ev("pods", "pod %s behind Service %s is %s but not Ready", p.Name, t.Name, p.Phase))
		}
	}
	var steps []kubernautv1.PlanStep
	names := map[string]bool{}
	for _, b := range in.e.Backends {
		switch {
		case b.Replicas == 0 || b.ReadyReplicas >= b.Replicas:
			evidence = append(evidence, ev("backends", "%s has %d of %d replicas ready: left alone", b.Target, b.ReadyReplicas, b.Replicas))
		case b.RolloutInProgress:
			evidence = append(evidence, ev("backends", "%s is rolling out a new spec (%d of %d ready): its rollout explains it, left alone", b.Target, b.ReadyReplicas, b.Replicas))
		default:
			evidence = append(evidence, ev("backends", "%s has %d of %d replicas ready, with no rollout under way", b.Target, b.ReadyReplicas, b.Replicas))
			steps = append(steps, kubernautv1.PlanStep{Name: stepName("restart", b.Target.Name, names),
				ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionRestartDeployment, Target: b.Target},
				Rationale:  fmt.Sprintf("replace the wedged pods of %s with fresh ones, one at a time", b.Target)})
		}
	}
	if len(steps) == 0 {
		return nil
	}
	var restarted []string
	for _, s := range steps {
		restarted = append(restarted, s.Target.String())
	}
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{
			Summary:    fmt.Sprintf("pods behind Service %s run but are not ready, in %s, without a crash loop or a rollout", t, strings.Join(restarted, ", ")),
			Confidence: 0.75, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{Steps: steps,
			Rationale: "a rolling restart of each workload lacking ready replicas, independently: they share no state, so one's restart need not wait for another's",
			Alternatives: []kubernautv1.Alternative{
				{Action: kubernautv1.ActionRestartService, Reason: "it restarts every workload behind the Service, the healthy ones too, as one step"},
				{Action: kubernautv1.ActionScaleDeployment, Reason: "more replicas of a pod that does not become ready add nothing"}},
		},
	}
}

// stepName is prefix-name as a valid step name (at most 40 characters of [a-z0-9-]), made
// unique among taken.
func stepName(prefix, name string, taken map[string]bool) string {
	clean := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, strings.ToLower(name))
	base := strings.Trim(prefix+"-"+clean, "-")
	if len(base) > 36 {
		base = strings.TrimRight(base[:36], "-")
	}
	out := base
	for i := 2; taken[out]; i++ {
		out = fmt.Sprintf("%s-%d", base, i)
	}
	taken[out] = true
	return out
}
