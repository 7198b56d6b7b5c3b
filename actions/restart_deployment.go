package actions

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// restartDeployment is restart_deployment: a rolling restart exactly as `kubectl rollout
// restart` makes it (the restartedAt pod-template annotation, a paused Deployment refused),
// for Deployments, StatefulSets and DaemonSets. The timestamp is the capture time, so a
// retried execution does not restart twice.
type restartDeployment struct{ noInverse }

func init() { register(kubernautv1.ActionRestartDeployment, restartDeployment{}) }

func (restartDeployment) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	return captureRestart(ctx, env, step.Target)
}

func captureRestart(ctx context.Context, env Env, t kubernautv1.Target) (*kubernautv1.PreState, error) {
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return nil, err
	}
	if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
		return nil, refuse("spec.target", "can't restart paused deployment %s (run rollout resume first)", t)
	}
	pre := &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: obj.GetResourceVersion()}
	pre.RestartedAt = podTemplate(obj).Annotations[RestartedAtAnnotation]
	return pre, nil
}

func (restartDeployment) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	return restart(ctx, env, step, step.Target, pre, dryRun)
}

// restart sets the restartedAt annotation of one workload to the capture time.
func restart(ctx context.Context, env Env, step kubernautv1.ActionStep, t kubernautv1.Target, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return Change{}, err
	}
	stamp := pre.CapturedAt.Time.Format(time.RFC3339)
	was := podTemplate(obj).Annotations[RestartedAtAnnotation]
	if was == stamp {
		return Change{Message: fmt.Sprintf("%s was already restarted at %s", t, stamp)}, nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtAnnotation, stamp)
	return apply(ctx, env, step, t, obj, typesStrategic, patch, dryRun, fmt.Sprintf("rolling restart of %s (restartedAt %s)", t, stamp),
		fmt.Sprintf("pod template annotation %s: %q → %q", RestartedAtAnnotation, was, stamp))
}

func (restartDeployment) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	return rolledOut(ctx, env, step.Target)
}
