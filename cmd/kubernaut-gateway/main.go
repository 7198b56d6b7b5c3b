// Command kubernaut-gateway is Kubernaut's gateway alone: the same flags and behaviour as
// `kubernaut gateway`, in a binary that links none of the controllers — a third of the
// process' memory (docs/benchmarks.md) and a smaller attack surface on the component
// Alertmanager talks to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kubernaut-gateway:", err)
		os.Exit(1)
	}
}

// settings are the parsed command line.
type settings struct {
	client gatewaycmd.Client
	o      gatewaycmd.Options
	log    zap.Options
}

// parse reads and checks the flags.
func parse(args []string, stderr io.Writer) (*settings, error) {
	var st settings
	fs := flag.NewFlagSet("kubernaut-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st.client.BindFlags(fs)
	st.log.BindFlags(fs)
	st.o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("kubernaut-gateway takes no arguments, got %q", fs.Args())
	}
	if err := st.o.Validate(); err != nil {
		return nil, err
	}
	return &st, nil
}

// run parses the flags, builds the gateway and runs it until ctx ends or it fails.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	st, err := parse(args, stderr)
	if err != nil {
		return err
	}
	tokens, err := st.o.Tokens()
	if err != nil {
		return err
	}
	cfg, err := st.client.Config("kubernaut-gateway/" + version)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&st.log)))
	gw, err := gatewaycmd.New(ctx, cfg, st.o, tokens, ctrl.Log.WithName("gateway"))
	if err != nil {
		return err
	}
	return gw(ctx)
}
