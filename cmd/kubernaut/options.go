package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
)

// options are a command's settings, read from flags (and KUBECONFIG).
type options struct {
	command string
	client  gatewaycmd.Client
	zap     zap.Options

	// runController and runGateway say which parts the command runs.
	runController bool
	runGateway    bool

	manager      managerOptions
	orchestrator orchestratorOptions
	processing   processingOptions
	analysis     analysisOptions
	workflow     workflowOptions
	execution    executionOptions
	notify       notifyOptions
	trust        trustOptions
	gateway      gatewayOptions
}

// flagGroup is a group of options that binds its own flags, with its defaults, and checks
// them once they are parsed (as Flux's controllers bind theirs).
type flagGroup interface {
	bindFlags(fs *flag.FlagSet)
	validate() error
}

// parseOptions reads the flags of one command: the controllers' groups, the gateway's, or
// both.
func parseOptions(command string, args []string, stderr io.Writer, controller, gw bool) (*options, error) {
	o := &options{command: command, runController: controller, runGateway: gw}
	fs := flag.NewFlagSet("kubernaut "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.client.BindFlags(fs)
	o.zap.Development = command == "local"
	o.zap.BindFlags(fs)

	var groups []flagGroup
	if controller {
		o.manager = managerOptions{leaderElect: command == "controller"}
		groups = append(groups, &o.manager, &o.orchestrator, &o.processing, &o.analysis, &o.workflow, &o.execution, &o.notify, &o.trust)
	}
	if gw {
		groups = append(groups, &o.gateway)
	}
	for _, g := range groups {
		g.bindFlags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("kubernaut %s takes no arguments, got %q", command, fs.Args())
	}
	for _, g := range groups {
		if err := g.validate(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// durationInMap is a flag that sets one duration of a map.
type durationInMap struct {
	m   map[kubernautv1.RemediationPhase]time.Duration
	key kubernautv1.RemediationPhase
}

func (d *durationInMap) String() string {
	if d.m == nil {
		return ""
	}
	return d.m[d.key].String()
}

func (d *durationInMap) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("must be positive")
	}
	d.m[d.key] = v
	return nil
}

// quantity is a flag holding a resource quantity (50m, 64Mi).
type quantity struct{ q *resource.Quantity }

func (q quantity) String() string {
	if q.q == nil {
		return ""
	}
	return q.q.String()
}

func (q quantity) Set(s string) error {
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return err
	}
	if v.Sign() <= 0 {
		return fmt.Errorf("must be positive")
	}
	*q.q = v
	return nil
}
