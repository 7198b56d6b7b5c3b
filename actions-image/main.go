// Command kubernaut-actions is the actions image's entry point: the job executor runs it in a
// Job, as the action's own ServiceAccount, to execute one step (or undo one) from the pre-state
// the controller recorded. It writes the JSON result to the container's termination message,
// which the controller reads back.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubernaut/kubernaut/actions-image/actions"
	"github.com/kubernaut/kubernaut/actions-image/runner"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	in, err := runner.Parse(args, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubernaut-actions:", err)
		return runner.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	result, code := execute(ctx, in)
	if err := os.WriteFile(in.ResultFile, runner.Encode(result), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "kubernaut-actions: writing the result:", err)
	}
	fmt.Fprintln(os.Stderr, "kubernaut-actions:", result.Message)
	return code
}

func execute(ctx context.Context, in runner.Invocation) (kubernautv1.ActionResult, int) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = in.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return kubernautv1.ActionResult{Message: "loading the client configuration: " + err.Error()}, runner.ExitFailed
	}
	cfg.UserAgent = "kubernaut-actions"
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return kubernautv1.ActionResult{Message: "creating the client: " + err.Error()}, runner.ExitFailed
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return kubernautv1.ActionResult{Message: "creating the clientset: " + err.Error()}, runner.ExitFailed
	}
	env := actions.Env{Client: c, Kube: cs, Log: zap.New(), Exec: actions.APIExec{Config: cfg, Kube: cs}}
	return runner.Run(ctx, in, env)
}
