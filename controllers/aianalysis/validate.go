package aianalysis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// Validator checks a recommendation before anything trusts it.
type Validator struct {
	// Client performs server-side dry runs, so the API's own schema and CEL rules judge each
	// step's parameters (one source of truth for what a step may be).
	Client client.Client
	// MaxSteps bounds the plan.
	MaxSteps int
	// Static skips the dry runs: only the checks made without the API server (the backtest's
	// — a person's rights do not reach a dry run of a KubernetesExecution, which admission
	// keeps for Kubernaut; the live chain dry-runs each step again before it runs).
	Static bool
}

// Validate returns every problem of the recommendation, one message each, naming the step.
func (v *Validator) Validate(ctx context.Context, aia *kubernautv1.AIAnalysis, rec *kubernautv1.Recommendation) ([]string, error) {
	var problems []string
	if len(rec.Steps) > v.MaxSteps {
		// Refused before anything else: each step costs a dry run on the API server, and an
		// answer of thousands of steps must not cost thousands.
		return []string{fmt.Sprintf("%d steps, more than the limit of %d: no step was checked further", len(rec.Steps), v.MaxSteps)}, nil
	}
	allowed := scope(aia)
	names := map[string]int{}
	for i, s := range rec.Steps {
		at := fmt.Sprintf("steps[%d] (%s)", i, s.Name)
		if j, dup := names[s.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: name already used by steps[%d]", at, j))
		}
		names[s.Name] = i
		if errs := validation.IsDNS1123Label(s.Name); len(errs) > 0 || len(s.Name) > 40 {
			problems = append(problems, fmt.Sprintf("%s: the name must be a DNS label of at most 40 characters", at))
		}
		a, err := catalog.Lookup(s.Action)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", at, err))
			continue
		}
		if !a.AppliesTo(s.Target.Kind) {
			problems = append(problems, fmt.Sprintf("%s: %s does not apply to a %s", at, s.Action, s.Target.Kind))
		}
		if !allowed[s.Target.String()] {
			problems = append(problems, fmt.Sprintf("%s: target %s is outside the remediation (its target, owner chain, workload, node, HPA, ConfigMaps, a Service's backends or storm members)", at, s.Target))
		}
		msgs, err := v.dryRun(ctx, aia, s)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			problems = append(problems, at+": "+m)
		}
	}
	for i, s := range rec.Steps {
		for _, d := range s.DependsOn {
			if _, ok := names[d]; !ok || d == s.Name {
				problems = append(problems, fmt.Sprintf("steps[%d] (%s): depends on %q, which is not another step of the plan", i, s.Name, d))
			}
		}
	}
	if cycle := findCycle(rec.Steps); cycle != "" {
		problems = append(problems, "the steps depend on each other in a cycle: "+cycle)
	}
	return problems, nil
}

// dryRun asks the API server whether the step would be a valid KubernetesExecution.
func (v *Validator) dryRun(ctx context.Context, aia *kubernautv1.AIAnalysis, s kubernautv1.PlanStep) ([]string, error) {
	if v.Static {
		return nil, nil
	}
	ke := &kubernautv1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Namespace: aia.Namespace, GenerateName: "validate-"},
		Spec:       kubernautv1.KubernetesExecutionSpec{ActionStep: s.ActionStep, Mode: kubernautv1.ExecutionModeExecute, StepName: s.Name},
	}
	err := v.Client.Create(ctx, ke, client.DryRunAll)
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil, nil
	case apierrors.IsInvalid(err) && errors.As(err, &status):
		var msgs []string
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				if strings.Contains(c.Message, "some validation rules were not checked") {
					continue
				}
				msgs = append(msgs, strings.TrimPrefix(c.Field, "spec.")+": "+c.Message)
			}
		}
		if len(msgs) == 0 {
			msgs = []string{err.Error()}
		}
		return msgs, nil
	default:
		return nil, fmt.Errorf("dry-running step %s: %w", s.Name, err)
	}
}

// scope is the set of objects a plan may touch: the remediation's target, its owner chain
// and workload, the storm's members, the nodes of its pods, its HPA, its ConfigMaps and the
// workloads behind a Service target.
func scope(aia *kubernautv1.AIAnalysis) map[string]bool {
	ok := map[string]bool{aia.Spec.Target.String(): true}
	for _, m := range aia.Spec.MemberTargets {
		ok[m.Target.String()] = true
	}
	e := aia.Spec.Enrichment
	if e == nil {
		return ok
	}
	for _, t := range e.OwnerChain {
		ok[t.String()] = true
	}
	ns := aia.Spec.Target.Namespace
	if e.Workload != nil {
		ok[e.Workload.Target.String()] = true
		ns = e.Workload.Target.Namespace
	}
	for _, p := range e.Pods {
		ok[kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: ns, Name: p.Name}.String()] = true
		if p.NodeName != "" {
			ok[kubernautv1.Target{Kind: kubernautv1.TargetKindNode, Name: p.NodeName}.String()] = true
		}
	}
	if e.Node != nil {
		ok[kubernautv1.Target{Kind: kubernautv1.TargetKindNode, Name: e.Node.Name}.String()] = true
	}
	if e.HPA != nil {
		ok[kubernautv1.Target{Kind: kubernautv1.TargetKindHorizontalPodAutoscaler, Namespace: ns, Name: e.HPA.Name}.String()] = true
	}
	for _, cm := range e.ConfigMaps {
		ok[kubernautv1.Target{Kind: kubernautv1.TargetKindConfigMap, Namespace: ns, Name: cm.Name}.String()] = true
	}
	for _, w := range e.Backends {
		ok[w.Target.String()] = true
	}
	return ok
}

// findCycle returns a dependency cycle as "a → b → a", or "".
func findCycle(steps []kubernautv1.PlanStep) string {
	deps := map[string][]string{}
	for _, s := range steps {
		deps[s.Name] = s.DependsOn
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string) string
	visit = func(n string) string {
		switch state[n] {
		case active:
			i := 0
			for path[i] != n {
				i++
			}
			return strings.Join(append(append([]string{}, path[i:]...), n), " → ")
		case done:
			return ""
		}
		state[n] = active
		path = append(path, n)
		for _, d := range deps[n] {
			if _, known := deps[d]; known {
				if c := visit(d); c != "" {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return ""
	}
	for _, s := range steps {
		if c := visit(s.Name); c != "" {
			return c
		}
	}
	return ""
}
