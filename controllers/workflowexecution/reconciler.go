package workflowexecution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/freshness"
	"github.com/kubernaut/kubernaut/controllers/grants"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/terminal"
)

// Reconciler plans WorkflowExecutions, records their approval, runs the approved plan with an
// engine and mirrors its nodes.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads the plan's targets uncached, for the separation of duties (who changed
	// them); Client when nil.
	APIReader client.Reader
	// Templates are the ClusterWorkflowTemplates plans compile against.
	Templates templates.Set
	// Compile configures compiled Workflows.
	Compile CompileOptions
	// Safety evaluates the safety policy for each step.
	Safety *kubernautrego.Safety
	// Events records an event per outcome.
	Events events.EventRecorder
	// Actions dry-run each step at planning, for the diff in status.plan; nil skips it (the
	// step still dry-runs right before it executes).
	Actions *actions.Env
	// ShadowWindow is how long an observed plan's targets are watched for a person's change
	// (shadow.go); zero judges none.
	ShadowWindow time.Duration
	// Grants, when set, makes each dry run at planning as the step's own ServiceAccount under a
	// grant held only for it; nil dry-runs with Actions' own rights.
	Grants *grants.Granter
	// Engines run approved plans, by name; DefaultEngine is used unless the spec names one.
	Engines map[kubernautv1.EngineName]Engine
	// DefaultEngine names the engine of plans that name none.
	DefaultEngine kubernautv1.EngineName
	// Metrics counts finished plans; nil records none.
	Metrics *Metrics
	// WatchWorkflows also watches Argo Workflows (the argo engine; needs Argo's CRDs).
	WatchWorkflows bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// written keeps a reconcile from starting on a cached plan older than this controller's
	// last status write (it would plan, dry-run or write again what it just did).
	written *freshness.Tracker
}

// SetupWithManager watches WorkflowExecutions (their annotations included: approvals), the
// KubernetesExecutions the builtin engine creates and, with the argo engine, Workflows.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.written == nil {
		r.written = &freshness.Tracker{}
	}
	b := ctrl.NewControllerManagedBy(mgr).Named("workflowexecution").For(&kubernautv1.WorkflowExecution{}).
		Owns(&kubernautv1.KubernetesExecution{})
	if r.WatchWorkflows {
		b = b.Owns(&wfv1.Workflow{})
	}
	return b.Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func set(we *kubernautv1.WorkflowExecution, typ string, status metav1.ConditionStatus, reason, msg string) {
	kubernautv1.SetCondition(&we.Status.Conditions, we.Generation, typ, status, reason, msg)
}

