// Package gatewaycmd is the gateway's command line, shared by `kubernaut gateway` (and
// `local`) and the gateway's own binary, kubernaut-gateway: its flags (read in cmd/ only), the
// API-server client's, and the assembly of the gateway from them. The gateway's own binary
// links none of the controllers (policy engine, Argo's client, the actions): a smaller process
// and a smaller attack surface on the component Alertmanager talks to.
package gatewaycmd

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
)

// Options configure the gateway.
type Options struct {
	// Server is the HTTP server's configuration.
	Server gateway.Config
	// Recorder is deduplication's and storm detection's.
	Recorder gateway.RecorderConfig
	// TokenFile holds the accepted bearer tokens.
	TokenFile string
	// TokenReloadInterval is how often TokenFile is checked for changes.
	TokenReloadInterval time.Duration
	// TokenReview also accepts Kubernetes tokens allowed to create signals.
	TokenReview bool
	// TokenReviewTTL is how long a review is cached.
	TokenReviewTTL time.Duration
	// EventSource turns Kubernetes Warning events into signals.
	EventSource bool
	// EventReasons are the event reasons recorded, comma-separated.
	EventReasons string
	// Identity names this replica in the event source's Lease.
	Identity string
}

// BindFlags binds the gateway's flags, with their defaults.
func (g *Options) BindFlags(fs *flag.FlagSet) {
	g.Server = gateway.DefaultConfig()
	srv, rec := &g.Server, &g.Recorder
	fs.StringVar(&srv.Addr, "gateway-bind-address", srv.Addr,
		"address of the gateway (webhooks, /healthz, /readyz, and /metrics unless --gateway-metrics-bind-address)")
	fs.StringVar(&srv.MetricsAddr, "gateway-metrics-bind-address", srv.MetricsAddr,
		"address of the gateway's /metrics apart from the webhooks (so a NetworkPolicy can tell Prometheus from Alertmanager); empty: beside the webhooks")
	fs.BoolVar(&srv.Profiling, "gateway-profiling", false,
		"serve Go's runtime profiles (/debug/pprof/) beside /metrics on --gateway-metrics-bind-address (never beside the webhooks)")
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
	fs.StringVar(&g.TokenFile, "gateway-token-file", "",
		"file of accepted bearer tokens, one per line, re-read when it changes (this or --gateway-token-review is required)")
	fs.BoolVar(&g.TokenReview, "gateway-token-review", false,
		"also accept Kubernetes tokens whose identity may `create signals.kubernaut.io` in --gateway-namespace (TokenReview + SubjectAccessReview)")
	fs.DurationVar(&g.TokenReviewTTL, "gateway-token-review-ttl", time.Minute, "how long a token review is cached")
	fs.DurationVar(&g.TokenReloadInterval, "gateway-token-reload-interval", 10*time.Second,
		"how often the token file is checked for changes")
	fs.StringVar(&rec.Namespace, "gateway-namespace", "kubernaut-system", "namespace of the RemediationRequests the gateway creates")
	fs.DurationVar(&rec.DedupWindow, "dedup-window", 5*time.Minute,
		"a new occurrence within this long after the previous remediation of the same alert finished is counted on it")
	fs.IntVar(&rec.StormThreshold, "storm-threshold", 10,
		"remediations of one alertname in one namespace within --storm-window before further alerts fold into one (0 = off)")
	fs.DurationVar(&rec.StormWindow, "storm-window", time.Minute, "storm detection window")
	fs.IntVar(&rec.MaxStormMembers, "storm-max-members", 500,
		"most alerts a storm's RemediationRequest lists as members (the occurrence count goes on beyond)")
	fs.DurationVar(&rec.FlushInterval, "dedup-flush-interval", 10*time.Second,
		"how long the counted re-deliveries of one remediation wait before they are written (its count and lastSeen; new storm members are written within a second)")
	fs.BoolVar(&g.EventSource, "event-source", false,
		"also turn Kubernetes Warning events (see --event-reasons) into RemediationRequests")
	fs.StringVar(&g.Identity, "identity", firstNonEmpty(os.Getenv("POD_NAME"), hostname()),
		"this replica's name in the event source's Lease (default $POD_NAME, else the host name)")
	fs.StringVar(&g.EventReasons, "event-reasons", "BackOff,OOMKilling,Unhealthy,FailedScheduling,NodeNotReady,Evicted,FailedMount",
		"Warning event reasons the event source records, comma-separated; a reason outside the defaults gets severity warning")
}

