package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// rollbackDeployment is rollback_deployment with `kubectl rollout undo`'s semantics: the
// ReplicaSets are kubectl's (deploymentutil.GetAllReplicaSets), revision 0 means the
// second-highest revision, a paused Deployment is refused, and the patch replaces the pod
// template and the annotations exactly as kubectl's DeploymentRollbacker does. The ReplicaSet
// to restore is chosen at capture and recorded, so a retry restores the same template; the
// inverse restores the template of the ReplicaSet that was current.
type rollbackDeployment struct{}

func init() { register(kubernautv1.ActionRollbackDeployment, rollbackDeployment{}) }

// annotationsKept are kept from the Deployment rather than copied from the ReplicaSet
// (kubectl's annotationsToSkip).
var annotationsKept = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true, deploymentutil.RevisionAnnotation: true, deploymentutil.RevisionHistoryAnnotation: true,
	deploymentutil.DesiredReplicasAnnotation: true, deploymentutil.MaxReplicasAnnotation: true, appsv1.DeprecatedRollbackTo: true,
}

// withoutHash is a pod template without the pod-template-hash label: how kubectl compares a
// ReplicaSet's template with its Deployment's.
func withoutHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	delete(c.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return c
}

func (rollbackDeployment) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	var toRevision int64
	if p := params(step).RollbackDeployment; p != nil {
		toRevision = p.ToRevision
	}
	if toRevision < 0 {
		return nil, refuse("spec.parameters.rollbackDeployment.toRevision", "must not be negative")
	}
	d := &appsv1.Deployment{}
	if err := get(ctx, env, step.Target, d); err != nil {
		return nil, err
	}
	if d.Spec.Paused {
		return nil, refuse("spec.target", "you cannot rollback a paused deployment %s; resume it first", step.Target)
	}
	_, old, current, err := deploymentutil.GetAllReplicaSets(d, env.Kube.AppsV1())
	if err != nil {
		return nil, fmt.Errorf("listing the ReplicaSets of %s: %w", step.Target, err)
	}
	all := old
	if current != nil {
		all = append(all, current)
	}
	var latest, previous *appsv1.ReplicaSet
	latestRev, previousRev := int64(-1), int64(-1)
	for _, rs := range all {
		v, err := deploymentutil.Revision(rs)
		if err != nil {
			continue
		}
		switch {
		case toRevision > 0 && v == toRevision:
			previous, previousRev = rs, v
		case toRevision == 0 && v > latestRev:
			previous, previousRev = latest, latestRev
			latest, latestRev = rs, v
		case toRevision == 0 && v > previousRev:
			previous, previousRev = rs, v
		}
	}
	if previous == nil {
		if toRevision > 0 {
			return nil, refuse("spec.parameters.rollbackDeployment.toRevision", "unable to find specified revision %d in the history of %s", toRevision, step.Target)
		}
		return nil, refuse("spec.target", "no rollout history found for deployment %s", step.Target)
	}
	if env.MaxRollbackAge > 0 {
		if until, next := servedUntil(all, previousRev); !until.IsZero() && env.now().Sub(until) > env.MaxRollbackAge {
			return nil, refuse("spec.parameters.rollbackDeployment.toRevision",
				"revision %d of %s last served %s ago (revision %d replaced it at %s): a rollback goes back only to a revision that served within the last %s",
				previousRev, step.Target, env.now().Sub(until).Round(time.Minute), next, until.UTC().Format(time.RFC3339), env.MaxRollbackAge)
		}
	}
	rev, _ := deploymentutil.Revision(d)
	pre := &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: d.ResourceVersion, Revision: &rev, TargetReplicaSet: previous.Name}
	if current != nil {
		pre.ReplicaSet = current.Name
	}
	return pre, nil
}

