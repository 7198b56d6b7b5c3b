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
	"strings"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubernaut/kubernaut/actions"
	"github.com/kubernaut/kubernaut/actions/runner"
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
	env := actions.Env{Client: c, Kube: cs, Log: zap.New(), Exec: actions.APIExec{Config: cfg, Kube: cs}, ScriptNamespace: ownNamespace(),
		Retry: runner.JobRetry}
	return runner.Run(ctx, in, env)
}

// ownNamespace is the namespace this pod runs in (the actions' own, where custom_script's
// Jobs run): POD_NAMESPACE when set, else the ServiceAccount's namespace file.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}
