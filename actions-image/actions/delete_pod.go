package actions

import (
	"context"
	"fmt"
	"strings"
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
	if metav1.GetControllerOf(pod) == nil {
		return nil, refuse("spec.target", "pod %s has no controller: deleting it would not bring it back", step.Target)
	}
	if p := params(step).DeletePod; p != nil && p.GracePeriodSeconds != nil && *p.GracePeriodSeconds < 1 {
		return nil, refuse("spec.parameters.deletePod.gracePeriodSeconds", "must be at least 1: a pod is never force-deleted")
	}
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: pod.ResourceVersion, UID: string(pod.UID)}, nil
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

// replicaSetReady checks the ReplicaSet that owned a deleted pod (its name is the pod's name
// without the last dash-separated part): all its replicas ready again.
func replicaSetReady(ctx context.Context, env Env, t kubernautv1.Target, pre *kubernautv1.PreState) (Check, error) {
	rsList := &appsv1.ReplicaSetList{}
	if err := env.Client.List(ctx, rsList, client.InNamespace(t.Namespace)); err != nil {
		return Check{}, fmt.Errorf("listing the ReplicaSets of %s: %w", t.Namespace, err)
	}
	for _, rs := range rsList.Items {
		if !strings.HasPrefix(t.Name, rs.Name+"-") || strings.Contains(t.Name[len(rs.Name)+1:], "-") {
			continue
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
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("pod %s (uid %s) is gone", t, pre.UID)}, nil
}
