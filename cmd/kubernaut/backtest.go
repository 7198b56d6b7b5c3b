package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
	"github.com/kubernaut/kubernaut/cmd/internal/window"
)

// runBacktest is `kubernaut backtest`: the alert history of a Prometheus replayed through what
// the chain would have done, against the cluster as it is now, mutating nothing
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	span, err := window.Parse("--since", *since)
	switch {
	case err != nil:
		return err
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
	to := time.Now().UTC()
	from := to.Add(-span)
	occurrences, err := backtest.History(ctx, *url, from, to, *step)
	if err != nil {
		return err
	}
	decisions, err := backtest.Replay(ctx, cfg, client.NewDryRunClient(reader), occurrences)
	if err != nil {
		return err
	}
	report := backtest.Summarize(from, to, decisions)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return report.Print(stdout)
}
