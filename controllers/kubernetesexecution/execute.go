package kubernetesexecution

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// Outcome is what an executor reports of a step.
type Outcome struct {
	// Done is false while the action still runs (a Job); the controller looks again later.
	Done bool
	// Change is what the action did.
	Change actions.Change
	// Failure says why the action failed; empty when it succeeded.
	Failure string
}

// Executor runs a step's action (Execute mode) or its inverse (Compensate mode) from the
// pre-state recorded in the step's status.
type Executor interface {
	// Run starts or continues the step with env (the controller's, logging for this step). An
	// error is transient (the step is tried again); a failed action is an Outcome with a
	// Failure.
	Run(ctx context.Context, env actions.Env, ke *kubernautv1.KubernetesExecution) (Outcome, error)
}

// InProcess runs the action's code inside the controller (local mode, tests).
type InProcess struct{}

// Run calls the action (or its inverse) directly. Actions are deterministic from the recorded
// pre-state, so a Run repeated after a crash makes no second change.
func (InProcess) Run(ctx context.Context, env actions.Env, ke *kubernautv1.KubernetesExecution) (Outcome, error) {
	change, err := actions.Run(ctx, env, ke.Spec.Mode, ke.Spec.ActionStep, ke.Status.PreState)
	switch {
	case terminal.Is(err):
		return Outcome{Done: true, Change: change, Failure: terminal.Message(err)}, nil
	case err != nil:
		return Outcome{}, err
	}
	return Outcome{Done: true, Change: change}, nil
}

func (r *Reconciler) interval() time.Duration {
	if r.VerifyInterval > 0 {
		return r.VerifyInterval
	}
	return 2 * time.Second
}

// progressWrites throttles the progress messages of verifying steps: a rollout's message
// changes several times a second ("0 of 1 updated replicas are available…", "1 old replicas
// are pending termination…"), and each write also triggers the step's next reconcile at once.
// A step writes its progress at most once per verify interval, the first an interval after it
// executed; its outcome is always written.
type progressWrites struct {
	mu sync.Mutex
	at map[types.NamespacedName]time.Time
}

// due reports whether a step may write its progress now, and notes it if so.
func (p *progressWrites) due(step types.NamespacedName, now time.Time, every time.Duration) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.at[step]; ok && now.Sub(last) < every {
		return false
	}
	p.at[step] = now
	return true
}

// started notes that a step began verifying: its first progress may be written an interval
// later, so that a health check that passes within an interval (most rollouts) writes none —
// the step's Verified condition says "verifying" meanwhile.
func (p *progressWrites) started(step types.NamespacedName, now time.Time) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at[step] = now
}

// forget drops a step that finished or is gone.
func (p *progressWrites) forget(step types.NamespacedName) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.at, step)
}

// verifyAfter is when a health check that has not concluded looks again: every interval at
// first, then a quarter of the time it has waited so far, at most eight intervals apart. A
// quick rollout is seen within an interval; a thousand slow ones do not fill the queue with
// checks every interval, ahead of the steps waiting to run (seen at 1,000 remediations at
// once: docs/benchmarks.md). A healthy target is seen at most a quarter of the time already
// waited (or eight intervals) after it became healthy.
func (r *Reconciler) verifyAfter(since, now time.Time) time.Duration {
	if since.IsZero() {
		return r.interval()
	}
	return min(max(r.interval(), now.Sub(since)/4), 8*r.interval())
}

// execute is the Executing stage: the executor runs the action; a success moves on to
// Verifying, a failure ends the step.
func (r *Reconciler) execute(ctx context.Context, ke *kubernautv1.KubernetesExecution, now time.Time) (ctrl.Result, error) {
	name := r.Default
	if name == "" {
		name = kubernautv1.ExecutorInProcess
	}
	exec, ok := r.Executors[name]
	if !ok {
		return ctrl.Result{}, fmt.Errorf("executor %q is not configured", name)
	}
	ke.Status.Executor = name
	env, err := r.actionEnv(ke)
	if err != nil {
		return ctrl.Result{}, err
	}
	out, err := exec.Run(ctx, env, ke)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("running %s on %s: %w", ke.Spec.Action, ke.Spec.Target, err)
	}
	if !out.Done {
		return ctrl.Result{RequeueAfter: r.interval()}, nil
	}
	result := &kubernautv1.ActionResult{Success: out.Failure == "", Message: kubernautv1.Truncate(out.Change.Message, 2048), Changed: out.Change.Changed}
	if len(result.Changed) > 50 {
		result.Changed = result.Changed[:50]
	}
	ke.Status.Result = result
	if out.Failure != "" {
		result.Message = kubernautv1.Truncate(out.Failure, 2048)
		msg := fmt.Sprintf("%s on %s failed: %s", ke.Spec.Action, ke.Spec.Target, out.Failure)
		set(ke, kubernautv1.ExecutedCondition, metav1.ConditionFalse, kubernautv1.ReasonActionFailed, msg)
		end(ke, kubernautv1.ReasonFailed, msg)
		return ctrl.Result{}, nil
	}
	if result.Message == "" {
		result.Message = "done"
	}
	set(ke, kubernautv1.ExecutedCondition, metav1.ConditionTrue, kubernautv1.ReasonActionSucceeded, result.Message)
	set(ke, kubernautv1.VerifiedCondition, metav1.ConditionUnknown, kubernautv1.ReasonVerifying, "verifying "+ke.Spec.Target.String())
	r.progress.started(client.ObjectKeyFromObject(ke), now)
	return ctrl.Result{RequeueAfter: r.interval() / 4}, nil
}

