package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
	"github.com/kubernaut/kubernaut/trust"
)

// autonomy is the demo's scene of earned autonomy (docs/autonomy.md), run once the
// TrustPolicy of manifests/trust is applied: two crash loops in staging, each observed —
// planned and dry-run, nothing changed — then rolled back by a person (carol), which makes each
// verdict "agreed"; after two (kubernaut runs with --trust-observed 2), the promotion to approve
// is proposed to people.
func autonomy(ctx context.Context, c client.Client, cfg *rest.Config, url, token, ns string) error {
	sender := scenario.Sender{URL: url, Token: token}
	carol, err := scenario.As(cfg, "carol")
	if err != nil {
		return err
	}
	scope := kubernautv1.TrustScope{NamespaceGroup: "staging", SignalType: "crashloop", Action: kubernautv1.ActionRollbackDeployment}
	for _, name := range []string{"basket", "wishlist"} {
		e, err := scenario.NewEstate(ctx, c, "shop-canary-", "staging")
		if err != nil {
			return err
		}
		alert, err := e.CrashLoopAfterRollout(ctx, name)
		if err != nil {
			return err
		}
		if err := sender.Deliver(ctx, scenario.Notification(alert)); err != nil {
			return err
		}
		rr := gateway.RRName(alert.Fingerprint, alert.StartsAt)
		fmt.Printf("\n  %s  KubePodCrashLooping %s → %s\n", time.Now().UTC().Format("15:04:05"), targetOf(alert), rr)
		we := &kubernautv1.WorkflowExecution{}
		if err := until(ctx, func(ctx context.Context) (bool, error) {
			r := &kubernautv1.RemediationRequest{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rr}, r); err != nil || r.Status.Phase != kubernautv1.RemediationPhaseObserved {
				return false, nil
			}
			return true, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubernautv1.WorkflowName(rr)}, we)
		}); err != nil {
			return fmt.Errorf("waiting for %s to be observed: %w", rr, err)
		}
		fmt.Printf("  %s  Observed (scope %s is at observe): nothing changed; what it would have done:\n", time.Now().UTC().Format("15:04:05"), scope)
		for _, s := range we.Status.Plan.Steps {
			fmt.Printf("      %s %s on %s — policy allowed %t; dry run:\n", s.Name, s.Action, s.Target, s.Policy.Allowed)
			if s.DryRun != nil {
				for _, line := range strings.Split(s.DryRun.Diff, "\n") {
					if strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
						fmt.Printf("        %s\n", line)
					}
				}
			}
		}
		// carol reads the alert and acts a moment later (the admission's stamps have seconds: a
		// change in the second the plan was observed is not counted as after it).
		time.Sleep(time.Second)
		if err := e.RollBackBy(ctx, carol, name); err != nil {
			return err
		}
		fmt.Printf("  %s  carol rolls %s back by hand (kubectl rollout undo)\n", time.Now().UTC().Format("15:04:05"), name)
		if err := until(ctx, func(ctx context.Context) (bool, error) {
			return we.Status.Shadow != nil, c.Get(ctx, client.ObjectKeyFromObject(we), we)
		}); err != nil {
			return fmt.Errorf("waiting for the verdict of %s: %w", we.Name, err)
		}
		v := we.Status.Shadow
		fmt.Printf("  %s  verdict: %s (changed by %s): %s\n", time.Now().UTC().Format("15:04:05"), v.Verdict, strings.Join(v.ChangedBy, ", "), short(v.Message))
		if v.Verdict != trust.OutcomeAgreed {
			return fmt.Errorf("the verdict of %s is %s, want agreed", we.Name, v.Verdict)
		}
	}
	var proposal *kubernautv1.TrustProposal
	if err := until(ctx, func(ctx context.Context) (bool, error) {
		p := &kubernautv1.TrustPolicy{}
		if err := c.Get(ctx, client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, p); err != nil {
			return false, err
		}
		if s := trust.Find(p, scope); s != nil {
			proposal = s.Proposal
		}
		return proposal != nil, nil
	}); err != nil {
		return fmt.Errorf("waiting for the promotion of %s to be proposed: %w", scope, err)
	}
	fmt.Printf("\n  %s: promotion to %s proposed (%s)\n  confirm it: kubectl kubernaut trust promote %s\n", scope, proposal.Level, proposal.Reason, scope)
	return nil
}

// until polls done every 250 ms for at most a minute.
func until(ctx context.Context, done func(ctx context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, done)
}

// runAutonomy connects and plays autonomy.
func runAutonomy(ctx context.Context, kubeconfig, url, token, ns string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		return err
	}
	return autonomy(ctx, c, cfg, url, token, ns)
}
