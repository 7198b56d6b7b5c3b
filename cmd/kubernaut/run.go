package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
	"github.com/kubernaut/kubernaut/gateway"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
)

// newScheme registers the kinds Kubernaut reads and writes: Kubernetes' own, Kubernaut's and
// Argo's Workflows.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(kubernautv1.AddToScheme(s))
	utilruntime.Must(wfv1.AddToScheme(s))
	return s
}

// runnable is one long-running part of the process.
type runnable func(ctx context.Context) error

// runProcess builds every part the command asked for, then runs them until ctx ends or one
// of them fails. Nothing starts unless every part could be built.
func runProcess(ctx context.Context, o *options) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName(o.command)
	var tokens *gateway.TokenFile
	if o.runGateway {
		var err error
		if tokens, err = o.gateway.Tokens(); err != nil {
			return err
		}
	}
	cfg, err := o.client.Config("kubernaut/" + version)
	if err != nil {
		return err
	}

	var runs []runnable
	if o.runController {
		mgr, err := newManager(cfg, o.manager, o.execution.engine == string(kubernautv1.EngineArgo))
		if err != nil {
			return err
		}
		if err := setupControllers(ctx, mgr, o); err != nil {
			return err
		}
		if err := setupNotifications(ctx, mgr, o); err != nil {
			return err
		}
		runs = append(runs, func(ctx context.Context) error {
			log.Info("starting the controller manager", "metrics", o.manager.metricsAddr, "probes", o.manager.probeAddr)
			if err := mgr.Start(ctx); err != nil {
				return fmt.Errorf("controller manager: %w", err)
			}
			return nil
		})
	}
	if o.runGateway {
		gw, err := gatewaycmd.New(ctx, cfg, o.gateway.Options, tokens, ctrl.Log.WithName("gateway"))
		if err != nil {
			return err
		}
		runs = append(runs, gw)
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range runs {
		g.Go(func() error { return r(ctx) })
	}
	return g.Wait()
}

// newManager builds the controller manager with its health, readiness and metrics endpoints.
// The controllers of the chain register on it.
func newManager(cfg *rest.Config, o managerOptions, argo bool) (ctrl.Manager, error) {
	opts := ctrl.Options{
		Scheme:                  newScheme(),
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "kubernaut-controller.kubernaut.io",
		LeaderElectionNamespace: o.leaderElectionNS,
		LeaseDuration:           &o.leaseDuration,
		RenewDeadline:           &o.renewDeadline,
		RetryPeriod:             &o.retryPeriod,
		// A replica that stops (SIGTERM, a rolling update) hands the lease over at once instead
		// of leaving the others to wait for it to expire. Safe because the process exits as
		// soon as the manager has stopped (runProcess returns).
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &o.gracefulShutdownAfter,
		Controller:                    config.Controller{MaxConcurrentReconciles: o.concurrency},
	}
	// The cache keeps no managedFields (about 40 % of each object's size, measured with 1,000
	// remediations: docs/benchmarks.md), except where the code reads them: who set a
	// WorkflowExecution's approval annotation, and who resumed an Argo Workflow's gate.
	keep := func(obj any) (any, error) { return obj, nil }
	opts.Cache = cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&kubernautv1.WorkflowExecution{}: {Transform: keep}},
	}
	if argo { // only with Argo's CRDs installed
		opts.Cache.ByObject[&wfv1.Workflow{}] = cache.ByObject{Transform: keep}
	}
	if o.namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{o.namespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("informer caches not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("adding the readiness check: %w", err)
	}
	return mgr, nil
}

// leading reports whether the manager holds the leader lease (always, without leader
// election: its Elected channel is then closed at start).
func leading(mgr ctrl.Manager) func() bool {
	return func() bool {
		select {
		case <-mgr.Elected():
			return true
		default:
			return false
		}
	}
}

