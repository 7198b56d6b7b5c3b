package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/holmesgpt"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	"github.com/kubernaut/kubernaut/gateway"
)

// durationInMap is a flag that sets one duration of a map.
type durationInMap struct {
	m   map[kubernautv1.RemediationPhase]time.Duration
	key kubernautv1.RemediationPhase
}

func (d *durationInMap) String() string {
	if d.m == nil {
		return ""
	}
	return d.m[d.key].String()
}

func (d *durationInMap) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("must be positive")
	}
	d.m[d.key] = v
	return nil
}

// options are a command's settings, read from flags (and KUBECONFIG).
type options struct {
	command    string
	kubeconfig string
	apiQPS     float64
	apiBurst   int
	zap        zap.Options

	// runController and runGateway say which parts the command runs.
	runController bool
	runGateway    bool

	manager      managerOptions
	orchestrator remediationrequest.Config
	processing   processingOptions
	analysis     analysisOptions
	workflow     workflowexecution.CompileOptions
	execution    executionOptions
	gateway      gatewayOptions
}

// executionOptions configure how approved plans run.
type executionOptions struct {
	engine             string
	executor           string
	dryRun             bool
	actionsNamespace   string
	authorize          bool
	customScriptImages string
	verifyInterval     time.Duration
	evictionRetry      time.Duration
	maxRollbackAge     time.Duration
	memorySoak         time.Duration
	actionsImage       string
	argoUIURL          string
	argoReference      bool
	argoRecheck        time.Duration
	argoServerUser     string
	alertmanagerURL    string
	jobDeadline        time.Duration
	jobNodeSelector    string
	jobTolerations     string
	jobPlacement       jobPlacement
}

// processingOptions configure enrichment and classification.
type processingOptions struct {
	lookupTimeout   time.Duration
	policyNamespace string
	policyConfigMap string
}

// analysisOptions configure the analysis.
type analysisOptions struct {
	analyzer        string
	holmes          holmesgpt.Config
	holmesCAFile    string
	timeout         time.Duration
	autoThreshold   float64
	manualThreshold float64
	maxSteps        int
	learningWindow  time.Duration
}

// gatewayOptions configure the gateway.
type gatewayOptions struct {
	server              gateway.Config
	recorder            gateway.RecorderConfig
	tokenFile           string
	tokenReloadInterval time.Duration
	tokenReview         bool
	tokenReviewTTL      time.Duration
	eventSource         bool
	eventReasons        string
	identity            string
}

// managerOptions configure the controller manager.
type managerOptions struct {
	metricsAddr           string
	probeAddr             string
	leaderElect           bool
	leaderElectionNS      string
	namespace             string
	gracefulShutdownAfter time.Duration
	concurrency           int
	leaseDuration         time.Duration
	renewDeadline         time.Duration
	retryPeriod           time.Duration
}

