package main

import (
	"flag"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/holmesgpt"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/rules"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
)

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

func (m *managerOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&m.metricsAddr, "metrics-bind-address", ":8080", "address of the controllers' /metrics")
	fs.StringVar(&m.probeAddr, "health-probe-bind-address", ":8081", "address of the controllers' /healthz and /readyz")
	fs.BoolVar(&m.leaderElect, "leader-elect", m.leaderElect, "elect a leader so that only one replica reconciles")
	fs.StringVar(&m.leaderElectionNS, "leader-election-namespace", "",
		"namespace of the leader-election Lease (the pod's own namespace when empty)")
	fs.DurationVar(&m.leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"how long a leader that stopped renewing (killed, partitioned) keeps the lease: the longest failover")
	fs.DurationVar(&m.renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"how long the leader keeps trying to renew before it gives up leading (and exits)")
	fs.DurationVar(&m.retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"how often the replicas try to acquire or renew the lease")
	fs.StringVar(&m.namespace, "namespace", "",
		"namespace whose Kubernaut objects are reconciled (all namespaces when empty)")
	fs.DurationVar(&m.gracefulShutdownAfter, "graceful-shutdown-timeout", 30*time.Second,
		"how long running reconciles may take to finish on shutdown")
	fs.IntVar(&m.concurrency, "concurrency", 16,
		"objects each controller works on at once: the reconciles mostly wait for the API server (enrichment reads, dry runs) or HolmesGPT (docs/benchmarks.md)")
}

func (m *managerOptions) validate() error {
	if m.concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, got %d", m.concurrency)
	}
	if m.retryPeriod <= 0 || m.retryPeriod >= m.renewDeadline || m.renewDeadline >= m.leaseDuration {
		return fmt.Errorf("leader election needs 0 < --leader-elect-retry-period (%s) < --leader-elect-renew-deadline (%s) < --leader-elect-lease-duration (%s)",
			m.retryPeriod, m.renewDeadline, m.leaseDuration)
	}
	return nil
}

// orchestratorOptions configure the guards, the phases' timeouts and the retention.
type orchestratorOptions struct {
	remediationrequest.Config
}

func (oc *orchestratorOptions) bindFlags(fs *flag.FlagSet) {
	oc.Config = remediationrequest.DefaultConfig()
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
}

func (oc *orchestratorOptions) validate() error { return nil }

// processingOptions configure enrichment and classification.
type processingOptions struct {
	lookupTimeout   time.Duration
	policyNamespace string
	policyConfigMap string
}

func (p *processingOptions) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&p.lookupTimeout, "enrichment-lookup-timeout", 5*time.Second, "time limit of each enrichment lookup")
	fs.StringVar(&p.policyNamespace, "policy-namespace", "kubernaut-system", "namespace of the policy ConfigMap")
	fs.StringVar(&p.policyConfigMap, "policy-configmap", "kubernaut-policies",
		"ConfigMap whose keys (classification.rego, …) override the embedded Rego policies")
}

func (p *processingOptions) validate() error { return nil }

// analysisOptions configure the analysis.
type analysisOptions struct {
	analyzer        string
	holmes          holmesgpt.Config
	holmesCAFile    string
	timeout         time.Duration
	autoThreshold   float64
	rejectThreshold float64
	maxSteps        int
	learningWindow  time.Duration
	// learningMinSamples, learningMaxGain and learningMaxLoss tune how past outcomes adjust
	// an analysis' confidence (aianalysis.Learner).
	learningMinSamples int
	learningMaxGain    float64
	learningMaxLoss    float64
}

func (a *analysisOptions) bindFlags(fs *flag.FlagSet) {
	a.bindAnalyzerFlags(fs)
	fs.DurationVar(&a.learningWindow, "learning-window", 7*24*time.Hour,
		"how far back the outcomes of past remediations adjust an analysis' confidence (0 = never)")
	fs.IntVar(&a.learningMinSamples, "learning-min-samples", 3,
		"outcomes of an action within --learning-window before they adjust the confidence of a plan using it")
	fs.Float64Var(&a.learningMaxGain, "learning-max-gain", 0.05,
		"most a plan's confidence rises for its actions' past successes (per action and in total; it never alone crosses --auto-approve-threshold)")
	fs.Float64Var(&a.learningMaxLoss, "learning-max-loss", 0.3, "most a plan's confidence falls for one action's past failures")
}

