// Command kubectl-kubernaut is the kubectl plugin `kubectl kubernaut`: list, show, approve and
// reject remediations as the kubeconfig's user, with kubectl's flags (-n, -A, -o, --context,
// --kubeconfig, --as). Install it with `go install ./cmd/kubectl-kubernaut` (or make build's
// bin/kubectl-kubernaut on the PATH).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/cmd/internal/window"
	ks "github.com/kubernaut/kubernaut/controllers/killswitch"
	"github.com/kubernaut/kubernaut/plugin"
)

// scheme knows Kubernaut's kinds (the plugin reads nothing else through it).
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(kubernautv1.AddToScheme(s))
	return s
}()

// defaultNamespace is where Kubernaut keeps its remediations unless -n says otherwise.
const defaultNamespace = "kubernaut-system"

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	if err := newRoot(streams).ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(streams.ErrOut, "error:", err)
		os.Exit(1)
	}
}

// newRoot is the command tree.
func newRoot(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:           "kubectl kubernaut",
		Short:         "Kubernaut's remediations: list, show, approve, reject, history; pause a namespace; the kill switch",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())
	env := &cliEnv{flags: flags, streams: streams}

	var allNamespaces bool
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "Remediations: waiting for approval first, then running, then finished (newest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			if allNamespaces {
				ns = ""
			}
			items, err := p.List(cmd.Context(), ns)
			if err != nil {
				return err
			}
			switch output {
			case "", "wide":
				if len(items) == 0 {
					fmt.Fprintf(streams.ErrOut, "No remediations found in %s.\n", orAll(ns))
					return nil
				}
				p.PrintTable(items, allNamespaces, output == "wide")
				return nil
			}
			l := &kubernautv1.RemediationRequestList{Items: items}
			return printObject(streams.Out, output, l)
		},
	}
	list.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the remediations of every namespace")
	list.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")

	var showOutput string
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "One remediation: timeline, signal, root cause and evidence, each step's verdicts and dry run, approvals, outcome, undo",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			r, err := p.Get(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if showOutput == "" {
				p.Describe(r)
				return nil
			}
			l := &kubernautv1.RemediationRequestList{Items: []kubernautv1.RemediationRequest{*r.Request}}
			objs := []runtime.Object{l}
			if r.Analysis != nil {
				objs = append(objs, r.Analysis)
			}
			if r.Plan != nil {
				objs = append(objs, r.Plan)
			}
			for _, o := range objs {
				if err := printObject(streams.Out, showOutput, o); err != nil {
					return err
				}
			}
			return nil
		},
	}
	show.Flags().StringVarP(&showOutput, "output", "o", "", "output format: json or yaml (the remediation, its analysis and its plan)")

	var approveReason string
	approve := &cobra.Command{
		Use:   "approve NAME [--reason REASON]",
		Short: "Approve a remediation's plan as you (the API server records who you are; you need the verb approve where the plan acts)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			return p.Decide(cmd.Context(), ns, args[0], plugin.Decision{Approve: true, Reason: approveReason})
		},
	}
	approve.Flags().StringVar(&approveReason, "reason", "", "why you approve: recorded with your approval (status.approval.approvers)")
	var reason string
	reject := &cobra.Command{
		Use:   "reject NAME --reason REASON",
		Short: "Reject a remediation's plan as you, saying why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("reject needs --reason: it is recorded with the rejection")
			}
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			return p.Decide(cmd.Context(), ns, args[0], plugin.Decision{Reason: reason})
		},
	}
	reject.Flags().StringVar(&reason, "reason", "", "why the plan is rejected (required)")

	var since, historyOutput string
	history := &cobra.Command{
		Use:   "history",
		Short: "Finished remediations: signal, target, actions, approval, outcome, duration (newest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			span, err := window.Parse("--since", since)
			if err != nil {
				return err
			}
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			records, err := p.History(cmd.Context(), ns, time.Now().Add(-span))
			if err != nil {
				return err
			}
			switch historyOutput {
			case "":
				if len(records) == 0 {
					fmt.Fprintf(streams.ErrOut, "No remediation finished in %s within %s.\n", orAll(ns), since)
					return nil
				}
				p.PrintHistory(records)
				return nil
			case "json":
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "    ")
				return enc.Encode(records)
			case "yaml":
				raw, err := yaml.Marshal(records)
				if err != nil {
					return err
				}
				_, err = streams.Out.Write(raw)
				return err
			}
			return errors.New("--output " + historyOutput + ": want json or yaml")
		},
	}
	history.Flags().StringVar(&since, "since", "7d", "how far back: a duration such as 36h, or days such as 7d")
	history.Flags().StringVarP(&historyOutput, "output", "o", "", "output format: json or yaml")

	optIn := func(use, short string, on bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NAMESPACE",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p, _, err := env.plugin()
				if err != nil {
					return err
				}
				return p.SetRemediate(cmd.Context(), args[0], on)
			},
		}
	}
	pause := optIn("pause", "Stop remediating a namespace ("+kubernautv1.OptInLabel+"=false)", false)
	resume := optIn("resume", "Remediate a namespace again ("+kubernautv1.OptInLabel+"=true)", true)

	var configMap string
	killswitch := &cobra.Command{
		Use:       "killswitch on|off|status",
		Short:     "The kill switch: on stops every new remediation and every step not yet started",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"on", "off", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ns, err := env.plugin()
			if err != nil {
				return err
			}
			ks := plugin.KillSwitch{Namespace: ns, Name: configMap}
			if args[0] == "status" {
				return p.KillSwitchStatus(cmd.Context(), ks)
			}
			return p.SetKillSwitch(cmd.Context(), ks, args[0] == "on")
		},
	}
	killswitch.Flags().StringVar(&configMap, "config-map", ks.DefaultName, "the kill switch's ConfigMap (in -n, Kubernaut's namespace by default)")
	root.AddCommand(list, show, approve, reject, history, pause, resume, killswitch, newTrustCmd(env))
	return root
}

// cliEnv makes the plugin from kubectl's flags.
type cliEnv struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
}

// plugin is the plugin acting as the kubeconfig's user, and the namespace to look in: -n, else
// Kubernaut's own namespace (the context's namespace is where workloads run, not remediations).
func (e *cliEnv) plugin() (*plugin.Plugin, string, error) {
	cfg, err := e.flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connecting to the API server: %w", err)
	}
	ns := defaultNamespace
	if e.flags.Namespace != nil && *e.flags.Namespace != "" {
		ns = *e.flags.Namespace
	}
	return &plugin.Plugin{Client: c, Out: e.streams.Out, Colour: colour(e.streams.Out)}, ns, nil
}

func orAll(ns string) string {
	if ns == "" {
		return "any namespace"
	}
	return "namespace " + ns
}

// printObject prints obj as JSON or YAML, with its kind.
func printObject(w io.Writer, format string, obj runtime.Object) error {
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil {
		return err
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	var p printers.ResourcePrinter
	switch format {
	case "json":
		p = &printers.JSONPrinter{}
	case "yaml":
		p = &printers.YAMLPrinter{}
	default:
		return errors.New("--output " + format + ": want json or yaml (list also takes wide)")
	}
	return p.PrintObj(obj, w)
}

// colour reports whether out is a terminal that may be coloured (NO_COLOR unset: no-color.org).
func colour(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && term.IsTerminal(int(f.Fd()))
}