// parseOptions reads the flags of one command.
func parseOptions(command string, args []string, stderr io.Writer, controller, gw bool) (*options, error) {
	o := &options{command: command, runController: controller, runGateway: gw}
	fs := flag.NewFlagSet("kubernaut "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"),
		"path of a kubeconfig; in-cluster configuration when empty (default $KUBECONFIG)")
	fs.Float64Var(&o.apiQPS, "kube-api-qps", 200,
		"requests per second to the API server (client-go's own default of 5 would throttle the gateway)")
	fs.IntVar(&o.apiBurst, "kube-api-burst", 400, "burst of requests to the API server")
	o.zap.Development = command == "local"
	o.zap.BindFlags(fs)

	if controller {
		fs.StringVar(&o.manager.metricsAddr, "metrics-bind-address", ":8080", "address of the controllers' /metrics")
		fs.StringVar(&o.manager.probeAddr, "health-probe-bind-address", ":8081", "address of the controllers' /healthz and /readyz")
		fs.BoolVar(&o.manager.leaderElect, "leader-elect", command == "controller",
			"elect a leader so that only one replica reconciles")
		fs.StringVar(&o.manager.leaderElectionNS, "leader-election-namespace", "",
			"namespace of the leader-election Lease (the pod's own namespace when empty)")
		fs.DurationVar(&o.manager.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
			"how long a leader that stopped renewing (killed, partitioned) keeps the lease: the longest failover")
		fs.DurationVar(&o.manager.renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
			"how long the leader keeps trying to renew before it gives up leading (and exits)")
		fs.DurationVar(&o.manager.retryPeriod, "leader-elect-retry-period", 2*time.Second,
			"how often the replicas try to acquire or renew the lease")
		fs.StringVar(&o.manager.namespace, "namespace", "",
			"namespace whose Kubernaut objects are reconciled (all namespaces when empty)")
		fs.DurationVar(&o.manager.gracefulShutdownAfter, "graceful-shutdown-timeout", 30*time.Second,
			"how long running reconciles may take to finish on shutdown")
		fs.IntVar(&o.manager.concurrency, "concurrency", 16,
			"objects each controller works on at once: the reconciles mostly wait for the API server (enrichment reads, dry runs) or HolmesGPT (docs/benchmarks.md)")

		o.orchestrator = remediationrequest.DefaultConfig()
		oc := &o.orchestrator
		for _, t := range []struct {
			flag  string
			phase kubernautv1.RemediationPhase
		}{
			{"timeout-guards", kubernautv1.RemediationPhasePending},
			{"timeout-processing", kubernautv1.RemediationPhaseProcessing},
			{"timeout-analysis", kubernautv1.RemediationPhaseAnalyzing},
			{"timeout-approval", kubernautv1.RemediationPhaseAwaitingApproval},
			{"timeout-execution", kubernautv1.RemediationPhaseExecuting},
			{"timeout-verification", kubernautv1.RemediationPhaseVerifying},
		} {
			fs.Var(&durationInMap{m: oc.Timeouts, key: t.phase}, t.flag,
				fmt.Sprintf("how long a remediation may stay in phase %s", t.phase)) // the flag package prints the default
		}
		fs.BoolVar(&oc.ClusterWide, "cluster-wide", false,
			"remediate every namespace and node, not only those labelled "+kubernautv1.OptInLabel+"=true")
		fs.DurationVar(&oc.Cooldown, "cooldown", oc.Cooldown, "a finished remediation of the same target and signal holds new ones back this long")
		fs.IntVar(&oc.FailureLimit, "failure-limit", oc.FailureLimit, "consecutive failures of one alert that block it (0 = never)")
		fs.DurationVar(&oc.FailureBlock, "failure-block", oc.FailureBlock, "how long an alert stays blocked after --failure-limit failures")
		fs.StringVar(&oc.KillSwitchNamespace, "kill-switch-namespace", oc.KillSwitchNamespace, "namespace of the kill-switch ConfigMap")
		fs.StringVar(&oc.KillSwitchName, "kill-switch-configmap", oc.KillSwitchName,
			"ConfigMap whose key "+killswitch.Key+"=\"true\" stops new remediations and executions")
		fs.DurationVar(&oc.Retention, "retention", oc.Retention, "how long finished RemediationRequests are kept")
		fs.StringVar(&o.analysis.analyzer, "analyzer", "rules", "analyzer of new analyses: rules (built in) or holmesgpt (the rules answer when it fails)")
		fs.StringVar(&o.analysis.holmes.URL, "holmesgpt-url", "", "HolmesGPT's base URL (required with --analyzer holmesgpt)")
		fs.StringVar(&o.analysis.holmes.Model, "holmesgpt-model", "", "a key of HolmesGPT's model list (its default when empty)")
		fs.StringVar(&o.analysis.holmesCAFile, "holmesgpt-ca-file", "", "PEM CA bundle that HolmesGPT's https certificate chains to (besides the system's roots)")
		fs.StringVar(&o.analysis.holmes.TokenFile, "holmesgpt-token-file", "",
			"file holding a bearer token sent to HolmesGPT (an authenticating proxy in front of it), re-read at every call; https only")
		fs.IntVar(&o.analysis.holmes.Attempts, "holmesgpt-attempts", 3, "calls per analysis, retries on 5xx, 429 and timeouts included")
		fs.DurationVar(&o.analysis.holmes.RetryBase, "holmesgpt-retry-delay", 2*time.Second, "first retry delay (doubling, ±50% jitter)")
		fs.IntVar(&o.analysis.holmes.BreakerThreshold, "holmesgpt-breaker-threshold", 3, "failed analyses in a row that open the circuit breaker")
		fs.DurationVar(&o.analysis.holmes.BreakerCooldown, "holmesgpt-breaker-cooldown", time.Minute, "how long an open breaker sends every analysis to the rules")
		fs.DurationVar(&o.analysis.timeout, "analysis-timeout", 180*time.Second, "time limit of one analyzer call")
		fs.Float64Var(&o.analysis.autoThreshold, "auto-approve-threshold", 0.9, "confidence from which the approval policy may approve without a person")
		fs.Float64Var(&o.analysis.manualThreshold, "reject-threshold", 0.7, "confidence below which the approval policy rejects a plan")
		fs.IntVar(&o.analysis.maxSteps, "max-plan-steps", 5, "most steps a recommended plan may have")
		fs.DurationVar(&o.analysis.learningWindow, "learning-window", 7*24*time.Hour,
			"how far back the outcomes of past remediations adjust an analysis' confidence (0 = never)")
		fs.StringVar(&o.workflow.ServiceAccount, "workflow-service-account", "kubernaut-workflow", "ServiceAccount of the Argo Workflows' pods")
		fs.DurationVar(&o.workflow.ActiveDeadline, "workflow-deadline", 30*time.Minute, "activeDeadlineSeconds of a Workflow")
		fs.DurationVar(&o.workflow.TTLAfterCompletion, "workflow-ttl", 24*time.Hour, "how long a finished Workflow is kept")
		fs.StringVar(&o.workflow.SemaphoreConfigMap, "semaphore-configmap", "kubernaut-semaphores",
			"Argo semaphore ConfigMap (keys cluster, namespace.<ns>, namespace.default for namespaces without their own) bounding concurrent remediations")
		ex := &o.execution
		fs.StringVar(&ex.engine, "engine", "builtin", "engine of approved plans: builtin (in-process, no Argo needed) or argo (an Argo Workflow; needs Argo's CRDs and controller)")
		fs.StringVar(&ex.executor, "executor", "inprocess", "executor of the steps: inprocess (the action code in this process) or job (a Job per step, the action's own ServiceAccount)")
		fs.StringVar(&ex.alertmanagerURL, "alertmanager-url", "", "Alertmanager's URL: the last steps of a plan also wait for their alert to resolve there (API v2) before they count as verified")
		fs.StringVar(&ex.argoUIURL, "argo-ui-url", "", "base URL of the Argo server, for the Workflow links in status (--engine argo)")
		fs.DurationVar(&ex.argoRecheck, "argo-recheck", workflowexecution.DefaultRecheck,
			"how long Argo's controller may take to act on a resumed approval gate or a rejected plan's terminate before the Workflow is nudged (--engine argo; see INFORMER_WRITE_BACK in docs/workflow.md)")
		fs.StringVar(&ex.argoServerUser, "argo-server-user", "system:serviceaccount:argo:argo-server",
			"the user the Argo server authenticates as: a gate it resumed is attributed to the SSO user its actor labels name (--engine argo)")
		fs.BoolVar(&ex.argoReference, "argo-workflow-template-ref", false,
			"run each plan as a WorkflowTemplate of its own and a Workflow that only references it, as Argo's templateReferencing: Strict or Secure requires (--engine argo)")
		fs.StringVar(&ex.actionsImage, "actions-image", "", "the actions image the job executor runs (required with --executor job)")
		fs.DurationVar(&ex.jobDeadline, "job-deadline", 10*time.Minute, "activeDeadlineSeconds of each action Job")
		fs.StringVar(&ex.jobNodeSelector, "job-node-selector", "", "node labels the action Jobs' pods must match, key=value,… (--executor job)")
		fs.StringVar(&ex.jobTolerations, "job-tolerations", "", "taints the action Jobs' pods tolerate, key[=value][:Effect],… (no value: any; no effect: every effect; --executor job)")
		fs.BoolVar(&ex.dryRun, "dry-run", false, "validate and dry-run every step on the API server, record the diffs, mutate nothing")
		fs.StringVar(&ex.actionsNamespace, "actions-namespace", "kubernaut-system", "namespace of the actions' ServiceAccounts (kubernaut-action-<action>)")
		fs.BoolVar(&ex.authorize, "authorize-actions", true,
			"check with a SubjectAccessReview, before each step, that the action's own ServiceAccount may do it")
		fs.StringVar(&ex.customScriptImages, "custom-script-images", "", "images custom_script may run, comma-separated (empty: custom_script is off)")
		fs.DurationVar(&ex.verifyInterval, "verify-interval", 2*time.Second, "how often a step's health check looks again at first (then a quarter of the time waited, at most 8 intervals)")
		fs.DurationVar(&ex.evictionRetry, "eviction-retry-delay", 5*time.Second, "drain_node: wait before retrying an eviction a PodDisruptionBudget refused")
		fs.DurationVar(&ex.memorySoak, "memory-soak", 30*time.Second,
			"increase_memory_limit: after the rollout, how long the new pods must run without an OOM kill before the step is verified; 0: the rollout alone")
		fs.DurationVar(&ex.maxRollbackAge, "max-rollback-age", 7*24*time.Hour,
			"rollback_deployment goes back only to a revision that served within this long (until the next revision replaced it); 0: no bound")
		fs.DurationVar(&o.processing.lookupTimeout, "enrichment-lookup-timeout", 5*time.Second, "time limit of each enrichment lookup")
		fs.StringVar(&o.processing.policyNamespace, "policy-namespace", "kubernaut-system", "namespace of the policy ConfigMap")
		fs.StringVar(&o.processing.policyConfigMap, "policy-configmap", "kubernaut-policies",
			"ConfigMap whose keys (classification.rego, …) override the embedded Rego policies")
	}
	if gw {
		o.gateway.server = gateway.DefaultConfig()
		srv, rec := &o.gateway.server, &o.gateway.recorder
		fs.StringVar(&srv.Addr, "gateway-bind-address", srv.Addr,
			"address of the gateway (webhooks, /healthz, /readyz, and /metrics unless --gateway-metrics-bind-address)")
		fs.StringVar(&srv.MetricsAddr, "gateway-metrics-bind-address", srv.MetricsAddr,
			"address of the gateway's /metrics apart from the webhooks (so a NetworkPolicy can tell Prometheus from Alertmanager); empty: beside the webhooks")
		fs.DurationVar(&srv.ReadHeaderTimeout, "gateway-read-header-timeout", srv.ReadHeaderTimeout,
			"how long a client may take to send the request headers")
		fs.DurationVar(&srv.RequestTimeout, "gateway-request-timeout", srv.RequestTimeout,
			"how long one request may take in all")
		fs.DurationVar(&srv.ShutdownTimeout, "gateway-shutdown-timeout", srv.ShutdownTimeout,
			"how long in-flight requests may take to finish on shutdown")
		fs.Int64Var(&srv.MaxBodyBytes, "gateway-max-body-bytes", srv.MaxBodyBytes, "largest webhook body accepted (413 beyond)")
		fs.IntVar(&srv.Limits.MaxAlerts, "gateway-max-alerts", srv.Limits.MaxAlerts, "most alerts one payload may carry")
		fs.Float64Var(&srv.RatePerSecond, "gateway-rate-limit", srv.RatePerSecond,
			"webhook requests per second allowed from one source address (503 with Retry-After beyond; 0 = off)")
		fs.IntVar(&srv.RateBurst, "gateway-rate-burst", srv.RateBurst, "burst of the per-source rate limit")
		fs.StringVar(&o.gateway.tokenFile, "gateway-token-file", "",
			"file of accepted bearer tokens, one per line, re-read when it changes (this or --gateway-token-review is required)")
		fs.BoolVar(&o.gateway.tokenReview, "gateway-token-review", false,
			"also accept Kubernetes tokens whose identity may `create signals.kubernaut.io` in --gateway-namespace (TokenReview + SubjectAccessReview)")
		fs.DurationVar(&o.gateway.tokenReviewTTL, "gateway-token-review-ttl", time.Minute, "how long a token review is cached")
		fs.DurationVar(&o.gateway.tokenReloadInterval, "gateway-token-reload-interval", 10*time.Second,
			"how often the token file is checked for changes")
		fs.StringVar(&rec.Namespace, "gateway-namespace", "kubernaut-system", "namespace of the RemediationRequests the gateway creates")
		fs.DurationVar(&rec.DedupWindow, "dedup-window", 5*time.Minute,
			"a new occurrence within this long after the previous remediation of the same alert finished is counted on it")
		fs.IntVar(&rec.StormThreshold, "storm-threshold", 10,
			"remediations of one alertname in one namespace within --storm-window before further alerts fold into one (0 = off)")
		fs.DurationVar(&rec.StormWindow, "storm-window", time.Minute, "storm detection window")
		fs.DurationVar(&rec.FlushInterval, "dedup-flush-interval", time.Second, "how often counted re-deliveries are written")
		rec.MaxStormMembers = 500
		fs.BoolVar(&o.gateway.eventSource, "event-source", false,
			"also turn Kubernetes Warning events (see --event-reasons) into RemediationRequests")
		fs.StringVar(&o.gateway.identity, "identity", firstNonEmpty(os.Getenv("POD_NAME"), hostname()),
			"this replica's name in the event source's Lease (default $POD_NAME, else the host name)")
		fs.StringVar(&o.gateway.eventReasons, "event-reasons", "BackOff,OOMKilling,Unhealthy,FailedScheduling,NodeNotReady,Evicted,FailedMount",
			"Warning event reasons the event source records, comma-separated; a reason outside the defaults gets severity warning")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if controller {
		switch a := o.analysis; {
		case a.analyzer != string(kubernautv1.AnalyzerRules) && a.analyzer != string(kubernautv1.AnalyzerHolmesGPT):
			return nil, fmt.Errorf("--analyzer %q: want rules or holmesgpt", a.analyzer)
		case a.analyzer == string(kubernautv1.AnalyzerHolmesGPT) && a.holmes.URL == "":
			return nil, fmt.Errorf("--analyzer holmesgpt needs --holmesgpt-url")
		case a.manualThreshold < 0 || a.autoThreshold > 1 || a.manualThreshold > a.autoThreshold:
			return nil, fmt.Errorf("thresholds must satisfy 0 <= --reject-threshold (%v) <= --auto-approve-threshold (%v) <= 1", a.manualThreshold, a.autoThreshold)
		case o.manager.concurrency < 1:
			return nil, fmt.Errorf("--concurrency must be at least 1, got %d", o.manager.concurrency)
		case o.execution.engine != string(kubernautv1.EngineBuiltin) && o.execution.engine != string(kubernautv1.EngineArgo):
			return nil, fmt.Errorf("--engine %q: want builtin or argo", o.execution.engine)
		case o.execution.executor != string(kubernautv1.ExecutorInProcess) && o.execution.executor != string(kubernautv1.ExecutorJob):
			return nil, fmt.Errorf("--executor %q: want inprocess or job", o.execution.executor)
		case o.execution.executor == string(kubernautv1.ExecutorJob) && o.execution.actionsImage == "":
			return nil, fmt.Errorf("--executor job needs --actions-image")
		case a.maxSteps < 1 || a.maxSteps > 10:
			return nil, fmt.Errorf("--max-plan-steps must be between 1 and 10, got %d", a.maxSteps)
		}
		var err error
		if o.execution.jobPlacement, err = parseJobPlacement(o.execution.jobNodeSelector, o.execution.jobTolerations); err != nil {
			return nil, err
		}
		if m := o.manager; m.retryPeriod <= 0 || m.retryPeriod >= m.renewDeadline || m.renewDeadline >= m.leaseDuration {
			return nil, fmt.Errorf("leader election needs 0 < --leader-elect-retry-period (%s) < --leader-elect-renew-deadline (%s) < --leader-elect-lease-duration (%s)",
				m.retryPeriod, m.renewDeadline, m.leaseDuration)
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("kubernaut %s takes no arguments, got %q", command, fs.Args())
	}
	if gw {
		if o.gateway.server.RequestTimeout <= 0 {
			return nil, fmt.Errorf("--gateway-request-timeout must be positive, got %s", o.gateway.server.RequestTimeout)
		}
		if o.gateway.tokenFile == "" && !o.gateway.tokenReview {
			return nil, fmt.Errorf("--gateway-token-file or --gateway-token-review is required: the gateway accepts no unauthenticated webhooks")
		}
		if o.gateway.recorder.Namespace == "" {
			return nil, fmt.Errorf("--gateway-namespace must name a namespace")
		}
		if o.gateway.recorder.FlushInterval <= 0 || o.gateway.recorder.StormWindow <= 0 || o.gateway.recorder.DedupWindow < 0 {
			return nil, fmt.Errorf("--dedup-flush-interval and --storm-window must be positive and --dedup-window not negative")
		}
	}
	return o, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