// Validate checks the parsed flags.
func (g *Options) Validate() error {
	switch rec := g.Recorder; {
	case g.Server.RequestTimeout <= 0:
		return fmt.Errorf("--gateway-request-timeout must be positive, got %s", g.Server.RequestTimeout)
	case g.TokenFile == "" && !g.TokenReview:
		return fmt.Errorf("--gateway-token-file or --gateway-token-review is required: the gateway accepts no unauthenticated webhooks")
	case rec.Namespace == "":
		return fmt.Errorf("--gateway-namespace must name a namespace")
	case rec.FlushInterval <= 0 || rec.StormWindow <= 0 || rec.DedupWindow < 0:
		return fmt.Errorf("--dedup-flush-interval and --storm-window must be positive and --dedup-window not negative")
	case g.Server.Profiling && g.Server.MetricsAddr == "":
		return fmt.Errorf("--gateway-profiling needs --gateway-metrics-bind-address: profiles are never served beside the webhooks")
	case rec.MaxStormMembers < 1:
		return fmt.Errorf("--storm-max-members must be at least 1, got %d", rec.MaxStormMembers)
	}
	return nil
}

// Tokens reads the token file, if one is configured: before anything else, so that a bad
// one is the first thing a person is told.
func (g *Options) Tokens() (*gateway.TokenFile, error) {
	if g.TokenFile == "" {
		return nil, nil
	}
	return gateway.NewTokenFile(g.TokenFile)
}

// New assembles the gateway from its options and the tokens read by Tokens, and returns what
// runs it until ctx ends.
func New(ctx context.Context, cfg *rest.Config, o Options, tokens *gateway.TokenFile, log logr.Logger) (func(context.Context) error, error) {
	var auth gateway.AnyOf
	if tokens != nil {
		auth = append(auth, tokens)
	}
	if o.TokenReview {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("creating the token reviewer's client: %w", err)
		}
		auth = append(auth, gateway.NewTokenReviewer(cs, o.Recorder.Namespace, nil, o.TokenReviewTTL))
	}
	opts := gateway.Options{Server: o.Server, Recorder: o.Recorder, Auth: auth, TokenReloadInterval: o.TokenReloadInterval, Log: log, Identity: o.Identity}
	if o.EventSource {
		opts.EventReasons = map[string]kubernautv1.Severity{}
		for _, r := range strings.Split(o.EventReasons, ",") {
			if r = strings.TrimSpace(r); r == "" {
				continue
			}
			sev, known := gateway.DefaultEventReasons[r]
			if !known {
				sev = kubernautv1.SeverityWarning
			}
			opts.EventReasons[r] = sev
		}
		if len(opts.EventReasons) == 0 {
			return nil, fmt.Errorf("--event-source needs at least one reason in --event-reasons")
		}
	}
	if tokens != nil {
		opts.TokenFile = tokens
	}
	gw, err := gateway.New(ctx, cfg, Scheme(), opts)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		log.Info("starting the gateway", "address", o.Server.Addr, "metricsAddress", o.Server.MetricsAddr, "namespace", o.Recorder.Namespace)
		return gw.Run(ctx, nil)
	}, nil
}

// Scheme registers the kinds the gateway reads and writes: Kubernetes' own and Kubernaut's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(kubernautv1.AddToScheme(s))
	return s
}

// Client is the API-server client's flags.
type Client struct {
	// Kubeconfig is the path of a kubeconfig; in-cluster configuration when empty.
	Kubeconfig string
	// QPS and Burst bound the requests to the API server.
	QPS   float64
	Burst int
}

// BindFlags binds the client's flags, with their defaults.
func (c *Client) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"),
		"path of a kubeconfig; in-cluster configuration when empty (default $KUBECONFIG)")
	fs.Float64Var(&c.QPS, "kube-api-qps", 200,
		"requests per second to the API server (client-go's own default of 5 would throttle the gateway)")
	fs.IntVar(&c.Burst, "kube-api-burst", 400, "burst of requests to the API server")
}

// Config loads the client's configuration, named userAgent.
func (c *Client) Config(userAgent string) (*rest.Config, error) {
	cfg, err := restConfig(c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	cfg.QPS, cfg.Burst = float32(c.QPS), c.Burst
	return cfg, nil
}

// restConfig loads the kubeconfig, or the in-cluster configuration when none is given.
func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes client configuration (kubeconfig %q): %w", kubeconfig, err)
	}
	return cfg, nil
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
