// Package rules is the built-in analyzer: known situations, recognised from the enrichment's
// facts, give a root cause with the evidence it rests on, a plan of catalog actions and an
// honest confidence. No network; deterministic.
package rules

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/facts"
)

// Analyzer is the rules analyzer.
type Analyzer struct {
	// MemoryIncreasePercent is how much an OOM-killed container's limit is raised.
	MemoryIncreasePercent int32
	// MemoryLimitCap bounds the raised limit.
	MemoryLimitCap resource.Quantity
	// HPAIncreasePercent is how much an HPA at its maximum is raised.
	HPAIncreasePercent int32
	// HPAMaxCap bounds the raised maximum.
	HPAMaxCap int32
}

// New returns the rules analyzer with its defaults: memory +50 % up to 8 GiB, HPA maximum
// +50 % up to 100.
func New() *Analyzer {
	return &Analyzer{MemoryIncreasePercent: 50, MemoryLimitCap: resource.MustParse("8Gi"), HPAIncreasePercent: 50, HPAMaxCap: 100}
}

// Name is "rules".
func (a *Analyzer) Name() kubernautv1.AnalyzerName { return kubernautv1.AnalyzerRules }

// situation is one known situation: whether it applies, and what it concludes.
type situation func(a *Analyzer, in *input) *aianalysis.Result

// input is what the situations read.
type input struct {
	aia   *kubernautv1.AIAnalysis
	e     *kubernautv1.Enrichment
	facts facts.Facts
	sig   kubernautv1.Signal
}

// situations in order: the first that applies answers.
var situations = []situation{node, oom, crashAfterRollout, unschedulable, hpaAtMax, stuckPod, unreadyBackends, configChange, crashWithoutChange}

// Analyze recognises the first known situation, or answers "no action" with a low confidence.
func (a *Analyzer) Analyze(_ context.Context, aia *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	e := aia.Spec.Enrichment
	if e == nil {
		e = &kubernautv1.Enrichment{}
	}
	in := &input{aia: aia, e: e, facts: facts.Of(e, aia.Spec.Signal.StartsAt.Time), sig: aia.Spec.Signal}
	for _, s := range situations {
		if r := s(a, in); r != nil {
			r.Raw = fmt.Sprintf("rules: %s", r.RootCause.Summary)
			return r, nil
		}
	}
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{
			Summary:    fmt.Sprintf("no known situation matches alert %s on %s; a person must look", in.sig.Name, aia.Spec.Target),
			Confidence: 0.2,
			Evidence:   []kubernautv1.Evidence{{Source: "rules", Fact: "none of the built-in situations applies"}},
		},
		Raw: "rules: unknown situation",
	}, nil
}

func ev(source, format string, args ...any) kubernautv1.Evidence {
	return kubernautv1.Evidence{Source: source, Fact: fmt.Sprintf(format, args...)}
}

// node: a node NotReady or under pressure → cordon it, then drain it.
func node(_ *Analyzer, in *input) *aianalysis.Result {
	n := in.e.Node
	if n == nil || (!in.facts.NodeNotReady && !in.facts.NodePressure) {
		return nil
	}
	if in.aia.Spec.Target.Kind != kubernautv1.TargetKindNode && in.facts.NotReadyPods == 0 {
		return nil
	}
	var evidence []kubernautv1.Evidence
	for _, c := range n.Conditions {
		if (c.Type == "Ready" && c.Status != "True") || (c.Type != "Ready" && c.Status == "True") {
			evidence = append(evidence, ev("node", "node %s condition %s=%s (%s)", n.Name, c.Type, c.Status, c.Reason))
		}
	}
	what, conf := "under resource pressure", 0.8
	if in.facts.NodeNotReady {
		what, conf = "not ready", 0.85
	}
	target := kubernautv1.Target{Kind: kubernautv1.TargetKindNode, Name: n.Name}
	steps := []kubernautv1.PlanStep{{Name: "cordon", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionCordonNode, Target: target},
		Rationale: "stop new pods from landing on the node"}}
	if !n.Unschedulable {
		evidence = append(evidence, ev("node", "node %s is still schedulable", n.Name))
	}
	steps = append(steps, kubernautv1.PlanStep{Name: "drain", DependsOn: []string{"cordon"},
		ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionDrainNode, Target: target,
			Parameters: &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 300}}},
		Rationale: "move its pods elsewhere through the eviction API, respecting PodDisruptionBudgets"})
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{Summary: fmt.Sprintf("node %s is %s", n.Name, what), Confidence: conf, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{Steps: steps,
			Rationale:    "cordon first so nothing new lands there, then drain so the workloads run on healthy nodes",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionRestartPod, Reason: "restarting pods on a sick node lands them back on it"}}},
	}
}

