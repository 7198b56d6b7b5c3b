// Package actions runs the catalog's actions: for each, pre-state capture, execution (or its
// server-side dry run, with the diff), verification and, where it has one, the inverse that
// restores the pre-state. The same code runs inside the controller (the inprocess executor)
// and in the actions image (the job executor), one file per action.
//
// Every action is deterministic given its step and its recorded pre-state: executing it again
// after a crash makes the same change (a restart writes the capture time, a rollback names the
// ReplicaSet chosen at capture, a delete carries the pod's UID as a precondition), so no
// action takes effect twice.
package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// FieldManager is the field manager of every change an action makes.
const FieldManager = "kubernaut-actions"

// Env is what actions work with.
type Env struct {
	// Client reads from and writes to the API server directly (never a cache: an action acts
	// on what is there now).
	Client client.Client
	// Kube is the typed clientset kubectl's libraries need (drain, eviction, exec).
	Kube kubernetes.Interface
	// Log receives one line per mutation.
	Log logr.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// EvictionRetryDelay is how long drain_node waits before retrying an eviction that a
	// PodDisruptionBudget refused (kubectl uses 5s).
	EvictionRetryDelay time.Duration
	// CustomScriptImages are the images custom_script may run; empty means custom_script is
	// off.
	CustomScriptImages []string
	// MaxRollbackAge bounds how long ago the revision a rollback_deployment goes back to last
	// served (when the next revision replaced it); zero means no bound. A rollback is to the
	// known-good state of a moment ago, not to whatever the history still holds.
	MaxRollbackAge time.Duration
	// MemorySoak is how long increase_memory_limit's verification watches the new pods for
	// OOM kills after they start (none when zero).
	MemorySoak time.Duration
	// ScriptNamespace runs custom_script's Jobs (the actions' own namespace, where they get
	// no token): scripts never run in, or need rights to create Jobs in, the target's
	// namespace. Empty refuses custom_script.
	ScriptNamespace string
	// Exec runs a command in a container (clear_cache; APIExec goes through the API server's
	// pods/exec); nil refuses clear_cache.
	Exec Execer
	// ChangedAt is, during a verification, when the change being verified was made: a
	// workload condition last updated before it is stale (a progress deadline exceeded by an
	// earlier rollout says nothing of this one).
	ChangedAt time.Time
	// Retry is how Run tries a transient failure of the change again within the step: a
	// conflict, a 429 or 5xx, a timeout, a broken connection (anything not terminal).
	// DefaultRetry when its Steps is 0.
	Retry wait.Backoff
}

// DefaultRetry tries a change five times in about eight seconds: long enough for an API
// server's restart or a burst of throttling, short enough to hold a controller's worker. The
// in-process executor then leaves the step to its next reconcile, which tries again.
var DefaultRetry = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5, Cap: 10 * time.Second}

func (e Env) retry() wait.Backoff {
	if e.Retry.Steps > 0 {
		return e.Retry
	}
	return DefaultRetry
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Change is what an execution, its dry run or an inverse did or would do.
type Change struct {
	// Message says what happened, in a sentence.
	Message string
	// Changed lists the objects changed.
	Changed []kubernautv1.ChangedObject
	// Diff is a unified diff of the changed objects (set for dry runs and real runs).
	Diff string
}

// Check is the outcome of a verification.
type Check struct {
	// Done is true when the verification concluded (passed or failed).
	Done bool
	// Passed is true when the target is healthy.
	Passed bool
	// Message says what was checked and found.
	Message string
}

// Action is one catalog action's behaviour.
type Action interface {
	// Capture reads the part of the target the action changes. It refuses (a Refusal) when
	// the action cannot apply to the target as it is now.
	Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error)
	// Execute makes the change that step and pre determine; with dryRun the API server
	// dry-runs it (dryRun=All) and nothing changes.
	Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error)
	// Verify checks that the change took effect and the target is healthy.
	Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error)
	// Undo restores pre; actions without an inverse return ErrNoInverse.
	Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error)
	// Restored checks that an Undo brought the target back to pre and that it is healthy.
	Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error)
}

// ErrNoInverse is returned by Undo for actions whose effect cannot be undone (a restart).
var ErrNoInverse = errors.New("the action has no inverse")

// Refusal is a permanent reason not to run an action: bad parameters, a target the action
// cannot apply to, an action switched off. Retrying cannot help.
type Refusal struct {
	// Field names the parameter or object field at fault, when there is one.
	Field string
	// Reason says why.
	Reason string
}

func (r *Refusal) Error() string {
	if r.Field != "" {
		return r.Field + ": " + r.Reason
	}
	return r.Reason
}