// Reconcile plans, then records the approval, and writes the status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	we := &kubernautv1.WorkflowExecution{}
	if err := r.Client.Get(ctx, req.NamespacedName, we); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.Stale(we) {
		return ctrl.Result{RequeueAfter: freshness.Retry}, nil
	}
	var held time.Duration // a deleted plan's time left before it goes, undone or not
	if we.DeletionTimestamp != nil && controllerutil.ContainsFinalizer(we, kubernautv1.UndoFinalizer) {
		release, reason, why, left := r.deleted(we, r.now())
		if release {
			r.written.Forget(req.NamespacedName)
			return ctrl.Result{}, r.release(ctx, we, reason, why)
		}
		held = left
	}
	if we.Status.Phase.IsFinished() {
		if held > 0 {
			// Its undo failed: it stays until a person releases it, or its bound.
			return ctrl.Result{RequeueAfter: held}, nil
		}
		switch we.Status.Phase {
		case kubernautv1.WorkflowRejected:
			r.written.Forget(req.NamespacedName)
			return r.rejected(ctx, we) // until the engine's controller has stopped the Workflow
		case kubernautv1.WorkflowObserved:
			if we.Status.Shadow == nil {
				return r.judge(ctx, we) // until its verdict is known
			}
		}
		r.written.Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	before := we.DeepCopy()
	clearApproval, res, err := r.advance(ctx, we)
	if ready := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition); terminal.Is(err) &&
		(ready == nil || !kubernautv1.IsTerminalReason(ready.Reason)) {
		// Not retried: the plan fails, saying what to put right (unless it ended already, as
		// a plan whose safety policy fails is Rejected).
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, terminal.Message(err))
	}
	we.Status.Phase = we.DerivePhase()
	we.Status.ObservedGeneration = we.Generation
	r.Metrics.observe(we, before)
	if we.Status.Phase != before.Status.Phase && r.Events != nil {
		kind := corev1.EventTypeNormal
		if we.Status.Phase == kubernautv1.WorkflowRejected || we.Status.Phase == kubernautv1.WorkflowFailed || we.Status.Phase == kubernautv1.WorkflowTimedOut ||
			we.Status.Phase == kubernautv1.WorkflowCompensating {
			kind = corev1.EventTypeWarning
		}
		// The RemediationRequest's events tell the story, its end included; the plan's own are
		// what a person acts on: its wait for an approval and its trouble.
		if kind == corev1.EventTypeWarning || we.Status.Phase == kubernautv1.WorkflowAwaitingApproval {
			r.Events.Eventf(we, nil, kind, string(we.Status.Phase), "Plan", "%s", phaseNote(we))
		}
	}
	if !equality.Semantic.DeepEqual(before.Status, we.Status) {
		if perr := r.Client.Status().Patch(ctx, we, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching the status of WorkflowExecution %s: %w", req, perr))
		}
		r.written.Wrote(we)
	}
	if clearApproval && err == nil {
		// Counted (or refused) and recorded above: the next approver sets the annotation anew.
		err = r.clearApproval(ctx, we)
	}
	if held > 0 && (res.RequeueAfter <= 0 || res.RequeueAfter > held) {
		res.RequeueAfter = held // a deleted plan goes at its bound, whatever it waits for
	}
	return res, err
}

// advance takes the plan through its stages in order, stopping at the first that waits, ends
// the plan or fails: planning (compile, safety policy, dry run: once); the approval (refused
// when the remediation ended; the gate, then the people's or the policy's decision, clear
// saying the counted annotation is to be removed); a rejection's stop of the gated Workflow;
// the run.
func (r *Reconciler) advance(ctx context.Context, we *kubernautv1.WorkflowExecution) (clear bool, res ctrl.Result, err error) {
	if err := r.plan(ctx, we); err != nil || !meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ValidatedCondition) {
		return false, ctrl.Result{}, err
	}
	// A plan whose remediation ended is refused before its gate: nothing is created for it.
	ended, err := r.remediationEnded(ctx, we)
	switch {
	case err != nil:
		return false, ctrl.Result{}, err
	case ended != "":
		r.refuseLate(we, ended)
	default:
		resume, err := r.gate(ctx, we)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		if clear, err = r.approve(ctx, we, resume); err != nil {
			return false, ctrl.Result{}, err
		}
	}
	if res, err = r.rejected(ctx, we); err != nil || !meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition) {
		return clear, res, err
	}
	res, err = r.run(ctx, we)
	return clear, res, err
}

func phaseNote(we *kubernautv1.WorkflowExecution) string {
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition); c != nil && c.Status == metav1.ConditionFalse && kubernautv1.IsTerminalReason(c.Reason) {
		return c.Message
	}
	if we.Status.Plan != nil {
		return "plan " + we.Status.Plan.Hash
	}
	return string(we.Status.Phase)
}

