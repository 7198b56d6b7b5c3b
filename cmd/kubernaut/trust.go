package main

import (
	"flag"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	trustcontroller "github.com/kubernaut/kubernaut/controllers/trust"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
)

// trustOptions tune earned autonomy (docs/autonomy.md): how long an observed plan is watched
// and the promotion policy's thresholds.
type trustOptions struct {
	shadowWindow time.Duration
	thresholds   trustcontroller.Thresholds
}

func (t *trustOptions) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&t.shadowWindow, "shadow-window", time.Hour,
		"how long an observed plan's targets are watched for a person's change before its verdict is kept-firing (0: no verdicts)")
	fs.IntVar(&t.thresholds.Observed, "trust-observed", 10, "observed plans a scope needs before observe → approve")
	fs.Float64Var(&t.thresholds.Agreement, "trust-agreement", 0.9, "share of judged observed plans people must have agreed with for observe → approve")
	fs.IntVar(&t.thresholds.Verified, "trust-verified", 20, "approved and verified remediations a scope needs, with none rejected, failed or undone, before approve → automate")
}

func (t *trustOptions) validate() error {
	switch {
	case t.shadowWindow < 0:
		return fmt.Errorf("--shadow-window must not be negative")
	case t.thresholds.Observed < 1 || t.thresholds.Verified < 1:
		return fmt.Errorf("--trust-observed and --trust-verified must be at least 1")
	case t.thresholds.Agreement <= 0 || t.thresholds.Agreement > 1:
		return fmt.Errorf("--trust-agreement must be in (0, 1], got %v", t.thresholds.Agreement)
	}
	return nil
}

// setupTrust runs the TrustPolicy's controller.
func setupTrust(mgr ctrl.Manager, o *options) error {
	r := &trustcontroller.Reconciler{
		Client: mgr.GetClient(),
		Promotion: &kubernautrego.Policy{File: "promotion.rego", Query: "data.kubernaut.promotion.decision",
			Reader: mgr.GetAPIReader(), Namespace: o.processing.policyNamespace, ConfigMap: o.processing.policyConfigMap},
		Thresholds: o.trust.thresholds,
		Events:     mgr.GetEventRecorder("kubernaut-trust"),
		Metrics:    trustcontroller.NewMetrics(metrics.Registry),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the TrustPolicy controller: %w", err)
	}
	return nil
}
