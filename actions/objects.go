package actions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// maxDiff bounds a diff (the API's limit for DryRunResult.diff is 16 KiB).
const maxDiff = 16000

// diff is a unified diff of two objects as YAML, without the fields the API server keeps for
// itself and admission's record of who changed the object (a dry run stamps it too: it would
// show the person reading the diff a change no action makes, and a no-op as a change).
func diff(name string, before, after client.Object) string {
	a, b := render(before), render(after)
	if a == b {
		return ""
	}
	out, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b), FromFile: name + " (now)", ToFile: name + " (after)", Context: 2,
	})
	if err != nil {
		return "diff unavailable: " + err.Error()
	}
	return kubernautv1.Truncate(out, maxDiff)
}

// deletion is the diff of deleting an object.
func deletion(name string, obj client.Object) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s (now)\n+++ %s (after: deleted)\n", name, name)
	for _, l := range difflib.SplitLines(render(obj)) {
		b.WriteString("-" + l)
	}
	return kubernautv1.Truncate(b.String(), maxDiff)
}

func render(obj client.Object) string {
	if obj == nil || obj.GetName() == "" {
		return ""
	}
	c := obj.DeepCopyObject().(client.Object)
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	c.SetGeneration(0)
	if a := c.GetAnnotations(); a[kubernautv1.ChangedByAnnotation] != "" {
		delete(a, kubernautv1.ChangedByAnnotation)
		if len(a) == 0 {
			a = nil
		}
		c.SetAnnotations(a)
	}
	raw, err := yaml.Marshal(c)
	if err != nil {
		return err.Error()
	}
	// Status is the controllers' to change; the diff shows what the action changes.
	s := string(raw)
	if i := strings.Index(s, "\nstatus:"); i >= 0 {
		s = s[:i+1]
	}
	return s
}

// key is the object key of a target.
func key(t kubernautv1.Target) client.ObjectKey {
	return client.ObjectKey{Namespace: t.Namespace, Name: t.Name}
}

// get reads a target, turning NotFound into a refusal that names it.
func get(ctx context.Context, env Env, t kubernautv1.Target, obj client.Object) error {
	if err := env.Client.Get(ctx, key(t), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return refuse("spec.target", "%s does not exist", t)
		}
		return fmt.Errorf("reading %s: %w", t, err)
	}
	return nil
}

// workload is a Deployment, StatefulSet or DaemonSet target, read typed.
func workload(t kubernautv1.Target) (client.Object, error) {
	switch t.Kind {
	case kubernautv1.TargetKindDeployment:
		return &appsv1.Deployment{}, nil
	case kubernautv1.TargetKindStatefulSet:
		return &appsv1.StatefulSet{}, nil
	case kubernautv1.TargetKindDaemonSet:
		return &appsv1.DaemonSet{}, nil
	}
	return nil, refuse("spec.target.kind", "%s is not a Deployment, StatefulSet or DaemonSet", t.Kind)
}

// podTemplate returns a workload's pod template.
func podTemplate(obj client.Object) *corev1.PodTemplateSpec {
	switch w := obj.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// podSelector returns a workload's own pod selector (spec.selector): the pods the workload
// manages are those it selects, not those that merely carry its template's labels.
func podSelector(obj client.Object) (labels.Selector, error) {
	var sel *metav1.LabelSelector
	switch w := obj.(type) {
	case *appsv1.Deployment:
		sel = w.Spec.Selector
	case *appsv1.StatefulSet:
		sel = w.Spec.Selector
	case *appsv1.DaemonSet:
		sel = w.Spec.Selector
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || sel == nil || s.Empty() {
		return nil, refuse("spec.target", "%s/%s has no usable pod selector (%v)", obj.GetNamespace(), obj.GetName(), err)
	}
	return s, nil
}

// rolledOut applies `kubectl rollout status`'s rules (kubectl's own StatusViewer) to a
// workload as it is now.
func rolledOut(ctx context.Context, env Env, t kubernautv1.Target) (Check, error) {
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return Check{}, err
	}
	gk := schema.GroupKind{Group: "apps", Kind: string(t.Kind)}
	viewer, err := polymorphichelpers.StatusViewerFor(gk)
	if err != nil {
		return Check{}, fmt.Errorf("rollout status of %s: %w", t, err)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return Check{}, fmt.Errorf("converting %s: %w", t, err)
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
	if err != nil && staleDeadline(obj, env.ChangedAt) {
		return Check{Message: fmt.Sprintf("%s: waiting for the rollout of the change (its progress deadline condition predates it)", t)}, nil
	}
	if err != nil {
		// kubectl's viewer errs for a rollout that cannot finish (progress deadline exceeded).
		return Check{Done: true, Passed: false, Message: fmt.Sprintf("%s: %v", t, err)}, nil
	}
	return Check{Done: done, Passed: done, Message: strings.TrimSpace(msg)}, nil
}

// staleDeadline reports whether a Deployment's ProgressDeadlineExceeded condition was written
// before the change under verification, by an earlier rollout.
func staleDeadline(obj client.Object, changedAt time.Time) bool {
	d, ok := obj.(*appsv1.Deployment)
	if !ok || changedAt.IsZero() {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			// One written for this change comes at least progressDeadlineSeconds (≥ 1 s) after it.
			return !c.LastUpdateTime.Time.After(changedAt.Truncate(time.Second))
		}
	}
	return false
}

// apply logs and sends one patch of object t (dry-run when asked) and describes it: the
// message, the change on t, and the diff of the object before and after.
func apply(ctx context.Context, env Env, step kubernautv1.ActionStep, t kubernautv1.Target, obj client.Object, pt types.PatchType, body []byte, dryRun bool, message, change string) (Change, error) {
	before := obj.DeepCopyObject().(client.Object)
	logChange(env, step, dryRun, change)
	if err := env.Client.Patch(ctx, obj, client.RawPatch(pt, body), writeOpts(dryRun)...); err != nil {
		return Change{}, fmt.Errorf("patching %s (%s): %w", t, change, err)
	}
	return Change{Message: message, Changed: changed(t, "%s", change), Diff: diff(t.String(), before, obj)}, nil
}

// getWorkload reads a Deployment, StatefulSet or DaemonSet target.
func getWorkload(ctx context.Context, env Env, t kubernautv1.Target) (client.Object, error) {
	obj, err := workload(t)
	if err != nil {
		return nil, err
	}
	if err := get(ctx, env, t, obj); err != nil {
		return nil, err
	}
	return obj, nil
}
