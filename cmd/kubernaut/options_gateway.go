package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubernaut/kubernaut/gateway"
)

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

func (g *gatewayOptions) bindFlags(fs *flag.FlagSet) {
	g.server = gateway.DefaultConfig()
	srv, rec := &g.server, &g.recorder
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
	fs.StringVar(&g.tokenFile, "gateway-token-file", "",
		"file of accepted bearer tokens, one per line, re-read when it changes (this or --gateway-token-review is required)")
	fs.BoolVar(&g.tokenReview, "gateway-token-review", false,
		"also accept Kubernetes tokens whose identity may `create signals.kubernaut.io` in --gateway-namespace (TokenReview + SubjectAccessReview)")
	fs.DurationVar(&g.tokenReviewTTL, "gateway-token-review-ttl", time.Minute, "how long a token review is cached")
	fs.DurationVar(&g.tokenReloadInterval, "gateway-token-reload-interval", 10*time.Second,
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
	fs.BoolVar(&g.eventSource, "event-source", false,
		"also turn Kubernetes Warning events (see --event-reasons) into RemediationRequests")
	fs.StringVar(&g.identity, "identity", firstNonEmpty(os.Getenv("POD_NAME"), hostname()),
		"this replica's name in the event source's Lease (default $POD_NAME, else the host name)")
	fs.StringVar(&g.eventReasons, "event-reasons", "BackOff,OOMKilling,Unhealthy,FailedScheduling,NodeNotReady,Evicted,FailedMount",
		"Warning event reasons the event source records, comma-separated; a reason outside the defaults gets severity warning")
}

func (g *gatewayOptions) validate() error {
	switch rec := g.recorder; {
	case g.server.RequestTimeout <= 0:
		return fmt.Errorf("--gateway-request-timeout must be positive, got %s", g.server.RequestTimeout)
	case g.tokenFile == "" && !g.tokenReview:
		return fmt.Errorf("--gateway-token-file or --gateway-token-review is required: the gateway accepts no unauthenticated webhooks")
	case rec.Namespace == "":
		return fmt.Errorf("--gateway-namespace must name a namespace")
	case rec.FlushInterval <= 0 || rec.StormWindow <= 0 || rec.DedupWindow < 0:
		return fmt.Errorf("--dedup-flush-interval and --storm-window must be positive and --dedup-window not negative")
	case rec.MaxStormMembers < 1:
		return fmt.Errorf("--storm-max-members must be at least 1, got %d", rec.MaxStormMembers)
	}
	return nil
}
