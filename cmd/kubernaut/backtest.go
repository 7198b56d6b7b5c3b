package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
	"github.com/kubernaut/kubernaut/cmd/internal/window"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
)

// runBacktest is `kubernaut backtest`: the alert history of a Prometheus replayed through what
// the chain would have done — the gateway, the guards, then for each remediation the
// enrichment, classification, the rules analyzer, the approval policy and the trust level —
// against the cluster as it is now, through a dry-run client: it mutates nothing
// (docs/autonomy.md).
func runBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kubernaut backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c gatewaycmd.Client
	c.BindFlags(fs)
	url := fs.String("prometheus-url", "", "the Prometheus whose ALERTS series hold the alert history (required)")
	since := fs.String("since", "30d", "how far back: days (30d) or a duration (72h)")
	step := fs.Duration("step", time.Minute, "Prometheus' rule evaluation interval (the history's resolution)")
	output := fs.String("o", "table", "output: table or json")
	cfg := backtest.DefaultConfig()
	fs.DurationVar(&cfg.DedupWindow, "dedup-window", cfg.DedupWindow, "as the gateway's --dedup-window")
	fs.IntVar(&cfg.StormThreshold, "storm-threshold", cfg.StormThreshold, "as the gateway's --storm-threshold")
	fs.DurationVar(&cfg.StormWindow, "storm-window", cfg.StormWindow, "as the gateway's --storm-window")
	fs.DurationVar(&cfg.Cooldown, "cooldown", cfg.Cooldown, "as the controller's --cooldown")
	fs.BoolVar(&cfg.ClusterWide, "cluster-wide", false, "as the controller's --cluster-wide")
	// The controller's own flags for what an analysis reads, asks and decides.
	var processing processingOptions
	processing.bindFlags(fs)
	var analysis analysisOptions
	analysis.bindAnalyzerFlags(fs)
	semaphores := fs.String("semaphore-configmap", "kubernaut-semaphores", "as the controller's --semaphore-configmap (in --policy-namespace): the blast-radius limits a plan waits for")
	reportDir := fs.String("report", "", "also write a Markdown report to this folder: backtest.md and its plot of remediations over time, remediations.svg")
	policyDir := fs.String("policy-dir", "", "a candidate version of the policies (classification.rego, approval.rego): the decisions that differ are printed, and the command fails when one would become automatic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	span, err := window.Parse("--since", *since)
	switch {
	case err != nil:
		return err
	case analysis.validateAnalyzer() != nil:
		return analysis.validateAnalyzer()
	case *url == "":
		return fmt.Errorf("--prometheus-url is required: the Prometheus whose ALERTS series hold the history")
	case *output != "table" && *output != "json":
		return fmt.Errorf("-o %q: want table or json", *output)
	case *step <= 0:
		return fmt.Errorf("--step must be positive")
	}
	rc, err := c.Config("kubernaut-backtest")
	if err != nil {
		return err
	}
	reader, err := client.New(rc, client.Options{Scheme: newScheme()})
	if err != nil {
		return fmt.Errorf("a client of the cluster: %w", err)
	}
	ro := client.NewDryRunClient(reader)
	tp := &kubernautv1.TrustPolicy{}
	if err := ro.Get(ctx, client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, tp); err != nil {
		if !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
			return fmt.Errorf("reading TrustPolicy %s: %w", kubernautv1.DefaultTrustPolicy, err)
		}
		tp = nil
	}
	// One prepared policy for both analyses (a candidate replaces only classification and
	// approval); analyzers that remember, so that each question is asked once.
	safety := kubernautrego.NewSafety(ro, processing.policyNamespace, processing.policyConfigMap, nil)
	all, rules, _, err := analysis.analyzers()
	if err != nil {
		return err
	}
	analyzers, ruleBased := backtest.Remember(all, rules)
	enrichments := backtest.NewEnrichments() // the cluster as it is now: read once for both passes
	newAnalysis := func() *backtest.Analysis {
		return &backtest.Analysis{Enrichments: enrichments,
			Enricher:   &remediationprocessing.Enricher{Reader: ro, LookupTimeout: processing.lookupTimeout},
			Classifier: remediationprocessing.NewClassifier(ro, processing.policyNamespace, processing.policyConfigMap),
			Stages: &aianalysis.Reconciler{
				Analyzers: analyzers, Default: kubernautv1.AnalyzerName(analysis.analyzer), Fallback: ruleBased, Timeout: analysis.timeout,
				Validator: &aianalysis.Validator{MaxSteps: analysis.maxSteps, Static: true},
				Approver: aianalysis.NewApprover(ro, processing.policyNamespace, processing.policyConfigMap,
					analysis.autoThreshold, analysis.rejectThreshold),
			},
			Safety: &kubernautrego.Safety{Policy: safety.Policy, ClusterWide: cfg.ClusterWide},
			Trust:  tp, Reader: ro, Namespace: processing.policyNamespace,
		}
	}
	// A candidate is read and compiled before the history is: a bad one is told at once.
	var candidateAnalysis *backtest.Analysis
	if *policyDir != "" {
		candidateAnalysis = newAnalysis()
		if err := candidatePolicies(ctx, *policyDir, candidateAnalysis); err != nil {
			return err
		}
	}
	// So are the blast-radius limits (their cluster and default keys).
	var limits backtest.Limits
	cm := &corev1.ConfigMap{}
	switch err := ro.Get(ctx, client.ObjectKey{Namespace: processing.policyNamespace, Name: *semaphores}, cm); {
	case apierrors.IsNotFound(err):
		fmt.Fprintf(stderr, "kubernaut backtest: no ConfigMap %s/%s: no blast-radius limits replayed\n", processing.policyNamespace, *semaphores)
	case err != nil:
		return fmt.Errorf("reading the blast-radius limits: %w", err)
	default:
		if _, _, err := workflowexecution.BlastRadiusLimits(cm, kubernautv1.Target{}); err != nil {
			return fmt.Errorf("the blast-radius limits: %w", err)
		}
		limits = func(t kubernautv1.Target) (int, int, error) { return workflowexecution.BlastRadiusLimits(cm, t) }
	}
	to := time.Now().UTC()
	from := to.Add(-span)
	occurrences, err := backtest.History(ctx, *url, from, to, *step)
	if err != nil {
		return err
	}
	decisions, err := backtest.Replay(ctx, cfg, ro, occurrences)
	if err != nil {
		return err
	}
	candidate := append([]backtest.Decision(nil), decisions...)
	if err := newAnalysis().Analyze(ctx, decisions); err != nil {
		return err
	}
	if limits != nil {
		if err := backtest.Wait(decisions, limits); err != nil {
			return fmt.Errorf("the blast-radius limits: %w", err)
		}
	}
	report := backtest.Summarize(from, to, decisions)
	if candidateAnalysis != nil {
		if err := candidateAnalysis.Analyze(ctx, candidate); err != nil {
			return fmt.Errorf("with the policies of %s: %w", *policyDir, err)
		}
		if report.Differences, report.BecameAutomatic, err = backtest.Compare(decisions, candidate); err != nil {
			return err
		}
	}
	if *reportDir != "" {
		if err := writeReport(*reportDir, report); err != nil {
			return err
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		if err := report.Print(stdout); err != nil {
			return err
		}
		if *policyDir != "" {
			if err := backtest.PrintDifferences(stdout, report.Differences, report.BecameAutomatic); err != nil {
				return err
			}
		}
	}
	if report.BecameAutomatic > 0 {
		return fmt.Errorf("%d remediations would run without a person under the policies of %s and did not before", report.BecameAutomatic, *policyDir)
	}
	return nil
}