// oom: a container killed for memory → raise its limit (the new template rolls the pods).
func oom(a *Analyzer, in *input) *aianalysis.Result {
	if !in.facts.OOMKilled || in.e.Workload == nil {
		return nil
	}
	container := ""
	var evidence []kubernautv1.Evidence
	for _, p := range in.e.Pods {
		for _, c := range p.Containers {
			if c.LastTerminationReason == "OOMKilled" || c.Reason == "OOMKilled" {
				if container == "" {
					container = c.Name
				}
				evidence = append(evidence, ev("pods", "container %s of pod %s was OOMKilled (%d restarts)", c.Name, p.Name, c.RestartCount))
			}
		}
	}
	w := in.e.Workload
	var limit *resource.Quantity
	for _, c := range w.Containers {
		if c.Name == container {
			limit = c.MemoryLimit
		}
	}
	if limit == nil {
		return &aianalysis.Result{RootCause: kubernautv1.RootCause{
			Summary:    fmt.Sprintf("container %s of %s is OOM-killed and has no memory limit to raise: the node ran out of memory", container, w.Target),
			Confidence: 0.6, Evidence: append(evidence, ev("workload", "container %s declares no memory limit", container))}}
	}
	evidence = append(evidence, ev("workload", "container %s has a memory limit of %s", container, limit.String()))
	raised := resource.NewQuantity(int64(math.Ceil(float64(limit.Value())*float64(100+a.MemoryIncreasePercent)/100)), resource.BinarySI)
	if raised.Cmp(a.MemoryLimitCap) > 0 {
		if limit.Cmp(a.MemoryLimitCap) >= 0 {
			return &aianalysis.Result{RootCause: kubernautv1.RootCause{
				Summary:    fmt.Sprintf("container %s of %s is OOM-killed at %s, already at the cap of %s: a memory leak or a sizing decision for a person", container, w.Target, limit, a.MemoryLimitCap.String()),
				Confidence: 0.7, Evidence: evidence}}
		}
	}
	capLimit := a.MemoryLimitCap.DeepCopy()
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{Summary: fmt.Sprintf("container %s of %s exceeds its memory limit of %s", container, w.Target, limit), Confidence: 0.9, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{
			Steps: []kubernautv1.PlanStep{{Name: "raise-memory", ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionIncreaseMemoryLimit, Target: w.Target,
				Parameters: &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{
					Container: container, Percent: a.MemoryIncreasePercent, MaxLimit: &capLimit}}},
				Rationale: fmt.Sprintf("raise the limit by %d%% (at most %s); the changed template restarts the pods", a.MemoryIncreasePercent, a.MemoryLimitCap.String())}},
			Rationale:    "the container is killed for memory, not for a bug the logs show; more memory stops the kills while the usage is investigated",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionRestartDeployment, Reason: "a restart alone is killed again at the same limit"}},
		},
	}
}

