// Command kubernaut is Kubernaut's one binary: the controller manager, the gateway, or both in
// one process (local mode). Flags and environment are read here and nowhere else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
)

const usage = `kubernaut — an Argo Workflows–native remediation engine for Kubernetes.

Usage:
  kubernaut controller [flags]   run the controllers of the remediation chain
  kubernaut gateway [flags]      run the Alertmanager webhook gateway
  kubernaut local [flags]        run the controllers and the gateway in one process
  kubernaut backtest [flags]     replay a Prometheus' alert history through the chain's decisions
  kubernaut version              print the version

Run 'kubernaut <command> -h' for the flags of a command.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx := ctrl.SetupSignalHandler()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kubernaut:", err)
		}
		os.Exit(2)
	}
}

// run dispatches a subcommand and blocks until ctx ends or the command fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "controller":
		o, err := parseOptions(cmd, rest, stderr, true, false)
		if err != nil {
			return err
		}
		return runProcess(ctx, o)
	case "gateway":
		o, err := parseOptions(cmd, rest, stderr, false, true)
		if err != nil {
			return err
		}
		return runProcess(ctx, o)
	case "local":
		o, err := parseOptions(cmd, rest, stderr, true, true)
		if err != nil {
			return err
		}
		return runProcess(ctx, o)
	case "backtest":
		return runBacktest(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q (want one of: %s)", cmd, strings.Join([]string{"controller", "gateway", "local", "backtest", "version"}, ", "))
	}
}