// bindAnalyzerFlags binds what an analysis asks and decides with (the controller's, and the
// backtest's: the same flags say the same thing).
func (a *analysisOptions) bindAnalyzerFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.analyzer, "analyzer", "rules", "analyzer of new analyses: rules (built in) or holmesgpt (the rules answer when it fails)")
	fs.StringVar(&a.holmes.URL, "holmesgpt-url", "", "HolmesGPT's base URL (required with --analyzer holmesgpt)")
	fs.StringVar(&a.holmes.Model, "holmesgpt-model", "", "a key of HolmesGPT's model list (its default when empty)")
	fs.StringVar(&a.holmesCAFile, "holmesgpt-ca-file", "", "PEM CA bundle that HolmesGPT's https certificate chains to (besides the system's roots)")
	fs.StringVar(&a.holmes.TokenFile, "holmesgpt-token-file", "",
		"file holding a bearer token sent to HolmesGPT (an authenticating proxy in front of it), re-read at every call; https only")
	fs.IntVar(&a.holmes.Attempts, "holmesgpt-attempts", 3, "calls per analysis, retries on 5xx, 429 and timeouts included")
	fs.DurationVar(&a.holmes.RetryBase, "holmesgpt-retry-delay", 2*time.Second, "first retry delay (doubling, ±50% jitter)")
	fs.IntVar(&a.holmes.BreakerThreshold, "holmesgpt-breaker-threshold", 3, "failed analyses in a row that open the circuit breaker")
	fs.DurationVar(&a.holmes.BreakerCooldown, "holmesgpt-breaker-cooldown", time.Minute, "how long an open breaker sends every analysis to the rules")
	fs.DurationVar(&a.timeout, "analysis-timeout", 180*time.Second, "time limit of one analyzer call")
	fs.Float64Var(&a.autoThreshold, "auto-approve-threshold", 0.9, "confidence from which the approval policy may approve without a person")
	fs.Float64Var(&a.rejectThreshold, "reject-threshold", 0.7, "confidence below which the approval policy rejects a plan")
	fs.IntVar(&a.maxSteps, "max-plan-steps", 5, "most steps a recommended plan may have")
}

// analyzers builds the analyzers the flags configure: the rules always, HolmesGPT with its
// URL (nil otherwise).
func (a *analysisOptions) analyzers() (map[kubernautv1.AnalyzerName]aianalysis.Analyzer, aianalysis.Analyzer, *holmesgpt.Client, error) {
	ruleBased := rules.New()
	analyzers := map[kubernautv1.AnalyzerName]aianalysis.Analyzer{kubernautv1.AnalyzerRules: ruleBased}
	if a.holmes.URL == "" {
		return analyzers, ruleBased, nil, nil
	}
	httpClient, err := holmesgpt.HTTPClient(a.holmesCAFile)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg := a.holmes
	cfg.HTTP = httpClient
	hc, err := holmesgpt.New(cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("setting up the HolmesGPT client: %w", err)
	}
	analyzers[kubernautv1.AnalyzerHolmesGPT] = hc
	return analyzers, ruleBased, hc, nil
}

// validateAnalyzer checks the flags of bindAnalyzerFlags.
func (a *analysisOptions) validateAnalyzer() error {
	switch {
	case a.analyzer != string(kubernautv1.AnalyzerRules) && a.analyzer != string(kubernautv1.AnalyzerHolmesGPT):
		return fmt.Errorf("--analyzer %q: want rules or holmesgpt", a.analyzer)
	case a.analyzer == string(kubernautv1.AnalyzerHolmesGPT) && a.holmes.URL == "":
		return fmt.Errorf("--analyzer holmesgpt needs --holmesgpt-url")
	case a.rejectThreshold < 0 || a.autoThreshold > 1 || a.rejectThreshold > a.autoThreshold:
		return fmt.Errorf("thresholds must satisfy 0 <= --reject-threshold (%v) <= --auto-approve-threshold (%v) <= 1", a.rejectThreshold, a.autoThreshold)
	case a.maxSteps < 1 || a.maxSteps > 10:
		return fmt.Errorf("--max-plan-steps must be between 1 and 10, got %d", a.maxSteps)
	}
	return nil
}

