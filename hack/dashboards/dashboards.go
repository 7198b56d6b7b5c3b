package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// ctl and gw select the controller's and the gateway's series in the chosen namespace.
const (
	ctl = `job="kubernaut-controller-metrics",namespace="$namespace"`
	gw  = `job="kubernaut-gateway",namespace="$namespace"`
)

// overview is what an on-call SRE opens first: are alerts arriving, are remediations ending
// well, is anything waiting for a person, is the AI answering.
func overview() *dashboard.DashboardBuilder {
	return base("kubernaut-overview", "Kubernaut / Overview",
		"Alerts in, remediations out: outcomes, time to remediate, what waits for approval, and the health of both services.").
		WithRow(row("Now")).
		WithPanel(single("Remediations running", "RemediationRequests in an unfinished phase.", "short", 4, nil,
			q(`sum(kubernaut_remediations{`+ctl+`,phase=~"Pending|Processing|Analyzing|AwaitingApproval|Executing|Verifying"})`, "running"))).
		WithPanel(single("Awaiting approval", "Plans that wait for a person (kubectl annotate with the plan hash, or argo resume).", "short", 4, at(10),
			q(`sum(kubernaut_remediations{`+ctl+`,phase="AwaitingApproval"})`, "waiting"))).
		WithPanel(single("Oldest approval wait", "How long the oldest plan has waited; it times out after --timeout-approval.", "s", 4, at(1800),
			q(`max(kubernaut_remediation_phase_oldest_seconds{`+ctl+`,phase="AwaitingApproval"})`, "oldest"))).
		WithPanel(single("Success ratio (24h)", "Completed among the remediations that reached an outcome after running.", "percentunit", 4, nil,
			q(`sum(increase(kubernaut_remediations_total{`+ctl+`,outcome="Completed"}[24h])) / sum(increase(kubernaut_remediations_total{`+ctl+`,outcome=~"Completed|Failed|TimedOut"}[24h]))`, "success"))).
		WithPanel(single("HolmesGPT breaker", "1: HolmesGPT failed too often; the rules analyzer answers and every plan needs approval.", "short", 4, at(1),
			q(`max(kubernaut_holmesgpt_breaker_open{`+ctl+`})`, "open"))).
		WithPanel(single("Gateway 5xx (1h)", "Webhook deliveries answered 5xx (Alertmanager retries them); SLO 99.9 % without.", "percentunit", 4, at(0.001),
			q(`sum(rate(kubernaut_gateway_request_duration_seconds_count{`+gw+`,code=~"5.."}[1h])) / sum(rate(kubernaut_gateway_request_duration_seconds_count{`+gw+`}[1h]))`, "5xx"))).
		WithRow(row("Flow")).
		WithPanel(stacked("Alerts received", "Alerts by what the gateway did with them.", "ops", 12,
			q(`sum by (outcome) (rate(kubernaut_gateway_signals_total{`+gw+`}[$__rate_interval]))`, "{{outcome}}"))).
		WithPanel(stacked("Remediations finished", "Finished RemediationRequests by outcome.", "short", 12,
			q(`sum by (outcome) (increase(kubernaut_remediations_total{`+ctl+`}[$__rate_interval]))`, "{{outcome}}"))).
		WithPanel(series("Time to remediate", "From the alert to the verified outcome (approval included), completed remediations.", "s", 12,
			q(`histogram_quantile(0.5, sum by (le) (rate(kubernaut_remediation_duration_seconds_bucket{`+ctl+`,outcome="Completed"}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.95, sum by (le) (rate(kubernaut_remediation_duration_seconds_bucket{`+ctl+`,outcome="Completed"}[$__rate_interval])))`, "p95"))).
		WithPanel(stacked("Remediations by phase", "RemediationRequests that exist now, in each unfinished phase.", "short", 12,
			q(`sum by (phase) (kubernaut_remediations{`+ctl+`,phase=~"Pending|Processing|Analyzing|AwaitingApproval|Executing|Verifying"})`, "{{phase}}"))).
		WithPanel(stacked("Approval decisions", "How the approval policy decided on each plan.", "short", 12,
			q(`sum by (mode) (increase(kubernaut_analysis_decisions_total{`+ctl+`}[$__rate_interval]))`, "{{mode}}"))).
		WithPanel(stacked("Steps by action", "Finished steps by action and phase (compensations included).", "short", 12,
			q(`sum by (action, phase) (increase(kubernaut_executions_total{`+ctl+`}[$__rate_interval]))`, "{{action}} {{phase}}"))).
		WithRow(row("Services")).
		WithPanel(series("Replicas up", "Scraped targets that answer.", "short", 12,
			q(`sum by (job) (up{job=~"kubernaut-controller-metrics|kubernaut-gateway",namespace="$namespace"})`, "{{job}}"))).
		WithPanel(series("Memory (RSS)", "Resident memory of each replica.", "bytes", 12,
			q(`process_resident_memory_bytes{job=~"kubernaut-controller-metrics|kubernaut-gateway",namespace="$namespace"}`, "{{pod}}")))
}

