package monitoring

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
)

// step is how often the simulation evaluates the rules (the groups' interval).
const step = 30 * time.Second

// healthy is two hours of a healthy installation in Prometheus' test-load notation: both
// services up, one leader, remediations completing within minutes, webhook deliveries
// answered 200 within 100 ms, nothing waiting, the breaker closed.
const healthy = `
  up{job="kubernaut-controller-metrics",namespace="kubernaut-system",pod="c-0"} 1x240
  up{job="kubernaut-controller-metrics",namespace="kubernaut-system",pod="c-1"} 1x240
  up{job="kubernaut-gateway",namespace="kubernaut-system",pod="g-0"} 1x240
  leader_election_master_status{job="kubernaut-controller-metrics",name="kubernaut-controller.kubernaut.io",pod="c-0"} 1x240
  leader_election_master_status{job="kubernaut-controller-metrics",name="kubernaut-controller.kubernaut.io",pod="c-1"} 0x240
  kubernaut_remediations_total{job="kubernaut-controller-metrics",pod="c-0",outcome="Completed"} 0+1x240
  kubernaut_remediation_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",outcome="Completed",le="600"} 0+1x240
  kubernaut_remediation_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",outcome="Completed",le="+Inf"} 0+1x240
  kubernaut_remediation_duration_seconds_count{job="kubernaut-controller-metrics",pod="c-0",outcome="Completed"} 0+1x240
  kubernaut_remediation_phase_oldest_seconds{job="kubernaut-controller-metrics",pod="c-0",phase="AwaitingApproval"} 0x240
  kubernaut_remediation_phase_oldest_seconds{job="kubernaut-controller-metrics",pod="c-0",phase="Executing"} 0x240
  kubernaut_remediations{job="kubernaut-controller-metrics",pod="c-0",phase="AwaitingApproval"} 2x240
  kubernaut_holmesgpt_breaker_open{job="kubernaut-controller-metrics",pod="c-0"} 0x240
  kubernaut_compensations_total{job="kubernaut-controller-metrics",pod="c-0",action="rollback_deployment",phase="Succeeded"} 0+0.1x240
  kubernaut_gateway_request_duration_seconds_bucket{job="kubernaut-gateway",pod="g-0",outcome="ok",code="200",le="1"} 0+50x240
  kubernaut_gateway_request_duration_seconds_bucket{job="kubernaut-gateway",pod="g-0",outcome="ok",code="200",le="+Inf"} 0+50x240
  kubernaut_gateway_request_duration_seconds_count{job="kubernaut-gateway",pod="g-0",outcome="ok",code="200"} 0+50x240
  kubernaut_gateway_rejected_requests_total{job="kubernaut-gateway",pod="g-0",reason="unauthenticated"} 0x240
  kubernaut_gateway_signals_total{job="kubernaut-gateway",pod="g-0",source="alertmanager",outcome="created"} 0+50x240
  kubernaut_gateway_flush_errors_total{job="kubernaut-gateway",pod="g-0"} 0x240
  controller_runtime_reconcile_errors_total{job="kubernaut-controller-metrics",pod="c-0",controller="remediationrequest"} 0x240
  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="1"} 0+10x240
  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="10"} 0+10x240
  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="100"} 0+10x240
  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="+Inf"} 0+10x240
`