// plan compiles the plan and evaluates the safety policy for every step, once.
func (r *Reconciler) plan(ctx context.Context, we *kubernautv1.WorkflowExecution) error {
	if meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ValidatedCondition) {
		return nil
	}
	hash, err := PlanHash(we.Spec)
	if err != nil {
		return err
	}
	if _, err := Compile(we, hash, r.Compile, r.Templates); err != nil {
		msg := "the plan cannot be compiled: " + err.Error()
		set(we, kubernautv1.CompiledCondition, metav1.ConditionFalse, kubernautv1.ReasonWorkflowInvalid, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
		return nil
	}
	set(we, kubernautv1.CompiledCondition, metav1.ConditionTrue, kubernautv1.ReasonWorkflowCompiled, "compiled into an Argo Workflow that Argo's validator accepts")

	sc, err := kubernautrego.GatherSafetyContext(ctx, r.Client, we, r.now())
	if err != nil {
		return err
	}
	now := r.now()
	plan := &kubernautv1.Plan{Hash: hash}
	var denied, failed []string
	for _, s := range we.Spec.Steps {
		v, err := r.Safety.Evaluate(ctx, s, sc, now)
		switch {
		case terminal.Is(err):
			msg := "the safety policy failed: " + terminal.Message(err)
			set(we, kubernautv1.ValidatedCondition, metav1.ConditionFalse, kubernautv1.ReasonPolicyError, msg)
			set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
			return err
		case err != nil:
			return fmt.Errorf("evaluating the safety policy for step %s: %w", s.Name, err)
		}
		for _, m := range v.Violations {
			denied = append(denied, s.Name+": "+m)
		}
		planned := kubernautv1.PlannedStep{Name: s.Name, Action: s.Action, Target: s.Target, Policy: v}
		if v.Allowed {
			if planned.DryRun, err = r.dryRun(ctx, we, s); err != nil {
				return err
			}
			if planned.DryRun.Result == "Failed" {
				failed = append(failed, s.Name+": "+planned.DryRun.Message)
			}
		}
		plan.Steps = append(plan.Steps, planned)
	}
	t := metav1.NewTime(now)
	plan.ValidatedAt = &t
	we.Status.Plan = plan
	if len(denied) > 0 {
		msg := "the safety policy refused the plan: " + strings.Join(denied, "; ")
		set(we, kubernautv1.ValidatedCondition, metav1.ConditionFalse, kubernautv1.ReasonPolicyDenied, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
		return nil
	}
	if len(failed) > 0 {
		msg := "the API server's dry run refused the plan: " + strings.Join(failed, "; ")
		set(we, kubernautv1.ValidatedCondition, metav1.ConditionFalse, kubernautv1.ReasonDryRunFailed, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
		return nil
	}
	set(we, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonPlanValid, fmt.Sprintf("the safety policy and the API server's dry run allow all %d steps", len(plan.Steps)))
	return nil
}

// remediationEnded describes the RemediationRequest that owns a plan not approved yet when
// it has ended ("RemediationRequest rr-1 ended TimedOut"), else "": a remediation that gave up
// withdraws its plan, and an approval arriving before the withdrawal must not start it. A
// plan without such an owner (created by hand, or in tests) is not affected.
func (r *Reconciler) remediationEnded(ctx context.Context, we *kubernautv1.WorkflowExecution) (string, error) {
	owner := metav1.GetControllerOf(we)
	if meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition) || owner == nil ||
		owner.Kind != "RemediationRequest" || owner.APIVersion != kubernautv1.GroupVersion.String() {
		return "", nil
	}
	rr := &kubernautv1.RemediationRequest{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: we.Namespace, Name: owner.Name}, rr)
	switch {
	case apierrors.IsNotFound(err):
		return "", nil // deleted: its plan goes with it
	case err != nil:
		return "", fmt.Errorf("reading RemediationRequest %s, which owns WorkflowExecution %s: %w", owner.Name, we.Name, err)
	case rr.UID != owner.UID || !rr.Status.Phase.IsFinished():
		return "", nil
	}
	return fmt.Sprintf("RemediationRequest %s ended %s", rr.Name, rr.Status.Phase), nil
}

// refuseLate refuses the approval of a plan whose remediation ended (see remediationEnded).
func (r *Reconciler) refuseLate(we *kubernautv1.WorkflowExecution, ended string) {
	msg := ended + " before the plan was approved: the plan is withdrawn and can no longer be approved"
	we.Status.Approval = &kubernautv1.Approval{Mode: we.Spec.ApprovalMode, PlanHash: we.Status.Plan.Hash}
	r.refuse(we, "kubernaut", kubernautv1.ReasonRemediationEnded, msg, msg)
}