// writeReport writes report as dir/backtest.md with its plot, dir/remediations.svg.
func writeReport(dir string, report backtest.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	for name, write := range map[string]func(io.Writer) error{
		"remediations.svg": report.Plot,
		"backtest.md":      func(w io.Writer) error { return report.Markdown(w, "remediations.svg") },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}

// candidatePolicies makes a's policies those of dir: each of classification.rego and
// approval.rego found there replaces the module in force (the policy ConfigMap's settings still
// apply). A folder with neither, or with another .rego file, is refused: a policy under review
// that would be silently ignored is worse than none.
func candidatePolicies(ctx context.Context, dir string, a *backtest.Analysis) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--policy-dir: %w", err)
	}
	found := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".rego") || strings.HasSuffix(e.Name(), "_test.rego") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("--policy-dir: %w", err)
		}
		path := filepath.Join(dir, e.Name())
		var p *kubernautrego.Policy
		switch e.Name() {
		case "classification.rego":
			p = a.Classifier.Policy
		case "approval.rego":
			p = a.Stages.Approver.Policy
		default:
			return fmt.Errorf("--policy-dir %s: %s is not a policy the backtest replays (classification.rego, approval.rego)", dir, e.Name())
		}
		p.Source, p.Origin = string(raw), path
		if _, _, err := p.Prepared(ctx); err != nil {
			return fmt.Errorf("--policy-dir: %w", err)
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("--policy-dir %s holds neither classification.rego nor approval.rego", dir)
	}
	return nil
}