// controller follows a remediation through the chain: where time goes per phase, how the
// analyzers answer, what the steps do, and whether the controllers keep up.
func controller() *dashboard.DashboardBuilder {
	return base("kubernaut-controller", "Kubernaut / Controller",
		"The chain of controllers: phases, analysis, plans, steps, verification and compensation, and the controllers' own work queues.").
		WithRow(row("Remediations")).
		WithPanel(series("Time in phase (p95)", "95th percentile of the time RemediationRequests spent in each phase.", "s", 12,
			q(`histogram_quantile(0.95, sum by (phase, le) (rate(kubernaut_remediation_phase_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "{{phase}}"))).
		WithPanel(series("Oldest in phase", "How long the oldest unfinished remediation has been in each phase.", "s", 12,
			q(`max by (phase) (kubernaut_remediation_phase_oldest_seconds{`+ctl+`})`, "{{phase}}"))).
		WithPanel(stacked("Phases entered", "Transitions into each phase.", "short", 12,
			q(`sum by (phase) (increase(kubernaut_remediation_phase_entered_total{`+ctl+`}[$__rate_interval]))`, "{{phase}}"))).
		WithPanel(series("Enrichment", "Time to gather a signal's cluster context, and failed lookups.", "s", 12,
			q(`histogram_quantile(0.95, sum by (le) (rate(kubernaut_enrichment_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "p95"),
			q(`sum by (detection) (rate(kubernaut_enrichment_failed_detections_total{`+ctl+`}[$__rate_interval]))`, "failed {{detection}} /s"))).
		WithRow(row("Analysis")).
		WithPanel(series("Analysis latency (p95)", "Time an analyzer took to answer, by analyzer and outcome.", "s", 12,
			q(`histogram_quantile(0.95, sum by (analyzer, outcome, le) (rate(kubernaut_analysis_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "{{analyzer}} {{outcome}}"))).
		WithPanel(series("Fallbacks and refusals", "Analyses the rules answered because HolmesGPT failed; recommendations validation refused.", "short", 12,
			q(`sum(increase(kubernaut_analysis_fallbacks_total{`+ctl+`}[$__rate_interval]))`, "fallbacks"),
			q(`sum(increase(kubernaut_analysis_rejected_recommendations_total{`+ctl+`}[$__rate_interval]))`, "refused recommendations"),
			q(`max(kubernaut_holmesgpt_breaker_open{`+ctl+`})`, "breaker open"))).
		WithPanel(series("Confidence", "Median and 10th percentile of the confidence of completed analyses.", "percentunit", 12,
			q(`histogram_quantile(0.5, sum by (le) (rate(kubernaut_analysis_confidence_bucket{`+ctl+`}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.1, sum by (le) (rate(kubernaut_analysis_confidence_bucket{`+ctl+`}[$__rate_interval])))`, "p10"))).
		WithPanel(series("LLM tokens", "Tokens the analyzers reported, per second.", "short", 12,
			q(`sum by (analyzer) (rate(kubernaut_analysis_tokens_total{`+ctl+`}[$__rate_interval]))`, "{{analyzer}}"))).
		WithRow(row("Plans and steps")).
		WithPanel(stacked("Plans finished", "WorkflowExecutions by engine and phase.", "short", 12,
			q(`sum by (engine, phase) (increase(kubernaut_workflows_total{`+ctl+`}[$__rate_interval]))`, "{{engine}} {{phase}}"))).
		WithPanel(series("Plan run time and approval wait (p95)", "From a plan's start to its end; from a manual plan's validation to its approval.", "s", 12,
			q(`histogram_quantile(0.95, sum by (engine, le) (rate(kubernaut_workflow_run_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "run {{engine}}"),
			q(`histogram_quantile(0.95, sum by (le) (rate(kubernaut_approval_wait_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "approval wait"))).
		WithPanel(series("Step duration (p95)", "From validation to the end of a step, by action.", "s", 12,
			q(`histogram_quantile(0.95, sum by (action, le) (rate(kubernaut_execution_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "{{action}}"))).
		WithPanel(stacked("Verification failures and compensations", "Steps whose health check failed; compensations by outcome (anything but Succeeded left a change in place).", "short", 12,
			q(`sum by (action) (increase(kubernaut_verification_failures_total{`+ctl+`}[$__rate_interval]))`, "verify failed {{action}}"),
			q(`sum by (action, phase) (increase(kubernaut_compensations_total{`+ctl+`}[$__rate_interval]))`, "compensation {{action}} {{phase}}"))).
		WithRow(row("Controllers")).
		WithPanel(series("Reconciles", "Reconciles per second by controller and result.", "ops", 12,
			q(`sum by (controller, result) (rate(controller_runtime_reconcile_total{`+ctl+`}[$__rate_interval]))`, "{{controller}} {{result}}"))).
		WithPanel(series("Reconcile errors", "Failed reconciles per second by controller.", "ops", 12,
			q(`sum by (controller) (rate(controller_runtime_reconcile_errors_total{`+ctl+`}[$__rate_interval]))`, "{{controller}}"))).
		WithPanel(series("Queue wait vs work (p95)", "Time objects wait in each work queue against the time their reconcile takes; a growing wait means raise --concurrency or give the API server room.", "s", 12,
			q(`histogram_quantile(0.95, sum by (name, le) (rate(workqueue_queue_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "wait {{name}}"),
			q(`histogram_quantile(0.95, sum by (name, le) (rate(workqueue_work_duration_seconds_bucket{`+ctl+`}[$__rate_interval])))`, "work {{name}}"))).
		WithPanel(series("Queue depth", "Objects waiting in each work queue.", "short", 12,
			q(`sum by (name) (workqueue_depth{`+ctl+`})`, "{{name}}"))).
		WithPanel(series("Leader", "Which replica holds the leader lease (1).", "short", 12,
			q(`leader_election_master_status{`+ctl+`}`, "{{pod}}"))).
		WithPanel(series("CPU", "CPU seconds per second of each replica.", "short", 12,
			q(`rate(process_cpu_seconds_total{`+ctl+`}[$__rate_interval])`, "{{pod}}")))
}

// gateway is the webhook receiver's RED view and what it refused.
func gateway() *dashboard.DashboardBuilder {
	return base("kubernaut-gateway", "Kubernaut / Gateway",
		"Alertmanager webhook deliveries: rate, errors, latency, what became of each alert, what was refused and why.").
		WithRow(row("Requests")).
		WithPanel(stacked("Deliveries by status code", "Webhook deliveries per second by HTTP status code.", "reqps", 12,
			q(`sum by (code) (rate(kubernaut_gateway_request_duration_seconds_count{`+gw+`}[$__rate_interval]))`, "{{code}}"))).
		WithPanel(series("Latency", "Time to answer a webhook delivery.", "s", 12,
			q(`histogram_quantile(0.5, sum by (le) (rate(kubernaut_gateway_request_duration_seconds_bucket{`+gw+`}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.95, sum by (le) (rate(kubernaut_gateway_request_duration_seconds_bucket{`+gw+`}[$__rate_interval])))`, "p95"),
			q(`histogram_quantile(0.99, sum by (le) (rate(kubernaut_gateway_request_duration_seconds_bucket{`+gw+`}[$__rate_interval])))`, "p99"))).
		WithPanel(series("Error budget burn", "5xx and slower-than-1 s ratios against their SLOs (99.9 %, 99 %): 1 spends the budget in exactly 30 days.", "short", 12,
			q(`kubernaut_gateway:request_errors:ratio_rate1h{namespace="$namespace"} / 0.001`, "5xx, 1h"),
			q(`kubernaut_gateway:request_slow:ratio_rate1h{namespace="$namespace"} / 0.01`, "slow, 1h"))).
		WithPanel(stacked("Deliveries by outcome", "Webhook deliveries per second by outcome.", "reqps", 12,
			q(`sum by (outcome) (rate(kubernaut_gateway_request_duration_seconds_count{`+gw+`}[$__rate_interval]))`, "{{outcome}}"))).
		WithRow(row("Alerts")).
		WithPanel(stacked("Alerts by outcome", "What became of each alert: created, duplicate, storm, resolved, invalid, failed.", "ops", 12,
			q(`sum by (outcome) (rate(kubernaut_gateway_signals_total{`+gw+`}[$__rate_interval]))`, "{{outcome}}"))).
		WithPanel(stacked("Refused requests", "Requests refused before their alerts were read, by reason (401/403 and invalid payloads are dropped by Alertmanager for good).", "reqps", 12,
			q(`sum by (reason) (rate(kubernaut_gateway_rejected_requests_total{`+gw+`}[$__rate_interval]))`, "{{reason}}"))).
		WithPanel(series("Pending duplicate counts", "Re-deliveries counted in memory and not yet written to their RemediationRequest, per replica.", "short", 12,
			q(`kubernaut_gateway_pending_duplicates{`+gw+`}`, "{{pod}}"))).
		WithPanel(series("Flush errors", "Failed writes of batched occurrence counts (retried at the next flush).", "short", 12,
			q(`sum(increase(kubernaut_gateway_flush_errors_total{`+gw+`}[$__rate_interval]))`, "errors"))).
		WithRow(row("Process")).
		WithPanel(series("CPU", "CPU seconds per second of each replica.", "short", 12,
			q(`rate(process_cpu_seconds_total{`+gw+`}[$__rate_interval])`, "{{pod}}"))).
		WithPanel(series("Memory (RSS)", "Resident memory of each replica.", "bytes", 12,
			q(`process_resident_memory_bytes{`+gw+`}`, "{{pod}}")))
}
