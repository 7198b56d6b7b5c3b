package actions

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// restartService is restart_service: a rolling restart (as restart_deployment) of every
// Deployment, StatefulSet and DaemonSet whose pods the Service's selector selects. A Service
// without a selector, or one that selects no workload, is refused.
type restartService struct{ noInverse }

func init() { register(kubernautv1.ActionRestartService, restartService{}) }

// behind lists the workloads behind a Service, sorted.
func behind(ctx context.Context, env Env, t kubernautv1.Target) ([]kubernautv1.Target, error) {
	svc := &corev1.Service{}
	if err := get(ctx, env, t, svc); err != nil {
		return nil, err
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, refuse("spec.target", "Service %s has no selector: no workload is behind it", t)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []kubernautv1.Target
	add := func(kind kubernautv1.TargetKind, name string, podLabels map[string]string) {
		if sel.Matches(labels.Set(podLabels)) {
			out = append(out, kubernautv1.Target{Kind: kind, Namespace: t.Namespace, Name: name})
		}
	}
	var ds appsv1.DeploymentList
	var ss appsv1.StatefulSetList
	var dss appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&ds, &ss, &dss} {
		if err := env.Client.List(ctx, l, client.InNamespace(t.Namespace)); err != nil {
			return nil, fmt.Errorf("listing the workloads of namespace %s: %w", t.Namespace, err)
		}
	}
	for _, d := range ds.Items {
		add(kubernautv1.TargetKindDeployment, d.Name, d.Spec.Template.Labels)
	}
	for _, s := range ss.Items {
		add(kubernautv1.TargetKindStatefulSet, s.Name, s.Spec.Template.Labels)
	}
	for _, d := range dss.Items {
		add(kubernautv1.TargetKindDaemonSet, d.Name, d.Spec.Template.Labels)
	}
	if len(out) == 0 {
		return nil, refuse("spec.target", "no Deployment, StatefulSet or DaemonSet is behind Service %s (selector %s)", t, sel)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func (restartService) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	ws, err := behind(ctx, env, step.Target)
	if err != nil {
		return nil, err
	}
	// Every workload must be restartable (a paused Deployment refuses); the capture time is
	// the one restartedAt they all get.
	for _, w := range ws {
		if _, err := captureRestart(ctx, env, w); err != nil {
			return nil, err
		}
	}
	return &kubernautv1.PreState{CapturedAt: metaNow(env)}, nil
}

func (restartService) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	ws, err := behind(ctx, env, step.Target)
	if err != nil {
		return Change{}, err
	}
	var all Change
	var names []string
	for _, w := range ws {
		c, err := restart(ctx, env, step, w, pre, dryRun)
		if err != nil {
			return Change{}, err
		}
		all.Changed = append(all.Changed, c.Changed...)
		all.Diff += c.Diff
		names = append(names, w.String())
	}
	all.Message = fmt.Sprintf("rolling restart of the workloads behind Service %s: %s", step.Target, strings.Join(names, ", "))
	all.Diff = kubernautv1.Truncate(all.Diff, maxDiff)
	return all, nil
}

func (restartService) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	ws, err := behind(ctx, env, step.Target)
	if err != nil {
		return Check{}, err
	}
	var msgs []string
	for _, w := range ws {
		c, err := rolledOut(ctx, env, w)
		if err != nil || !c.Passed {
			return c, err
		}
		msgs = append(msgs, c.Message)
	}
	return Check{Done: true, Passed: true, Message: strings.Join(msgs, "; ")}, nil
}