// crashAfterRollout: a crash loop that began with the newest revision → roll back.
func crashAfterRollout(_ *Analyzer, in *input) *aianalysis.Result {
	w := in.e.Workload
	if !in.facts.CrashLooping || !in.facts.RecentRollout || w == nil || w.Target.Kind != kubernautv1.TargetKindDeployment || len(in.e.Rollouts) < 2 {
		return nil
	}
	newest, previous := in.e.Rollouts[0], in.e.Rollouts[1]
	evidence := []kubernautv1.Evidence{
		ev("rollouts", "revision %d (%s) was created at %s, %s before the alert started", newest.Revision, strings.Join(newest.Images, ", "),
			newest.CreatedAt.UTC().Format(time.RFC3339), in.sig.StartsAt.Sub(newest.CreatedAt.Time).Round(time.Second)),
		ev("rollouts", "the previous revision %d ran %s", previous.Revision, strings.Join(previous.Images, ", ")),
	}
	for _, p := range in.e.Pods {
		for _, c := range p.Containers {
			if facts.CrashLooping(c) {
				evidence = append(evidence, ev("pods", "container %s of pod %s crash-loops (%d restarts, last exit %s)", c.Name, p.Name, c.RestartCount, c.LastTerminationReason))
			}
		}
	}
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{Summary: fmt.Sprintf("revision %d of %s crashes on start; revision %d did not", newest.Revision, w.Target, previous.Revision),
			Confidence: 0.92, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{
			Steps: []kubernautv1.PlanStep{{Name: "rollback", ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionRollbackDeployment, Target: w.Target,
				Parameters: &kubernautv1.ActionParameters{RollbackDeployment: &kubernautv1.RollbackDeploymentParameters{}}},
				Rationale: fmt.Sprintf("return to revision %d, which ran", previous.Revision)}},
			Rationale:    "the crash loop started with the newest rollout: roll back, then fix the release",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionRestartDeployment, Reason: "the new revision crashes whenever it starts"}},
		},
	}
}

// unschedulable: replicas missing because pods cannot be scheduled or created → escalate.
func unschedulable(_ *Analyzer, in *input) *aianalysis.Result {
	if in.facts.ReplicasMissing == 0 {
		return nil
	}
	var evidence []kubernautv1.Evidence
	for _, p := range in.e.Pods {
		if p.Reason == "Unschedulable" && len(evidence) < 5 {
			evidence = append(evidence, ev("pods", "pod %s is Pending: Unschedulable", p.Name))
		}
	}
	for _, e := range in.e.Events {
		if (e.Reason == "FailedScheduling" || (e.Reason == "FailedCreate" && strings.Contains(e.Message, "exceeded quota"))) && len(evidence) < 8 {
			evidence = append(evidence, ev("events", "%s on %s: %s", e.Reason, e.Object, e.Message))
		}
	}
	if len(evidence) == 0 {
		return nil
	}
	return &aianalysis.Result{RootCause: kubernautv1.RootCause{
		Summary:    fmt.Sprintf("%d replicas of %s are missing: their pods cannot be scheduled or created (capacity, quota or placement); no catalog action fixes that", in.facts.ReplicasMissing, in.e.Workload.Target),
		Confidence: 0.8, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{Rationale: "escalate: the cluster lacks room or the pods ask for what no node offers",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionScaleDeployment, Reason: "scaling does not make pods schedulable"}}},
	}
}

// hpaAtMax: an HPA pinned at its maximum → raise the maximum within bounds.
func hpaAtMax(a *Analyzer, in *input) *aianalysis.Result {
	h := in.e.HPA
	if !in.facts.HPAAtMax || h == nil || in.e.Workload == nil {
		return nil
	}
	raised := min(int32(math.Ceil(float64(h.MaxReplicas)*float64(100+a.HPAIncreasePercent)/100)), a.HPAMaxCap)
	if raised <= h.MaxReplicas {
		return &aianalysis.Result{RootCause: kubernautv1.RootCause{
			Summary: fmt.Sprintf("HPA %s is at its maximum of %d, already at the cap of %d", h.Name, h.MaxReplicas, a.HPAMaxCap), Confidence: 0.7,
			Evidence: []kubernautv1.Evidence{ev("hpa", "current %d, desired %d, max %d", h.CurrentReplicas, h.DesiredReplicas, h.MaxReplicas)}}}
	}
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{Summary: fmt.Sprintf("HPA %s wants %d replicas of %s but is capped at %d", h.Name, h.DesiredReplicas, in.e.Workload.Target, h.MaxReplicas),
			Confidence: 0.75, Evidence: []kubernautv1.Evidence{ev("hpa", "current %d, desired %d, max %d", h.CurrentReplicas, h.DesiredReplicas, h.MaxReplicas)}},
		Recommendation: kubernautv1.Recommendation{
			Steps: []kubernautv1.PlanStep{{Name: "raise-hpa-max", ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionUpdateHPA, Target: kubernautv1.Target{Kind: kubernautv1.TargetKindHorizontalPodAutoscaler, Namespace: in.e.Workload.Target.Namespace, Name: h.Name},
				Parameters: &kubernautv1.ActionParameters{UpdateHPA: &kubernautv1.UpdateHPAParameters{MinReplicas: h.MinReplicas, MaxReplicas: raised}}},
				Rationale: fmt.Sprintf("raise the maximum from %d to %d", h.MaxReplicas, raised)}},
			Rationale: "the load exceeds what the HPA may scale to",
		},
	}
}