func (a *analysisOptions) validate() error {
	switch err := a.validateAnalyzer(); {
	case err != nil:
		return err
	case a.learningMinSamples < 1:
		return fmt.Errorf("--learning-min-samples must be at least 1, got %d", a.learningMinSamples)
	case a.learningMaxGain < 0 || a.learningMaxGain > 0.5 || a.learningMaxLoss < 0 || a.learningMaxLoss > 1:
		return fmt.Errorf("--learning-max-gain (%v) must be within [0, 0.5] and --learning-max-loss (%v) within [0, 1]", a.learningMaxGain, a.learningMaxLoss)
	}
	return nil
}

// workflowOptions configure the Argo Workflows plans compile into.
type workflowOptions struct {
	workflowexecution.CompileOptions
}

func (w *workflowOptions) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&w.ServiceAccount, "workflow-service-account", "kubernaut-workflow", "ServiceAccount of the Argo Workflows' pods")
	fs.DurationVar(&w.ActiveDeadline, "workflow-deadline", 30*time.Minute, "activeDeadlineSeconds of a Workflow")
	fs.DurationVar(&w.TTLAfterCompletion, "workflow-ttl", 24*time.Hour, "how long a finished Workflow is kept")
	fs.StringVar(&w.SemaphoreConfigMap, "semaphore-configmap", "kubernaut-semaphores",
		"Argo semaphore ConfigMap (keys cluster, namespace.<ns>, namespace.default for namespaces without their own) bounding concurrent remediations")
}

func (w *workflowOptions) validate() error { return nil }

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
	// The requests and limits of each action Job's container.
	jobCPURequest, jobMemoryRequest, jobCPULimit, jobMemoryLimit resource.Quantity
}

// jobResources are the requests and limits of each action Job's container.
func (ex *executionOptions) jobResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: ex.jobCPURequest, corev1.ResourceMemory: ex.jobMemoryRequest},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: ex.jobCPULimit, corev1.ResourceMemory: ex.jobMemoryLimit},
	}
}

func (ex *executionOptions) bindFlags(fs *flag.FlagSet) {
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
	ex.jobCPURequest, ex.jobMemoryRequest = resource.MustParse("50m"), resource.MustParse("64Mi")
	ex.jobCPULimit, ex.jobMemoryLimit = resource.MustParse("500m"), resource.MustParse("256Mi")
	fs.Var(quantity{&ex.jobCPURequest}, "job-cpu-request", "CPU request of each action Job's container, a Kubernetes `quantity` (--executor job)")
	fs.Var(quantity{&ex.jobMemoryRequest}, "job-memory-request", "memory request of each action Job's container, a Kubernetes `quantity` (--executor job)")
	fs.Var(quantity{&ex.jobCPULimit}, "job-cpu-limit", "CPU limit of each action Job's container, a Kubernetes `quantity` (--executor job)")
	fs.Var(quantity{&ex.jobMemoryLimit}, "job-memory-limit", "memory limit of each action Job's container, a Kubernetes `quantity` (--executor job)")
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
}

func (ex *executionOptions) validate() error {
	switch {
	case ex.engine != string(kubernautv1.EngineBuiltin) && ex.engine != string(kubernautv1.EngineArgo):
		return fmt.Errorf("--engine %q: want builtin or argo", ex.engine)
	case ex.executor != string(kubernautv1.ExecutorInProcess) && ex.executor != string(kubernautv1.ExecutorJob):
		return fmt.Errorf("--executor %q: want inprocess or job", ex.executor)
	case ex.executor == string(kubernautv1.ExecutorJob) && ex.actionsImage == "":
		return fmt.Errorf("--executor job needs --actions-image")
	case ex.jobCPURequest.Cmp(ex.jobCPULimit) > 0:
		return fmt.Errorf("--job-cpu-request (%s) is above --job-cpu-limit (%s)", ex.jobCPURequest.String(), ex.jobCPULimit.String())
	case ex.jobMemoryRequest.Cmp(ex.jobMemoryLimit) > 0:
		return fmt.Errorf("--job-memory-request (%s) is above --job-memory-limit (%s)", ex.jobMemoryRequest.String(), ex.jobMemoryLimit.String())
	}
	var err error
	ex.jobPlacement, err = parseJobPlacement(ex.jobNodeSelector, ex.jobTolerations)
	return err
}
