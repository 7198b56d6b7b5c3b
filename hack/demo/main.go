// Command demo is the part of `make demo` that plays the world: a sample estate on the local
// control plane, six situations made real (the kubelet's side written as a kubelet would: kwok
// runs no containers), the Alertmanager notifications that report them posted to kubernaut's
// gateway with its bearer token, each remediation followed live to its outcome, the one that
// needs a person approved by its plan hash, and a summary table. hack/demo.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// situation is one failure of the demo and what the demo expects of it.
type situation struct {
	name   string
	want   kubernautv1.RemediationPhase
	make   func(ctx context.Context) (gateway.WebhookAlert, error)
	rr     string
	start  time.Time
	end    time.Time
	result *kubernautv1.RemediationRequest
	asked  bool // the plan's wait for people was shown
	// describe, on the real node, says what the situation's pods do (before the alert and
	// after the outcome, in the summary).
	describe      func(ctx context.Context) string
	before, after string
}

func main() {
	url := flag.String("gateway", "http://127.0.0.1:18090", "kubernaut's gateway")
	token := flag.String("token", "", "the gateway's bearer token")
	namespace := flag.String("namespace", "kubernaut-system", "the gateway's namespace (where the RemediationRequests are)")
	realNode := flag.Bool("real-node", false, "make the situations happen for real on the dev cluster's real node (make demo NODE=real)")
	kubectl := flag.String("kubectl", "kubectl", "kubectl, to exec into a pod on the real node")
	receiver := flag.String("receiver", "", "where the demo's Alertmanager sends Kubernaut's notifications (the team's receiver; empty: none)")
	pluginBin := flag.String("plugin", "", "the kubectl-kubernaut plugin the people approve with (empty: kubectl annotate)")
	autonomyScene := flag.Bool("autonomy", false, "play the scene of earned autonomy instead (the TrustPolicy of manifests/trust applied)")
	flag.Parse()
	demoPlugin, demoInbox = *pluginBin, &inbox{}
	if *receiver != "" {
		if err := demoInbox.listen(*receiver); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
	} else {
		demoInbox = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if *autonomyScene {
		if err := runAutonomy(ctx, os.Getenv("KUBECONFIG"), *url, *token, *namespace); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		return
	}
	// The kubeconfig is $KUBECONFIG (controller-runtime owns the --kubeconfig flag).
	if err := run(ctx, os.Getenv("KUBECONFIG"), *url, *token, *namespace, *realNode, *kubectl); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, url, token, ns string, realNode bool, kubectl string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		return err
	}
	var situations []*situation
	if realNode {
		if situations, err = onRealNode(ctx, c, kubeconfig, kubectl); err != nil {
			return err
		}
	} else if situations, err = kwok(ctx, c); err != nil {
		return err
	}
	return follow(ctx, c, cfg, url, token, ns, situations)
}

// kwok makes the six situations on the kwok nodes: the demo writes what a kubelet would.
func kwok(ctx context.Context, c client.Client) ([]*situation, error) {
	// Namespaces and the node with a suffix of their own: the demo may run again on a cluster
	// kept from an earlier run (make demo KEEP=1).
	staging, err := scenario.NewEstate(ctx, c, "shop-staging-", "staging")
	if err != nil {
		return nil, err
	}
	prod, err := scenario.NewEstate(ctx, c, "ledger-prod-", "production")
	if err != nil {
		return nil, err
	}
	node := "demo-node-" + prod.Namespace[len("ledger-prod-"):]
	situations := []*situation{
		{name: "crash loop after a bad rollout", want: kubernautv1.RemediationPhaseCompleted,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) {
				return staging.CrashLoopAfterRollout(ctx, "cart")
			}},
		{name: "OOMKilled container", want: kubernautv1.RemediationPhaseCompleted,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return staging.OOMKilled(ctx, "orders") }},
		{name: "HPA at its maximum", want: kubernautv1.RemediationPhaseCompleted,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return staging.HPAAtMax(ctx, "search") }},
		{name: "stuck pod", want: kubernautv1.RemediationPhaseCompleted,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return staging.StuckPod(ctx, "api") }},
		{name: "NotReady node", want: kubernautv1.RemediationPhaseCompleted,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) {
				if _, err := prod.PodsOnNode(ctx, node, prod.Deployment("ledger", 2)); err != nil {
					return gateway.WebhookAlert{}, err
				}
				if err := prod.Guarded(ctx, "ledger"); err != nil {
					return gateway.WebhookAlert{}, err
				}
				return scenario.NodeDown(ctx, c, node)
			}},
		{name: "crash loop, Argo CD-managed", want: kubernautv1.RemediationPhaseRejected,
			make: func(ctx context.Context) (gateway.WebhookAlert, error) {
				a, err := staging.CrashLoopAfterRollout(ctx, "payments")
				if err != nil {
					return a, err
				}
				d := &appsv1.Deployment{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: staging.Namespace, Name: "payments"}, d); err != nil {
					return a, err
				}
				before := d.DeepCopy()
				d.Labels = map[string]string{"argocd.argoproj.io/instance": "payments"}
				return a, c.Patch(ctx, d, client.MergeFrom(before))
			}},
	}
	return situations, nil
}

