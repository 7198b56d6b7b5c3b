package actions

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// deletePod is restart_pod and delete_pod: one pod deleted (never forced) so that its
// controller replaces it. A pod without a controller is refused: nothing would bring it back.
// The delete carries the pod's UID as a precondition, so a retry never deletes its
// replacement.
type deletePod struct{ noInverse }

func init() {
	register(kubernautv1.ActionRestartPod, deletePod{})
	register(kubernautv1.ActionDeletePod, deletePod{})
}

func (deletePod) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	pod := &corev1.Pod{}
	if err := get(ctx, env, step.Target, pod); err != nil {
		return nil, err
	}
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return nil, refuse("spec.target", "pod %s has no controller: deleting it would not bring it back", step.Target)
	}
	if p := params(step).DeletePod; p != nil && p.GracePeriodSeconds != nil && *p.GracePeriodSeconds < 1 {
		return nil, refuse("spec.parameters.deletePod.gracePeriodSeconds", "must be at least 1: a pod is never force-deleted")
	}
	pre := &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: pod.ResourceVersion, UID: string(pod.UID)}
	if owner.Kind == "ReplicaSet" {
		pre.ReplicaSet = owner.Name
	}
	return pre, nil
}

func (deletePod) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	t := step.Target
	pod := &corev1.Pod{}
	if err := env.Client.Get(ctx, key(t), pod); err != nil {
		if apierrors.IsNotFound(err) {
			return Change{Message: fmt.Sprintf("pod %s is already gone", t)}, nil
		}
		return Change{}, fmt.Errorf("reading %s: %w", t, err)
	}
	if string(pod.UID) != pre.UID {
		return Change{Message: fmt.Sprintf("pod %s was already replaced (UID %s, was %s)", t, pod.UID, pre.UID)}, nil
	}
	if pod.DeletionTimestamp != nil {
		return Change{Message: fmt.Sprintf("pod %s is already being deleted (since %s)", t, pod.DeletionTimestamp.UTC().Format(time.RFC3339))}, nil
	}
	uid := types.UID(pre.UID)
	opts := []client.DeleteOption{client.Preconditions{UID: &uid}}
	if p := params(step).DeletePod; p != nil && p.GracePeriodSeconds != nil {
		opts = append(opts, client.GracePeriodSeconds(*p.GracePeriodSeconds))
	}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	logChange(env, step, dryRun, "delete pod uid "+pre.UID)
	if err := env.Client.Delete(ctx, pod, opts...); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return Change{Message: fmt.Sprintf("pod %s was already deleted", t)}, nil
		}
		return Change{}, fmt.Errorf("deleting %s: %w", t, err)
	}
	return Change{
		Message: fmt.Sprintf("deleted pod %s; its controller %s replaces it", t, metav1.GetControllerOf(pod).Name),
		Changed: changed(t, "deleted (uid %s)", pre.UID),
		Diff:    deletion(t.String(), pod),
	}, nil
}

// Verify waits for the pod to be gone or replaced (a StatefulSet's pod comes back under its
// name) and for the replacement to be ready.
func (deletePod) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	t := step.Target
	pod := &corev1.Pod{}
	err := env.Client.Get(ctx, key(t), pod)
	switch {
	case err == nil && string(pod.UID) == pre.UID:
		return Check{Message: fmt.Sprintf("pod %s is terminating", t)}, nil
	case err == nil:
		if podReady(pod) {
			return Check{Done: true, Passed: true, Message: fmt.Sprintf("pod %s was replaced and is ready", t)}, nil
		}
		return Check{Message: fmt.Sprintf("pod %s was replaced and is not ready yet", t)}, nil
	case !apierrors.IsNotFound(err):
		return Check{}, fmt.Errorf("reading %s: %w", t, err)
	}
	return replicaSetReady(ctx, env, t, pre)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// replicaSetReady checks the ReplicaSet that owned the deleted pod (recorded at capture): all
// its replicas ready again. A pod of another controller counts as replaced once it is gone.
func replicaSetReady(ctx context.Context, env Env, t kubernautv1.Target, pre *kubernautv1.PreState) (Check, error) {
	if pre.ReplicaSet == "" {
		return Check{Done: true, Passed: true, Message: fmt.Sprintf("pod %s (uid %s) is gone", t, pre.UID)}, nil
	}
	rs := &appsv1.ReplicaSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: pre.ReplicaSet}, rs); err != nil {
		if apierrors.IsNotFound(err) {
			return Check{Done: true, Message: fmt.Sprintf("ReplicaSet %s of pod %s is gone: nothing replaces it", pre.ReplicaSet, t)}, nil
		}
		return Check{}, fmt.Errorf("reading ReplicaSet %s/%s: %w", t.Namespace, pre.ReplicaSet, err)
	}
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	if rs.Status.ReadyReplicas >= want && rs.Status.ObservedGeneration >= rs.Generation {
		return Check{Done: true, Passed: true, Message: fmt.Sprintf("pod %s replaced; ReplicaSet %s has %d/%d ready", t, rs.Name, rs.Status.ReadyReplicas, want)}, nil
	}
	return Check{Message: fmt.Sprintf("pod %s deleted; ReplicaSet %s has %d/%d ready", t, rs.Name, rs.Status.ReadyReplicas, want)}, nil
}