// refuse builds a Refusal.
func refuse(field, format string, args ...any) error {
	return &Refusal{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// IsRefusal reports whether err is (or wraps) a Refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

var registry = map[kubernautv1.ActionName]Action{}

func register(name kubernautv1.ActionName, a Action) { registry[name] = a }

// For returns the implementation of a catalog action. Its errors follow the terminal
// package's rule: a Refusal, and an API server's answer that says the request itself is
// wrong, are marked terminal (terminal.Is); anything else is transient.
func For(name kubernautv1.ActionName) (Action, error) {
	a, ok := registry[name]
	if !ok {
		return nil, terminal.Error(refuse("spec.action", "action %q is not in the catalog", name))
	}
	return marked{a}, nil
}

// marked marks an action's permanent errors terminal, in one place for every action.
type marked struct{ a Action }

// mark marks err terminal when no retry can cure it.
func mark(err error) error {
	if IsRefusal(err) {
		return terminal.Error(err)
	}
	return terminal.API(err)
}

func (m marked) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	pre, err := m.a.Capture(ctx, env, step)
	return pre, mark(err)
}

func (m marked) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	c, err := m.a.Execute(ctx, env, step, pre, dryRun)
	return c, mark(err)
}

func (m marked) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	c, err := m.a.Verify(ctx, env, step, pre)
	return c, mark(err)
}

func (m marked) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	c, err := m.a.Undo(ctx, env, step, pre, dryRun)
	if errors.Is(err, ErrNoInverse) {
		return c, err // not a failure: nothing to restore
	}
	return c, mark(err)
}

func (m marked) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	c, err := m.a.Restored(ctx, env, step, pre)
	return c, mark(err)
}

// Run applies a step (Execute mode) or restores its pre-state (Compensate mode): what an
// executor runs, in the controller or in the actions image. A transient failure is tried again
// (env.Retry), each time from the same recorded pre-state — never captured again from the
// object the failed attempt may have changed — so the step makes its change once: every
// action makes the same change given its step and pre-state. A terminal failure is not.
func Run(ctx context.Context, env Env, mode kubernautv1.ExecutionMode, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Change, error) {
	impl, err := For(step.Action)
	if err != nil {
		return Change{}, err
	}
	var change Change
	attempt := 0
	transient := func(err error) bool {
		if terminal.Is(err) || ctx.Err() != nil {
			return false
		}
		env.Log.Info("transient failure: trying the change again from the same pre-state", "action", step.Action, "target", step.Target.String(), "attempt", attempt, "error", err.Error())
		return true
	}
	err = retry.OnError(env.retry(), transient, func() error {
		attempt++
		var err error
		if mode == kubernautv1.ExecutionModeCompensate {
			change, err = impl.Undo(ctx, env, step, pre, false)
		} else {
			change, err = impl.Execute(ctx, env, step, pre, false)
		}
		return err
	})
	if err != nil && attempt > 1 {
		err = fmt.Errorf("after %d attempts: %w", attempt, err)
	}
	return change, err
}

// noInverse is embedded by actions that cannot be undone.
type noInverse struct{}

func (noInverse) Undo(context.Context, Env, kubernautv1.ActionStep, *kubernautv1.PreState, bool) (Change, error) {
	return Change{}, ErrNoInverse
}

func (noInverse) Restored(context.Context, Env, kubernautv1.ActionStep, *kubernautv1.PreState) (Check, error) {
	return Check{Done: true, Passed: true, Message: "nothing to restore"}, nil
}

// both combines a state check with a health check: the first failure or wait wins.
func both(state Check, health func() (Check, error)) (Check, error) {
	if !state.Passed {
		return state, nil
	}
	h, err := health()
	if err != nil || !h.Passed {
		return h, err
	}
	return Check{Done: true, Passed: true, Message: state.Message + "; " + h.Message}, nil
}

// writeOpts are the options of a write: dryRun=All when asked, and the field manager.
func writeOpts(dryRun bool) []client.PatchOption {
	opts := []client.PatchOption{client.FieldOwner(FieldManager)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	return opts
}

const (
	typesStrategic = types.StrategicMergePatchType
	typesMerge     = types.MergePatchType
)

// metaNow is the capture time, to the second (what the restartedAt annotation holds).
func metaNow(env Env) metav1.Time {
	return metav1.NewTime(env.now().Truncate(time.Second))
}

// logChange logs one mutation with the action, target, parameters and change; env.Log carries
// the remediation and the step (the controller adds them per step).
func logChange(env Env, step kubernautv1.ActionStep, dryRun bool, what string) {
	var params string
	if step.Parameters != nil {
		if raw, err := json.Marshal(step.Parameters); err == nil {
			params = string(raw)
		}
	}
	env.Log.Info("mutation", "action", step.Action, "target", step.Target.String(), "parameters", params, "dryRun", dryRun, "change", what)
}

func changed(t kubernautv1.Target, format string, args ...any) []kubernautv1.ChangedObject {
	return []kubernautv1.ChangedObject{{Target: t, Change: kubernautv1.Truncate(fmt.Sprintf(format, args...), 512)}}
}

func params(step kubernautv1.ActionStep) kubernautv1.ActionParameters {
	if step.Parameters == nil {
		return kubernautv1.ActionParameters{}
	}
	return *step.Parameters
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
