package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubernaut/kubernaut/gateway"
)

// options are a command's settings, read from flags (and KUBECONFIG).
type options struct {
	command    string
	kubeconfig string
	zap        zap.Options

	// runController and runGateway say which parts the command runs.
	runController bool
	runGateway    bool

	manager managerOptions
	gateway gateway.Config
}

// managerOptions configure the controller manager.
type managerOptions struct {
	metricsAddr           string
	probeAddr             string
	leaderElect           bool
	leaderElectionNS      string
	namespace             string
	gracefulShutdownAfter time.Duration
}

// parseOptions reads the flags of one command.
func parseOptions(command string, args []string, stderr io.Writer, controller, gw bool) (*options, error) {
	o := &options{command: command, runController: controller, runGateway: gw}
	fs := flag.NewFlagSet("kubernaut "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"),
		"path of a kubeconfig; in-cluster configuration when empty (default $KUBECONFIG)")
	o.zap.Development = command == "local"
	o.zap.BindFlags(fs)

	if controller {
		fs.StringVar(&o.manager.metricsAddr, "metrics-bind-address", ":8080", "address of the controllers' /metrics")
		fs.StringVar(&o.manager.probeAddr, "health-probe-bind-address", ":8081", "address of the controllers' /healthz and /readyz")
		fs.BoolVar(&o.manager.leaderElect, "leader-elect", command == "controller",
			"elect a leader so that only one replica reconciles")
		fs.StringVar(&o.manager.leaderElectionNS, "leader-election-namespace", "",
			"namespace of the leader-election Lease (the pod's own namespace when empty)")
		fs.StringVar(&o.manager.namespace, "namespace", "",
			"namespace whose Kubernaut objects are reconciled (all namespaces when empty)")
		fs.DurationVar(&o.manager.gracefulShutdownAfter, "graceful-shutdown-timeout", 30*time.Second,
			"how long running reconciles may take to finish on shutdown")
	}
	if gw {
		fs.StringVar(&o.gateway.Addr, "gateway-bind-address", ":8090",
			"address of the gateway (webhooks, /healthz, /readyz, /metrics)")
		fs.DurationVar(&o.gateway.ReadHeaderTimeout, "gateway-read-header-timeout", 5*time.Second,
			"how long a client may take to send the request headers")
		fs.DurationVar(&o.gateway.RequestTimeout, "gateway-request-timeout", 15*time.Second,
			"how long one request may take in all")
		fs.DurationVar(&o.gateway.ShutdownTimeout, "gateway-shutdown-timeout", 15*time.Second,
			"how long in-flight requests may take to finish on shutdown")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("kubernaut %s takes no arguments, got %q", command, fs.Args())
	}
	if gw && o.gateway.RequestTimeout <= 0 {
		return nil, fmt.Errorf("--gateway-request-timeout must be positive, got %s", o.gateway.RequestTimeout)
	}
	return o, nil
}