// simulate loads the series and runs every rule group of the PrometheusRule over them as
// Prometheus' rule manager does: each step, the recording rules write their series into the
// storage, then each alerting rule evaluates with its `for` state. It returns the alerts
// firing at the end, as "Name{label=value,...}" (the rule's labels and the result's).
func simulate(t *testing.T, series string, d time.Duration) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(series, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, "  "+strings.TrimSpace(l)) // a blank line would end the load block
		}
	}
	st := promqltest.LoadedStorage(t, "load 30s\n"+strings.Join(lines, "\n"))
	t.Cleanup(func() { _ = st.Close() })
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 50_000_000)
	query := rules.EngineQueryFunc(engine, st)
	groups := loadRules(t)

	var recordings []*rules.RecordingRule
	var alerts []*rules.AlertingRule
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Record+r.Alert, err)
			}
			if r.Record != "" {
				recordings = append(recordings, rules.NewRecordingRule(r.Record, expr, labels.FromMap(r.Labels)))
				continue
			}
			alerts = append(alerts, rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
				labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, promslog.NewNopLogger()))
		}
	}
	ctx := context.Background()
	start := time.Unix(0, 0).UTC()
	for ts := start; !ts.After(start.Add(d)); ts = ts.Add(step) {
		for _, r := range recordings {
			vec, err := r.Eval(ctx, 0, ts, query, nil, 0)
			if err != nil {
				t.Fatalf("recording %s at %s: %v", r.Name(), ts.Sub(start), err)
			}
			app := st.Appender(ctx)
			for _, s := range vec {
				if _, err := app.Append(storage.SeriesRef(0), s.Metric, s.T, s.F); err != nil {
					t.Fatalf("appending %s: %v", s.Metric, err)
				}
			}
			if err := app.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range alerts {
			if _, err := a.Eval(ctx, 0, ts, query, nil, 0); err != nil {
				t.Fatalf("alert %s at %s: %v", a.Name(), ts.Sub(start), err)
			}
		}
	}
	var firing []string
	for _, a := range alerts {
		for _, al := range a.ActiveAlerts() {
			if al.State != rules.StateFiring {
				continue
			}
			var ls []string
			al.Labels.Range(func(l labels.Label) {
				if l.Name != labels.AlertName {
					ls = append(ls, l.Name+"="+l.Value)
				}
			})
			firing = append(firing, fmt.Sprintf("%s{%s}", a.Name(), strings.Join(ls, ",")))
		}
	}
	sort.Strings(firing)
	return firing
}