// verify is the Verifying stage: the action's health check (for a compensation, that the
// pre-state is back), looked at again until it concludes or the step times out.
func (r *Reconciler) verify(ctx context.Context, ke *kubernautv1.KubernetesExecution, now time.Time) (ctrl.Result, error) {
	impl, err := actions.For(ke.Spec.Action)
	if err != nil {
		return ctrl.Result{}, err
	}
	var check actions.Check
	env := r.Env
	if c := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ExecutedCondition); c != nil {
		env.ChangedAt = c.LastTransitionTime.Time
	}
	if ke.Spec.Mode == kubernautv1.ExecutionModeCompensate {
		check, err = impl.Restored(ctx, env, ke.Spec.ActionStep, ke.Status.PreState)
	} else {
		check, err = impl.Verify(ctx, env, ke.Spec.ActionStep, ke.Status.PreState)
	}
	switch {
	case terminal.Is(err):
		check = actions.Check{Done: true, Message: terminal.Message(err)}
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("verifying %s: %w", ke.Spec.Target, err)
	}
	if !check.Done {
		c := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.VerifiedCondition)
		if (c == nil || c.Message != check.Message) && r.progress.due(client.ObjectKeyFromObject(ke), now, r.interval()) {
			set(ke, kubernautv1.VerifiedCondition, metav1.ConditionUnknown, kubernautv1.ReasonVerifying, check.Message)
		}
		return ctrl.Result{RequeueAfter: r.verifyAfter(env.ChangedAt, now)}, nil
	}
	t := metav1.NewTime(now)
	v := &kubernautv1.Verification{Result: "Passed", Message: kubernautv1.Truncate(check.Message, 1024), CheckedAt: &t}
	ke.Status.Verification = v
	if !check.Passed {
		v.Result = "Failed"
		r.Metrics.verificationFailed(ke)
		set(ke, kubernautv1.VerifiedCondition, metav1.ConditionFalse, kubernautv1.ReasonUnhealthy, check.Message)
		end(ke, kubernautv1.ReasonFailed, "verification failed: "+check.Message)
		return ctrl.Result{}, nil
	}
	if r.Alerts != nil {
		name, fp, last, err := r.alertOf(ctx, ke)
		if err != nil {
			return ctrl.Result{}, err
		}
		if last && fp != "" {
			firing, err := r.Alerts.Firing(ctx, name, fp)
			if err != nil {
				// Alertmanager unreachable: keep verifying until it answers or the step times out.
				set(ke, kubernautv1.VerifiedCondition, metav1.ConditionUnknown, kubernautv1.ReasonVerifying, check.Message+"; "+err.Error())
				ke.Status.Verification = nil
				return ctrl.Result{RequeueAfter: r.verifyAfter(env.ChangedAt, now)}, nil
			}
			if firing {
				msg := fmt.Sprintf("%s; waiting for alert %s (fingerprint %s) to resolve in Alertmanager", check.Message, name, fp)
				if c := meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.VerifiedCondition); c == nil || c.Message != msg {
					set(ke, kubernautv1.VerifiedCondition, metav1.ConditionUnknown, kubernautv1.ReasonVerifying, msg)
				}
				ke.Status.Verification = nil
				return ctrl.Result{RequeueAfter: r.verifyAfter(env.ChangedAt, now)}, nil
			}
			check.Message += fmt.Sprintf("; alert %s is resolved in Alertmanager", name)
			v.Message = kubernautv1.Truncate(check.Message, 1024)
		}
	}
	set(ke, kubernautv1.VerifiedCondition, metav1.ConditionTrue, kubernautv1.ReasonHealthy, check.Message)
	return ctrl.Result{}, nil
}