// servedUntil is when revision rev stopped serving: the creation of the next newer revision's
// ReplicaSet (zero when none is newer), and that revision.
func servedUntil(all []*appsv1.ReplicaSet, rev int64) (time.Time, int64) {
	var until time.Time
	next := int64(-1)
	for _, rs := range all {
		v, err := deploymentutil.Revision(rs)
		if err != nil || v <= rev || (next >= 0 && v >= next) {
			continue
		}
		until, next = rs.CreationTimestamp.Time, v
	}
	return until, next
}

func (rollbackDeployment) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	return restoreTemplate(ctx, env, step, pre.TargetReplicaSet, dryRun)
}

func (rollbackDeployment) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if pre.ReplicaSet == "" {
		return Change{}, refuse("status.preState.replicaSet", "the pre-state names no ReplicaSet to restore")
	}
	return restoreTemplate(ctx, env, step, pre.ReplicaSet, dryRun)
}

// restoreTemplate puts the pod template of ReplicaSet rsName back into the Deployment.
func restoreTemplate(ctx context.Context, env Env, step kubernautv1.ActionStep, rsName string, dryRun bool) (Change, error) {
	t := step.Target
	d := &appsv1.Deployment{}
	if err := get(ctx, env, t, d); err != nil {
		return Change{}, err
	}
	rs := &appsv1.ReplicaSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: rsName}, rs); err != nil {
		return Change{}, fmt.Errorf("reading ReplicaSet %s/%s to roll %s back to: %w", t.Namespace, rsName, t, err)
	}
	rev, _ := deploymentutil.Revision(rs)
	tmpl := withoutHash(&rs.Spec.Template)
	if apiequality.Semantic.DeepEqual(tmpl, withoutHash(&d.Spec.Template)) {
		return Change{Message: fmt.Sprintf("%s already runs the template of ReplicaSet %s (revision %d)", t, rsName, rev)}, nil
	}
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if annotationsKept[k] {
			annotations[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !annotationsKept[k] {
			annotations[k] = v
		}
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	if err != nil {
		return Change{}, fmt.Errorf("encoding the rollback of %s: %w", t, err)
	}
	return apply(ctx, env, step, t, d, types.JSONPatchType, patch, dryRun, fmt.Sprintf("rolled %s back to the template of ReplicaSet %s (revision %d)", t, rsName, rev),
		fmt.Sprintf("pod template ← ReplicaSet %s (revision %d)", rsName, rev))
}

func (rollbackDeployment) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	return rolledOut(ctx, env, step.Target)
}

func (rollbackDeployment) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	t := step.Target
	d := &appsv1.Deployment{}
	if err := get(ctx, env, t, d); err != nil {
		return Check{}, err
	}
	rs := &appsv1.ReplicaSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: pre.ReplicaSet}, rs); err != nil {
		return Check{}, fmt.Errorf("reading ReplicaSet %s/%s: %w", t.Namespace, pre.ReplicaSet, err)
	}
	if !apiequality.Semantic.DeepEqual(withoutHash(&rs.Spec.Template), withoutHash(&d.Spec.Template)) {
		return Check{Done: true, Message: fmt.Sprintf("%s does not run the template of ReplicaSet %s", t, pre.ReplicaSet)}, nil
	}
	// The pre-state is what is restored, healthy or not. The undo of a rollback away from a
	// crash-looping release brings the crashing template back, and a rollout between two
	// unavailable ReplicaSets never converges (the Deployment controller scales neither down):
	// restored means the Deployment runs that template again and its controller observed it.
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	if d.Status.ObservedGeneration < d.Generation {
		return Check{Message: fmt.Sprintf("%s: waiting for its controller to observe the template of ReplicaSet %s", t, pre.ReplicaSet)}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("%s runs the template of ReplicaSet %s again (%d of %d pods updated, %d available, %d in all)",
		t, pre.ReplicaSet, d.Status.UpdatedReplicas, replicas, d.Status.AvailableReplicas, d.Status.Replicas)}, nil
}