// without drops the healthy series whose line contains any of the given strings.
func without(series string, drop ...string) string {
	var kept []string
	for _, line := range strings.Split(series, "\n") {
		keep := true
		for _, d := range drop {
			if strings.Contains(line, d) {
				keep = false
			}
		}
		if keep {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// A healthy installation fires nothing: no alert is always on.
func TestAlertsQuietWhenHealthy(t *testing.T) {
	if firing := simulate(t, healthy, 2*time.Hour); len(firing) > 0 {
		t.Errorf("a healthy installation fires %v", firing)
	}
}

// Each alert fires on the situation it is for, with its severity, and only the alerts that
// situation explains.
func TestAlertsFireOnTheirSituation(t *testing.T) {
	for name, tc := range map[string]struct {
		series string
		want   []string
	}{
		"controller down": {
			series: without(healthy, `up{job="kubernaut-controller-metrics"`, "leader_election"),
			want:   []string{"KubernautControllerDown{severity=critical}"},
		},
		"no leader": {
			series: without(healthy, `pod="c-0"} 1x240`) +
				`  leader_election_master_status{job="kubernaut-controller-metrics",name="kubernaut-controller.kubernaut.io",pod="c-0"} 0x240` + "\n" +
				`  up{job="kubernaut-controller-metrics",namespace="kubernaut-system",pod="c-0"} 1x240`,
			want: []string{"KubernautNoLeader{severity=critical}"},
		},
		"gateway down": {
			series: without(healthy, `up{job="kubernaut-gateway"`),
			want:   []string{"KubernautGatewayDown{severity=critical}"},
		},
		"gateway answering 503 to one delivery in ten": {
			series: healthy +
				`  kubernaut_gateway_request_duration_seconds_bucket{job="kubernaut-gateway",pod="g-0",outcome="unavailable",code="503",le="1"} 0+5x240` + "\n" +
				`  kubernaut_gateway_request_duration_seconds_bucket{job="kubernaut-gateway",pod="g-0",outcome="unavailable",code="503",le="+Inf"} 0+5x240` + "\n" +
				`  kubernaut_gateway_request_duration_seconds_count{job="kubernaut-gateway",pod="g-0",outcome="unavailable",code="503"} 0+5x240`,
			want: []string{"KubernautGatewayErrorBudgetBurn{severity=critical}", "KubernautGatewayErrorBudgetBurn{severity=warning}"},
		},
		"gateway slow": {
			series: without(healthy, `code="200",le="1"`) +
				`  kubernaut_gateway_request_duration_seconds_bucket{job="kubernaut-gateway",pod="g-0",outcome="ok",code="200",le="1"} 0+40x240`,
			want: []string{"KubernautGatewayLatencyBudgetBurn{severity=warning}"},
		},
		"a rotated token": {
			series: without(healthy, `reason="unauthenticated"`) +
				`  kubernaut_gateway_rejected_requests_total{job="kubernaut-gateway",pod="g-0",reason="unauthenticated"} 0x200 0+3x40`,
			want: []string{"KubernautGatewayRejectingTokens{severity=critical}"},
		},
		"invalid alerts": {
			series: healthy + `  kubernaut_gateway_signals_total{job="kubernaut-gateway",pod="g-0",source="alertmanager",outcome="invalid"} 0x230 0+1x10`,
			want:   []string{"KubernautGatewayDroppingAlerts{severity=warning}"},
		},
		"flush errors": {
			series: without(healthy, "flush_errors") + `  kubernaut_gateway_flush_errors_total{job="kubernaut-gateway",pod="g-0"} 0x180 0+1x60`,
			want:   []string{"KubernautGatewayFlushErrors{severity=warning}"},
		},
		"half the remediations failing": {
			series: healthy + `  kubernaut_remediations_total{job="kubernaut-controller-metrics",pod="c-0",outcome="Failed"} 0+1x240`,
			want:   []string{"KubernautRemediationFailureRateHigh{severity=warning}"},
		},
		"a timeout": {
			series: healthy + `  kubernaut_remediations_total{job="kubernaut-controller-metrics",pod="c-0",outcome="TimedOut"} 0x230 1x10`,
			want:   []string{"KubernautRemediationsTimingOut{severity=warning}"},
		},
		"a failed compensation": {
			series: healthy + `  kubernaut_compensations_total{job="kubernaut-controller-metrics",pod="c-0",action="scale_deployment",phase="Failed"} 0x230 1x10`,
			want:   []string{"KubernautCompensationFailed{action=scale_deployment,severity=critical}"},
		},
		"a plan waiting 40 minutes": {
			series: without(healthy, `phase="AwaitingApproval"} 0x240`) +
				`  kubernaut_remediation_phase_oldest_seconds{job="kubernaut-controller-metrics",pod="c-0",phase="AwaitingApproval"} 0x160 0+30x80`,
			want: []string{"KubernautApprovalWaitingLong{severity=warning}"},
		},
		"twenty plans waiting": {
			series: without(healthy, `kubernaut_remediations{`) +
				`  kubernaut_remediations{job="kubernaut-controller-metrics",pod="c-0",phase="AwaitingApproval"} 2x180 20x60`,
			want: []string{"KubernautApprovalBacklog{severity=warning}"},
		},
		"HolmesGPT failing": {
			series: without(healthy, "breaker") + `  kubernaut_holmesgpt_breaker_open{job="kubernaut-controller-metrics",pod="c-0"} 0x200 1x40`,
			want:   []string{"KubernautHolmesGPTBreakerOpen{severity=warning}"},
		},
		"remediations taking 20 minutes": {
			series: without(healthy, `le="600"`) +
				`  kubernaut_remediation_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",outcome="Completed",le="600"} 0+0.5x240`,
			want: []string{"KubernautRemediationLatencySLO{severity=warning}"},
		},
		"a remediation stuck executing": {
			series: without(healthy, `phase="Executing"`) +
				`  kubernaut_remediation_phase_oldest_seconds{job="kubernaut-controller-metrics",pod="c-0",phase="Executing"} 0+30x240`,
			want: []string{"KubernautRemediationStuck{phase=Executing,severity=warning}"},
		},
		"reconciles failing": {
			series: without(healthy, "reconcile_errors") +
				`  controller_runtime_reconcile_errors_total{job="kubernaut-controller-metrics",pod="c-0",controller="workflowexecution"} 0+3x240`,
			want: []string{"KubernautReconcileErrors{controller=workflowexecution,severity=warning}"},
		},
		"a full work queue": {
			series: without(healthy, `le="1"} 0+10x240`, `le="10"} 0+10x240`) + // every wait between 10 s and 100 s
				`  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="1"} 0x240` + "\n" +
				`  workqueue_queue_duration_seconds_bucket{job="kubernaut-controller-metrics",pod="c-0",name="remediationrequest",le="10"} 0x240`,
			want: []string{"KubernautQueueWaitHigh{name=remediationrequest,severity=warning}"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := simulate(t, tc.series, 2*time.Hour)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("firing %v, want %v", got, tc.want)
			}
		})
	}
}
