// Package kubernetesexecution runs one step of a plan: the safety policy evaluated again right
// before it runs, a SubjectAccessReview for the action's own ServiceAccount, a server-side dry
// run, the pre-state recorded, the action executed by an executor (inprocess or job), then
// verified; a Compensate step restores an earlier step's pre-state.
package kubernetesexecution

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/freshness"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
)

// Reconciler reconciles KubernetesExecutions.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server directly (the step's inputs at the moment it runs).
	APIReader client.Reader
	// Env is what the actions work with (validation, dry run and verification run here, in the
	// controller, whatever the executor).
	Env actions.Env
	// Executors by name; Default is used for every step.
	Executors map[kubernautv1.ExecutorName]Executor
	// Default names the executor that runs the steps.
	Default kubernautv1.ExecutorName
	// Safety is the safety policy, evaluated again right before each step.
	Safety *kubernautrego.Safety
	// Grants, when set, binds each step's action's rights to its ServiceAccount just in time
	// (from validation until it has executed) and makes the dry run and the inprocess
	// executor act as that ServiceAccount; nil acts with Env's own rights (a development
	// cluster, the tests of the steps' logic).
	Grants *grants.Granter
	// Authorizer checks the action's ServiceAccount; nil skips the check (recorded as such).
	Authorizer *Authorizer
	// Alerts, when set, makes the last steps of a plan also wait for their alert to resolve in
	// Alertmanager before they count as verified.
	Alerts *Alertmanager
	// KillSwitch, when set and on, rejects every step not yet validated (execution and undo
	// alike): once an operator pulls it, Kubernaut changes nothing more.
	KillSwitch *killswitch.Switch
	// progress remembers when each verifying step last wrote its progress (set up by
	// SetupWithManager; nil writes every change).
	progress *progressWrites
	// DryRunAll makes every step a dry run (the global dry-run mode).
	DryRunAll bool
	// VerifyInterval is how often verification looks again.
	VerifyInterval time.Duration
	// Events records an event per phase change.
	Events events.EventRecorder
	// Metrics counts executions, verifications and compensations; nil records none.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// written keeps a reconcile from starting on a cached step older than this controller's
	// last status write (it would validate, dry-run or write again what it just did).
	written *freshness.Tracker
}

// indexPlan indexes KubernetesExecutions by the plan they name (spec.workflowExecutionRef).
const indexPlan = "kubernaut.io/plan"

// SetupWithManager watches KubernetesExecutions, and the plans whose approval decision their
// steps wait for: a step created in the reconcile that records its plan's approval starts
// when that decision lands, not at its next look (it waited a second for it on every
// remediation, `make load LOAD_N=1`).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.progress == nil {
		r.progress = &progressWrites{at: map[types.NamespacedName]time.Time{}}
	}
	if r.written == nil {
		r.written = &freshness.Tracker{}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &kubernautv1.KubernetesExecution{}, indexPlan, planOf); err != nil {
		return fmt.Errorf("indexing KubernetesExecutions by plan: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).Named("kubernetesexecution").For(&kubernautv1.KubernetesExecution{}).
		Watches(&kubernautv1.WorkflowExecution{}, handler.EnqueueRequestsFromMapFunc(r.stepsOf), builder.WithPredicates(decided)).
		Complete(r)
}

// planOf is the plan a step names, for indexPlan.
func planOf(o client.Object) []string {
	if ke, ok := o.(*kubernautv1.KubernetesExecution); ok && ke.Spec.WorkflowExecutionRef != nil {
		return []string{ke.Spec.WorkflowExecutionRef.Name}
	}
	return nil
}

// decided passes the updates of a plan that change its approval decision: what a step
// waiting on errPlanPending waits for.
var decided = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		approval := func(o client.Object) metav1.ConditionStatus {
			we, ok := o.(*kubernautv1.WorkflowExecution)
			if !ok {
				return ""
			}
			if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition); c != nil {
				return c.Status
			}
			return ""
		}
		return approval(e.ObjectOld) != approval(e.ObjectNew)
	},
}

// stepsOf are the steps that name plan o and have not started (they may be waiting for it).
func (r *Reconciler) stepsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var steps kubernautv1.KubernetesExecutionList
	if err := r.Client.List(ctx, &steps, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexPlan: o.GetName()}); err != nil {
		// The steps still look again by themselves (planPendingRecheck).
		log.FromContext(ctx).Error(err, "listing the steps of a decided plan", "plan", client.ObjectKeyFromObject(o))
		return nil
	}
	var out []reconcile.Request
	for i := range steps.Items {
		if ke := &steps.Items[i]; meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition) == nil {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ke)})
		}
	}
	return out
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func set(ke *kubernautv1.KubernetesExecution, typ string, status metav1.ConditionStatus, reason, msg string) {
	kubernautv1.SetCondition(&ke.Status.Conditions, ke.Generation, typ, status, reason, msg)
}

// end finishes the step: Ready False with a terminal reason.
func end(ke *kubernautv1.KubernetesExecution, reason, msg string) {
	set(ke, kubernautv1.ReadyCondition, metav1.ConditionFalse, reason, msg)
}

// ended reports whether the step has ended (Succeeded, Failed or Rejected).
func ended(ke *kubernautv1.KubernetesExecution) bool {
	switch ke.Status.Phase {
	case kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected:
		return true
	}
	return false
}