// stuckPod: one pod not ready while its siblings are → replace it.
func stuckPod(_ *Analyzer, in *input) *aianalysis.Result {
	t := in.aia.Spec.Target
	if t.Kind != kubernautv1.TargetKindPod || in.facts.CrashLooping || len(in.e.Pods) < 2 {
		return nil
	}
	var target *kubernautv1.PodState
	ready := 0
	for i := range in.e.Pods {
		p := &in.e.Pods[i]
		switch {
		case p.Name == t.Name:
			target = p
		case p.Ready:
			ready++
		}
	}
	if target == nil || target.Ready || target.Phase != "Running" || ready == 0 || ready < len(in.e.Pods)-1 {
		return nil
	}
	return &aianalysis.Result{
		RootCause: kubernautv1.RootCause{Summary: fmt.Sprintf("pod %s is stuck not ready while its %d siblings are ready", t.Name, ready), Confidence: 0.85,
			Evidence: []kubernautv1.Evidence{ev("pods", "pod %s is Running but not Ready on node %s", t.Name, target.NodeName), ev("pods", "%d other pods of the workload are Ready", ready)}},
		Recommendation: kubernautv1.Recommendation{
			Steps: []kubernautv1.PlanStep{{Name: "replace-pod", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionDeletePod, Target: t},
				Rationale: "its controller replaces it with a fresh pod"}},
			Rationale: "one pod is wedged; the workload is otherwise healthy",
		},
	}
}

// configChange: errors that began right after a ConfigMap changed → escalate with the cause.
func configChange(_ *Analyzer, in *input) *aianalysis.Result {
	if !in.facts.ConfigChangedRecently || (in.facts.NotReadyPods == 0 && !in.facts.CrashLooping) {
		return nil
	}
	var evidence []kubernautv1.Evidence
	for _, cm := range in.e.ConfigMaps {
		if cm.LastUpdated != nil {
			evidence = append(evidence, ev("configmaps", "ConfigMap %s changed at %s", cm.Name, cm.LastUpdated.UTC().Format(time.RFC3339)))
		}
	}
	return &aianalysis.Result{RootCause: kubernautv1.RootCause{
		Summary:    "the errors began right after a ConfigMap the workload uses changed; its previous data is not known to Kubernaut, so a person must restore it",
		Confidence: 0.5, Evidence: evidence},
		Recommendation: kubernautv1.Recommendation{Rationale: "escalate: restoring the configuration needs its previous data",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionUpdateConfig, Reason: "the previous data is unknown"},
				{Action: kubernautv1.ActionRollbackDeployment, Reason: "a rollback does not revert a ConfigMap"}}},
	}
}

// crashWithoutChange: a crash loop with no recent change → a person reads the logs.
func crashWithoutChange(_ *Analyzer, in *input) *aianalysis.Result {
	if !in.facts.CrashLooping {
		return nil
	}
	return &aianalysis.Result{RootCause: kubernautv1.RootCause{
		Summary:    "the workload crash-loops without a recent rollout or configuration change; the cause is in the application (see the log tails)",
		Confidence: 0.4, Evidence: []kubernautv1.Evidence{ev("rollouts", "no rollout in the 30 minutes before the alert")}},
		Recommendation: kubernautv1.Recommendation{Rationale: "escalate: restarting a crashing application does not fix it",
			Alternatives: []kubernautv1.Alternative{{Action: kubernautv1.ActionRestartDeployment, Reason: "it crashes again on start"}}},
	}
}
