// Package runner is the actions image's entry point as a library: it parses the arguments the
// job executor gives the container, runs one action (or its inverse) from the recorded
// pre-state, and encodes the result for the container's termination message.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
	"k8s.io/apimachinery/pkg/util/wait"
)

// MaxResultBytes is the most a termination message may hold (the kubelet's limit).
const MaxResultBytes = 4096

// JobRetry is how the actions image tries a transient failure of its change again: eight
// attempts over about a minute and a half, within the Job's deadline. A Job that gives up
// fails its step (and the plan's undo runs); the in-process executor's shorter
// actions.DefaultRetry can leave the rest to its next reconcile instead.
var JobRetry = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 8, Cap: 30 * time.Second}

// Exit codes of the actions binary.
const (
	// ExitOK: the action did what it was asked.
	ExitOK = 0
	// ExitFailed: the action failed (the result says why).
	ExitFailed = 1
	// ExitUsage: the arguments are wrong; nothing ran.
	ExitUsage = 2
)

// Invocation is what the container is asked to do.
type Invocation struct {
	// Mode is Execute or Compensate.
	Mode kubernautv1.ExecutionMode
	// Step is the action, its target and parameters.
	Step kubernautv1.ActionStep
	// PreState is what the controller recorded before the change.
	PreState *kubernautv1.PreState
	// ResultFile is where the result goes (the container's terminationMessagePath).
	ResultFile string
	// Kubeconfig is a kubeconfig path; the in-cluster configuration when empty.
	Kubeconfig string
}

// Args renders an invocation as the container's arguments.
func (in Invocation) Args() ([]string, error) {
	step, err := json.Marshal(in.Step)
	if err != nil {
		return nil, fmt.Errorf("encoding the step: %w", err)
	}
	args := []string{"--mode=" + string(in.Mode), "--step=" + string(step)}
	if in.PreState != nil {
		pre, err := json.Marshal(in.PreState)
		if err != nil {
			return nil, fmt.Errorf("encoding the pre-state: %w", err)
		}
		args = append(args, "--pre-state="+string(pre))
	}
	return args, nil
}

// Parse reads the container's arguments; errors name the argument at fault.
func Parse(args []string, stderr io.Writer) (Invocation, error) {
	fs := flag.NewFlagSet("kubernaut-actions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in Invocation
	var mode, step, pre string
	fs.StringVar(&mode, "mode", string(kubernautv1.ExecutionModeExecute), "Execute (apply the action) or Compensate (restore the pre-state)")
	fs.StringVar(&step, "step", "", "the step as JSON: {action, target, parameters}")
	fs.StringVar(&pre, "pre-state", "", "the pre-state the controller recorded, as JSON")
	fs.StringVar(&in.ResultFile, "result-file", "/dev/termination-log", "where the JSON result is written")
	fs.StringVar(&in.Kubeconfig, "kubeconfig", "", "kubeconfig path (in-cluster configuration when empty)")
	if err := fs.Parse(args); err != nil {
		return in, err
	}
	if fs.NArg() > 0 {
		return in, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	in.Mode = kubernautv1.ExecutionMode(mode)
	if in.Mode != kubernautv1.ExecutionModeExecute && in.Mode != kubernautv1.ExecutionModeCompensate {
		return in, fmt.Errorf("--mode %q: want Execute or Compensate", mode)
	}
	if step == "" {
		return in, errors.New("--step is required")
	}
	if err := strictJSON(step, &in.Step); err != nil {
		return in, fmt.Errorf("--step: %w", err)
	}
	if in.Step.Action == "" || in.Step.Target.Kind == "" || in.Step.Target.Name == "" {
		return in, errors.New("--step: action, target.kind and target.name are required")
	}
	if _, err := actions.For(in.Step.Action); err != nil {
		return in, fmt.Errorf("--step: %w", err)
	}
	if pre == "" {
		return in, errors.New("--pre-state is required: an action runs only from a recorded pre-state")
	}
	in.PreState = &kubernautv1.PreState{}
	if err := strictJSON(pre, in.PreState); err != nil {
		return in, fmt.Errorf("--pre-state: %w", err)
	}
	return in, nil
}

func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid JSON for its type: %w", err)
	}
	return nil
}

// Run runs the invocation and returns the result and the exit code.
func Run(ctx context.Context, in Invocation, env actions.Env) (kubernautv1.ActionResult, int) {
	change, err := actions.Run(ctx, env, in.Mode, in.Step, in.PreState)
	if err != nil {
		return kubernautv1.ActionResult{Message: terminal.Message(err), Changed: change.Changed}, ExitFailed
	}
	msg := change.Message
	if msg == "" {
		msg = "done"
	}
	return kubernautv1.ActionResult{Success: true, Message: msg, Changed: change.Changed}, ExitOK
}

// Encode renders a result as JSON that fits a termination message: the changed objects are
// dropped, then the message shortened, until it fits.
func Encode(r kubernautv1.ActionResult) []byte {
	for {
		raw, err := json.Marshal(r)
		if err == nil && len(raw) <= MaxResultBytes {
			return raw
		}
		switch {
		case len(r.Changed) > 0:
			r.Changed = r.Changed[:len(r.Changed)/2]
		default:
			r.Message = kubernautv1.Truncate(r.Message, len(r.Message)/2)
		}
	}
}

// Decode reads a termination message written by Encode.
func Decode(msg string) (kubernautv1.ActionResult, error) {
	var r kubernautv1.ActionResult
	if err := json.Unmarshal([]byte(msg), &r); err != nil {
		return r, fmt.Errorf("the action's termination message is not its JSON result: %w", err)
	}
	return r, nil
}
