package remediationrequest

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// Child names: the RemediationRequest's name and a suffix, so a child is found without a
// list and created once.

// newProcessing is the RemediationProcessing child: the signal and its targets.
func newProcessing(rr *kubernautv1.RemediationRequest) *kubernautv1.RemediationProcessing {
	return &kubernautv1.RemediationProcessing{
		ObjectMeta: childMeta(rr, kubernautv1.ProcessingName(rr.Name)),
		Spec: kubernautv1.RemediationProcessingSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: rr.Name},
			Signal:                rr.Spec.Signal,
			Target:                rr.Spec.Target,
			MemberTargets:         rr.Spec.MemberTargets,
		},
	}
}

// newAnalysis is the AIAnalysis child: the signal with the processing's context.
func newAnalysis(rr *kubernautv1.RemediationRequest, rp *kubernautv1.RemediationProcessing) *kubernautv1.AIAnalysis {
	return &kubernautv1.AIAnalysis{
		ObjectMeta: childMeta(rr, kubernautv1.AnalysisName(rr.Name)),
		Spec: kubernautv1.AIAnalysisSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: rr.Name},
			Signal:                rr.Spec.Signal,
			Target:                rr.Spec.Target,
			MemberTargets:         rr.Spec.MemberTargets,
			Enrichment:            rp.Status.Enrichment,
			Classification:        rp.Status.Classification,
		},
	}
}

// newWorkflow is the WorkflowExecution child: the analysis' plan, and its approval mode as the
// trust level made it (mode). The blast-radius target is the workload the processing resolved,
// else the alert's target.
func newWorkflow(rr *kubernautv1.RemediationRequest, aia *kubernautv1.AIAnalysis, mode kubernautv1.ApprovalMode) *kubernautv1.WorkflowExecution {
	target := blastRadius(rr, aia)
	meta := childMeta(rr, kubernautv1.WorkflowName(rr.Name))
	meta.Labels[kubernautv1.LabelTargetHash] = target.Hash()
	if mode == kubernautv1.ApprovalAuto {
		// An auto-approved plan starts the moment it is validated, and a started plan holds
		// the undo finalizer (deleting it mid-way undoes what it did): it is created holding
		// it, which spares the plan's controller a write when it starts. Deleted before it
		// starts, it still goes at once: its controller lets go of a plan that had not started.
		meta.Finalizers = []string{kubernautv1.UndoFinalizer}
	}
	return &kubernautv1.WorkflowExecution{
		ObjectMeta: meta,
		Spec: kubernautv1.WorkflowExecutionSpec{
			RemediationRequestRef: kubernautv1.LocalReference{Name: rr.Name},
			AIAnalysisRef:         kubernautv1.LocalReference{Name: aia.Name},
			AlertName:             rr.Spec.Signal.Name,
			Target:                target,
			Steps:                 aia.Status.Recommendation.Steps,
			ApprovalMode:          mode,
			Quorum:                aia.Status.Approval.Quorum,
		},
	}
}

func childMeta(rr *kubernautv1.RemediationRequest, name string) metav1.ObjectMeta {
	labels := map[string]string{kubernautv1.LabelRemediation: rr.Name}
	for _, k := range []string{kubernautv1.LabelAlertName, kubernautv1.LabelFingerprint} {
		if v := rr.Labels[k]; v != "" {
			labels[k] = v
		}
	}
	return metav1.ObjectMeta{Namespace: rr.Namespace, Name: name, Labels: labels}
}

// ensureChild returns the child named like want, creating want (owned by rr) when it does
// not exist yet. An object under the child's name that this remediation does not control is
// never adopted (a pre-created AIAnalysis would otherwise widen what the plan may touch): a
// terminal error naming it, and the remediation fails.
func ensureChild[T client.Object](ctx context.Context, r *Reconciler, rr *kubernautv1.RemediationRequest, want T) (T, error) {
	got, err := findOrCreate(ctx, r, rr, want)
	if err == nil && !metav1.IsControlledBy(got, rr) {
		return got, terminal.Errorf("%s %s/%s exists but is not this remediation's (its owners: %v): it is never adopted; delete it to remediate",
			kindOf(want), got.GetNamespace(), got.GetName(), got.GetOwnerReferences())
	}
	return got, err
}

func findOrCreate[T client.Object](ctx context.Context, r *Reconciler, rr *kubernautv1.RemediationRequest, want T) (T, error) {
	key := client.ObjectKeyFromObject(want)
	got := want.DeepCopyObject().(T)
	err := r.Client.Get(ctx, key, got)
	if err == nil {
		return got, nil
	}
	if !apierrors.IsNotFound(err) {
		return got, fmt.Errorf("reading %s %s: %w", kindOf(want), key, err)
	}
	if err := controllerutil.SetControllerReference(rr, want, r.Client.Scheme()); err != nil {
		return got, fmt.Errorf("owning %s %s: %w", kindOf(want), key, err)
	}
	switch err := r.Client.Create(ctx, want); {
	case err == nil:
		// No event: the phase change it starts has one, and the child's name is in the status.
		return want, nil
	case apierrors.IsAlreadyExists(err):
		// The cache has not seen it yet: read it from the API server.
		if err := r.APIReader.Get(ctx, key, got); err != nil {
			return got, fmt.Errorf("reading %s %s: %w", kindOf(want), key, err)
		}
		return got, nil
	default:
		return got, fmt.Errorf("creating %s %s: %w", kindOf(want), key, err)
	}
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *kubernautv1.RemediationProcessing:
		return "RemediationProcessing"
	case *kubernautv1.AIAnalysis:
		return "AIAnalysis"
	case *kubernautv1.WorkflowExecution:
		return "WorkflowExecution"
	}
	return fmt.Sprintf("%T", obj)
}

// readyMessage is a child's Ready message, for the reasons it hands up.
func readyMessage(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, kubernautv1.ReadyCondition); c != nil && c.Message != "" {
		return c.Message
	}
	return "no reason given"
}