// setupControllers registers the controllers of the chain on the manager.
func setupControllers(ctx context.Context, mgr ctrl.Manager, o *options) error {
	rr := &remediationrequest.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Events:    mgr.GetEventRecorder("kubernaut-remediationrequest"),
		Config:    o.orchestrator.Config,
		Metrics:   remediationrequest.NewMetrics(metrics.Registry),
	}
	if err := rr.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the RemediationRequest controller: %w", err)
	}
	if err := metrics.Registry.Register(remediationrequest.NewInventory(mgr.GetClient(), leading(mgr))); err != nil {
		return fmt.Errorf("registering the remediation inventory: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("creating the enrichment's clientset: %w", err)
	}
	rp := &remediationprocessing.Reconciler{
		Client:     mgr.GetClient(),
		Enricher:   &remediationprocessing.Enricher{Reader: mgr.GetAPIReader(), Logs: remediationprocessing.ClientLogs{Client: cs}, LookupTimeout: o.processing.lookupTimeout},
		Classifier: remediationprocessing.NewClassifier(mgr.GetAPIReader(), o.processing.policyNamespace, o.processing.policyConfigMap),
		Events:     mgr.GetEventRecorder("kubernaut-remediationprocessing"),
		Metrics:    remediationprocessing.NewMetrics(metrics.Registry),
	}
	if err := rp.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the RemediationProcessing controller: %w", err)
	}
	analyzers, ruleBased, hc, err := o.analysis.analyzers()
	if err != nil {
		return err
	}
	if hc != nil {
		if err := metrics.Registry.Register(hc.BreakerGauge()); err != nil {
			return fmt.Errorf("registering the HolmesGPT breaker gauge: %w", err)
		}
	}
	aia := &aianalysis.Reconciler{
		Client:    mgr.GetClient(),
		Analyzers: analyzers,
		Default:   kubernautv1.AnalyzerName(o.analysis.analyzer),
		Fallback:  ruleBased,
		Timeout:   o.analysis.timeout,
		Validator: &aianalysis.Validator{Client: mgr.GetClient(), MaxSteps: o.analysis.maxSteps},
		Approver: aianalysis.NewApprover(mgr.GetAPIReader(), o.processing.policyNamespace, o.processing.policyConfigMap,
			o.analysis.autoThreshold, o.analysis.rejectThreshold),
		Events:  mgr.GetEventRecorder("kubernaut-aianalysis"),
		Metrics: aianalysis.NewMetrics(metrics.Registry),
	}
	if o.analysis.learningWindow > 0 {
		aia.Learner = &aianalysis.Learner{Reader: mgr.GetClient(), Window: o.analysis.learningWindow, MinSamples: o.analysis.learningMinSamples,
			MaxGain: o.analysis.learningMaxGain, MaxLoss: o.analysis.learningMaxLoss}
	}
	if err := aia.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AIAnalysis controller: %w", err)
	}
	set, err := templates.Embedded()
	if err != nil {
		return err
	}
	safety := kubernautrego.NewSafety(mgr.GetAPIReader(), o.processing.policyNamespace, o.processing.policyConfigMap, nil)
	safety.ClusterWide = o.orchestrator.ClusterWide
	env, err := actionsEnv(mgr, o.execution)
	if err != nil {
		return err
	}
	// Every step's rights are granted just in time to the action's own ServiceAccount; the
	// controller's dry runs and the inprocess executor act as that ServiceAccount.
	granter := &grants.Granter{Client: env.Client, Namespace: o.execution.actionsNamespace,
		Config: mgr.GetConfig(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()}
	sweeper := &grants.Sweeper{Client: env.Client, Reader: mgr.GetAPIReader(), Log: ctrl.Log.WithName("grants"),
		Kinds: map[string]grants.HolderKind{
			"KubernetesExecution": {New: func() client.Object { return &kubernautv1.KubernetesExecution{} },
				Needs: func(o client.Object, _, _ time.Time) bool {
					return kubernetesexecution.NeedsGrant(o.(*kubernautv1.KubernetesExecution))
				}},
			"WorkflowExecution": {New: func() client.Object { return &kubernautv1.WorkflowExecution{} },
				Needs: workflowexecution.NeedsGrant},
		}}
	if err := mgr.Add(sweeper); err != nil {
		return fmt.Errorf("adding the grants' sweeper: %w", err)
	}
	we := &workflowexecution.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set, Compile: o.workflow.CompileOptions, Safety: safety, Actions: &env, Grants: granter,
		Events:        mgr.GetEventRecorder("kubernaut-workflowexecution"),
		Engines:       map[kubernautv1.EngineName]workflowexecution.Engine{kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set, Reader: mgr.GetAPIReader()}},
		DefaultEngine: kubernautv1.EngineName(o.execution.engine),
		Metrics:       workflowexecution.NewMetrics(metrics.Registry),
		ShadowWindow:  o.trust.shadowWindow,
	}
	if o.execution.engine == string(kubernautv1.EngineArgo) {
		// Only with Argo installed: watching Workflows needs its CRDs.
		we.Engines[kubernautv1.EngineArgo] = &workflowexecution.Argo{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), UIBaseURL: o.execution.argoUIURL,
			Reference: o.execution.argoReference, Recheck: o.execution.argoRecheck, ArgoServerUser: o.execution.argoServerUser}
		we.WatchWorkflows = true
	}
	if err := we.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the WorkflowExecution controller: %w", err)
	}
	if err := setupTrust(mgr, o); err != nil {
		return err
	}
	ke := &kubernetesexecution.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: env, Safety: safety, Grants: granter,
		Executors:      map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}},
		Default:        kubernautv1.ExecutorName(o.execution.executor),
		DryRunAll:      o.execution.dryRun,
		KillSwitch:     ptr.To(o.orchestrator.KillSwitch(mgr.GetAPIReader())),
		VerifyInterval: o.execution.verifyInterval,
		Events:         mgr.GetEventRecorder("kubernaut-kubernetesexecution"),
		Metrics:        kubernetesexecution.NewMetrics(metrics.Registry),
	}
	if o.execution.executor == string(kubernautv1.ExecutorJob) {
		ke.Executors[kubernautv1.ExecutorJob] = kubernetesexecution.Job{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
			Image: o.execution.actionsImage, Namespace: o.execution.actionsNamespace, Deadline: o.execution.jobDeadline,
			NodeSelector: o.execution.jobPlacement.nodeSelector, Tolerations: o.execution.jobPlacement.tolerations,
			Resources: o.execution.jobResources()}
	}
	if o.execution.alertmanagerURL != "" {
		ke.Alerts = &kubernetesexecution.Alertmanager{URL: o.execution.alertmanagerURL}
	}
	if o.execution.authorize {
		ke.Authorizer = &kubernetesexecution.Authorizer{Client: mgr.GetClient(), Namespace: o.execution.actionsNamespace, Rules: granter}
	}
	if err := ke.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the KubernetesExecution controller: %w", err)
	}
	return nil
}

// actionsEnv is what the actions work with: clients that read the API server directly.
func actionsEnv(mgr ctrl.Manager, o executionOptions) (actions.Env, error) {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return actions.Env{}, fmt.Errorf("creating the actions' client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return actions.Env{}, fmt.Errorf("creating the actions' clientset: %w", err)
	}
	env := actions.Env{Client: direct, Kube: cs, Log: ctrl.Log.WithName("actions"), EvictionRetryDelay: o.evictionRetry, ScriptNamespace: o.actionsNamespace,
		MaxRollbackAge: o.maxRollbackAge, MemorySoak: o.memorySoak,
		Exec: actions.APIExec{Config: mgr.GetConfig(), Kube: cs}}
	for _, img := range strings.Split(o.customScriptImages, ",") {
		if img = strings.TrimSpace(img); img != "" {
			env.CustomScriptImages = append(env.CustomScriptImages, img)
		}
	}
	return env, nil
}