// Reconcile moves the step one stage on and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ke := &kubernautv1.KubernetesExecution{}
	if err := r.Client.Get(ctx, req.NamespacedName, ke); err != nil {
		if apierrors.IsNotFound(err) {
			r.progress.forget(req.NamespacedName) // deleted while verifying (with its remediation)
			r.written.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.Stale(ke) {
		return ctrl.Result{RequeueAfter: freshness.Retry}, nil
	}
	if ended(ke) {
		r.written.Forget(req.NamespacedName)
		return r.letGo(ctx, ke)
	}
	before := ke.DeepCopy()
	now := r.now()
	// The actions log every mutation with the step's own values.
	step := *r
	step.Env.Log = r.Env.Log.WithValues("remediation", ke.Labels[kubernautv1.LabelRemediation], "step", ke.Spec.StepName,
		"execution", ke.Namespace+"/"+ke.Name, "mode", ke.Spec.Mode)
	r = &step
	if ke.Status.StartedAt == nil {
		t := metav1.NewTime(now)
		ke.Status.StartedAt = &t
	}
	res, err := r.step(ctx, ke, now)
	if errors.Is(err, errPlanPending) {
		// Nothing happened: the step starts (and its status is first written) when its plan's
		// decision lands (the watch on plans), or is refused once planPendingWait is over.
		return ctrl.Result{RequeueAfter: min(planPendingRecheck, max(planPendingWait-now.Sub(ke.CreationTimestamp.Time), 0)+time.Second)}, nil
	}
	r.summarize(ke, before, now)
	if !equality.Semantic.DeepEqual(before.Status, ke.Status) {
		if perr := r.Client.Status().Patch(ctx, ke, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching the status of KubernetesExecution %s: %w", req, perr))
		}
		r.written.Wrote(ke)
	}
	// The grant goes only once the status says the step no longer needs it: revoked before,
	// a crash in between left a step that had changed its target, still Executing in its
	// status, to be run again after the restart without its rights — Forbidden, the step
	// failed and the good change undone (make chaos ENGINE=argo, 3 of 200). A revoke that
	// fails here is left to the sweep, which removes grants of executed or ended steps.
	err = errors.Join(err, r.revoke(ctx, ke, before))
	return res, err
}

// step runs the stage the step is in.
func (r *Reconciler) step(ctx context.Context, ke *kubernautv1.KubernetesExecution, now time.Time) (ctrl.Result, error) {
	timeout := time.Duration(ke.Spec.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	if now.Sub(ke.Status.StartedAt.Time) > timeout {
		msg := fmt.Sprintf("the step exceeded its timeout of %s in phase %s", timeout, ke.DerivePhase())
		if meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ExecutedCondition) != nil {
			set(ke, kubernautv1.VerifiedCondition, metav1.ConditionFalse, kubernautv1.ReasonTimedOut, msg)
		}
		end(ke, kubernautv1.ReasonFailed, msg)
		return ctrl.Result{}, nil
	}
	switch {
	case meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition) == nil:
		err := r.validate(ctx, ke, now)
		if errors.Is(err, errStepRunning) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, err
	case !meta.IsStatusConditionTrue(ke.Status.Conditions, kubernautv1.ValidatedCondition):
		return ctrl.Result{}, nil
	case !final(ke, kubernautv1.ExecutedCondition):
		return r.execute(ctx, ke, now)
	case meta.IsStatusConditionTrue(ke.Status.Conditions, kubernautv1.ExecutedCondition) && !final(ke, kubernautv1.VerifiedCondition):
		return r.verify(ctx, ke, now)
	}
	return ctrl.Result{}, nil
}

// final reports whether a condition is True or False.
func final(ke *kubernautv1.KubernetesExecution, typ string) bool {
	c := meta.FindStatusCondition(ke.Status.Conditions, typ)
	return c != nil && c.Status != metav1.ConditionUnknown
}

// summarize derives the phase and Ready, stamps the completion, and reports a phase change.
func (r *Reconciler) summarize(ke, before *kubernautv1.KubernetesExecution, now time.Time) {
	conds := ke.Status.Conditions
	ready := meta.FindStatusCondition(conds, kubernautv1.ReadyCondition)
	switch {
	case ready != nil && ready.Status == metav1.ConditionFalse && kubernautv1.IsTerminalReason(ready.Reason):
	case meta.IsStatusConditionTrue(conds, kubernautv1.VerifiedCondition):
		c := meta.FindStatusCondition(conds, kubernautv1.VerifiedCondition)
		set(ke, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, c.Message)
	default:
		set(ke, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonProgressing, "phase "+string(ke.DerivePhase()))
	}
	ke.Status.Phase = ke.DerivePhase()
	ke.Status.ObservedGeneration = ke.Generation
	if ended(ke) && ke.Status.CompletedAt == nil {
		t := metav1.NewTime(now)
		ke.Status.CompletedAt = &t
		r.Metrics.finished(ke, now)
		r.progress.forget(client.ObjectKeyFromObject(ke))
	}
	// A step's event is its outcome (what it changed, or why not); the phases on the way are
	// in its status, and each event is a write to the API server.
	if ke.Status.Phase != before.Status.Phase && ended(ke) && r.Events != nil {
		kind := corev1.EventTypeNormal
		if ke.Status.Phase == kubernautv1.ExecutionFailed || ke.Status.Phase == kubernautv1.ExecutionRejected {
			kind = corev1.EventTypeWarning
		}
		msg := string(ke.Status.Phase)
		if c := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
			msg = c.Message
		}
		r.Events.Eventf(ke, nil, kind, string(ke.Status.Phase), "Step", "%s", kubernautv1.Truncate(msg, 1024))
	}
}