// onRealNode makes three situations happen for real on the real node: a rollout that crashes, a
// container the kernel OOM-kills, a pod whose readiness probe fails.
func onRealNode(ctx context.Context, c client.Client, kubeconfig, kubectl string) ([]*situation, error) {
	staging, err := scenario.NewEstate(ctx, c, "shop-real-", "staging")
	if err != nil {
		return nil, err
	}
	staging.Timeout = 3 * time.Minute
	e := scenario.RealEstate{Estate: staging, Image: cluster.WorkloadImage, NodeLabel: cluster.RealNodeLabel,
		Kubectl: []string{kubectl, "--kubeconfig", kubeconfig}}
	of := func(app string) func(ctx context.Context) string {
		return func(ctx context.Context) string { return e.Describe(ctx, app) }
	}
	fmt.Printf("On the real node (%s), in namespace %s: the kubelet, the kernel and the probes make the situations\n", cluster.RealNodeName, e.Namespace)
	return []*situation{
		{name: "crash loop after a bad rollout", want: kubernautv1.RemediationPhaseCompleted, describe: of("cart"),
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return e.CrashLoopAfterRollout(ctx, "cart") }},
		{name: "OOMKilled container", want: kubernautv1.RemediationPhaseCompleted, describe: of("orders"),
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return e.OOMKilled(ctx, "orders") }},
		{name: "stuck pod", want: kubernautv1.RemediationPhaseCompleted, describe: of("api"),
			make: func(ctx context.Context) (gateway.WebhookAlert, error) { return e.StuckPod(ctx, "api") }},
	}, nil
}

// follow notifies kubernaut of each situation, follows every remediation to its outcome
// (approving the plans that wait for people) and prints the summary.
func follow(ctx context.Context, c client.Client, cfg *rest.Config, url, token, ns string, situations []*situation) error {
	people, err := approvers(ctx, c, cfg, ns)
	if err != nil {
		return err
	}
	sender := scenario.Sender{URL: url, Token: token}
	fmt.Println("Making the situations real, then Alertmanager notifies kubernaut of each:")
	for _, s := range situations {
		alert, err := s.make(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if s.describe != nil {
			s.before = s.describe(ctx)
		}
		if err := sender.Deliver(ctx, scenario.Notification(alert)); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.rr, s.start = gateway.RRName(alert.Fingerprint, alert.StartsAt), time.Now()
		fmt.Printf("  POST /api/v1/signals/alertmanager  %-20s %-45s → %s\n", alert.Labels["alertname"], targetOf(alert), s.rr)
	}
	fmt.Println("\nFollowing every remediation (a line per phase change):")
	last := map[string]kubernautv1.RemediationPhase{}
	approved := map[string]bool{}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		done := true
		for _, s := range situations {
			if s.result != nil && s.result.Status.Phase.IsFinished() {
				continue
			}
			rr := &kubernautv1.RemediationRequest{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.rr}, rr); err != nil {
				done = false
				continue
			}
			s.result = rr
			if p := rr.Status.Phase; p != last[s.rr] {
				last[s.rr] = p
				fmt.Printf("  %s  %-32s %-17s %s\n", time.Now().UTC().Format("15:04:05"), s.name, orPending(p), short(rr.Status.Message))
			}
			if rr.Status.Phase.IsFinished() {
				s.end = time.Now()
				if s.describe != nil {
					s.after = s.describe(ctx)
				}
				continue
			}
			done = false
			if rr.Status.Phase == kubernautv1.RemediationPhaseAwaitingApproval && !approved[s.rr] {
				ok, err := approve(ctx, c, people, ns, s)
				if err != nil {
					return false, err
				}
				approved[s.rr] = ok
			}
		}
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the remediations: %w", err)
	}
	fmt.Println("\nSummary:")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SIGNAL\tSITUATION\tROOT CAUSE\tACTIONS\tAPPROVAL\tOUTCOME\tTIME")
	var wrong []string
	for _, s := range situations {
		rr := s.result
		var actions []string
		for _, a := range rr.Status.Actions {
			actions = append(actions, string(a))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", rr.Spec.Signal.Name, s.name, short(rr.Status.RootCause), orNone(strings.Join(actions, ", ")),
			orNone(string(rr.Status.ApprovalMode)), rr.Status.Phase, s.end.Sub(s.start).Round(100*time.Millisecond))
		if rr.Status.Phase != s.want {
			wrong = append(wrong, fmt.Sprintf("%s ended %s (want %s): %s", s.name, rr.Status.Phase, s.want, rr.Status.Message))
		}
	}
	_ = tw.Flush()
	for _, s := range situations {
		if s.describe != nil {
			fmt.Printf("\n  %s — the real pods\n    before: %s\n    after:  %s\n", s.name, s.before, s.after)
		}
	}
	for _, s := range situations {
		if s.want == kubernautv1.RemediationPhaseRejected {
			fmt.Printf("\nRefused by the safety policy (%s): %s\n", s.name, s.result.Status.Message)
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("unexpected outcomes:\n  %s", strings.Join(wrong, "\n  "))
	}
	return nil
}

func targetOf(a gateway.WebhookAlert) string {
	t, err := gateway.ExtractTarget(a.Labels)
	if err != nil {
		return "?"
	}
	return t.String()
}

func orPending(p kubernautv1.RemediationPhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}

func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func short(s string) string {
	if len(s) > 90 {
		return s[:87] + "..."
	}
	return s
}
