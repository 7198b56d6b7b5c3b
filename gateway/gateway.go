package gateway

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcluster "sigs.k8s.io/controller-runtime/pkg/cluster"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Options configure an assembled gateway.
type Options struct {
	// Server configures the HTTP server.
	Server Config
	// Recorder configures deduplication and storms.
	Recorder RecorderConfig
	// Auth authenticates webhook requests (a TokenFile, a TokenReviewer, or AnyOf them).
	Auth Authenticator
	// TokenFile, when set, is re-read every TokenReloadInterval.
	TokenFile *TokenFile
	// TokenReloadInterval is how often the token file is re-read.
	TokenReloadInterval time.Duration
	// EventReasons turns on the Kubernetes Warning event source for these reasons (with
	// their severity); nil leaves it off. Only the replica holding the Lease
	// kubernaut-gateway-events (in the RemediationRequests' namespace) watches events, so an
	// event is counted once however many replicas run.
	EventReasons map[string]kubernautv1.Severity
	// Identity names this replica in the Lease (the pod name); random when empty.
	Identity string
	// Log receives the gateway's errors.
	Log logr.Logger
}

// Gateway is the whole gateway: a cache of RemediationRequests indexed for deduplication, the
// recorder and its flusher, the token watcher and the HTTP server.
type Gateway struct {
	// Server is the HTTP server.
	Server *Server
	// Recorder writes the signals.
	Recorder *Recorder

	opts    Options
	cluster crcluster.Cluster
	events  *EventSource
	leases  kubernetes.Interface
}

// New assembles a gateway against the API server of cfg.
func New(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, opts Options) (*Gateway, error) {
	c, err := crcluster.New(cfg, func(co *crcluster.Options) {
		co.Scheme = scheme
		co.Cache.DefaultNamespaces = map[string]cache.Config{opts.Recorder.Namespace: {}}
		co.Cache.ByObject = map[client.Object]cache.ByObject{
			&kubernautv1.RemediationRequest{}: {Transform: slimForDedup},
		}
	})
	if err != nil {
		return nil, fmt.Errorf("creating the gateway's cache: %w", err)
	}
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating the gateway's client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the gateway's Kubernetes client: %w", err)
	}
	rec := NewRecorder(opts.Recorder, direct)
	inf, err := c.GetCache().GetInformer(ctx, &kubernautv1.RemediationRequest{})
	if err != nil {
		return nil, fmt.Errorf("watching RemediationRequests: %w", err)
	}
	indexed, err := inf.AddEventHandler(rec.Handler())
	if err != nil {
		return nil, fmt.Errorf("indexing RemediationRequests: %w", err)
	}
	ready := func(ctx context.Context) error {
		if !c.GetCache().WaitForCacheSync(ctx) || !indexed.HasSynced() {
			return fmt.Errorf("RemediationRequest cache not synced")
		}
		if err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			return fmt.Errorf("API server not ready: %w", err)
		}
		return nil
	}
	if opts.Auth == nil {
		return nil, fmt.Errorf("the gateway needs an authenticator: it accepts no unauthenticated webhooks")
	}
	srv := NewServer(opts.Server, Deps{Ready: ready, Auth: opts.Auth, Recorder: rec, Pending: rec.Pending, Log: opts.Log})
	g := &Gateway{Server: srv, Recorder: rec, opts: opts, cluster: c, leases: cs}
	if opts.EventReasons != nil {
		g.events = NewEventSource(cs, rec, opts.EventReasons, opts.Log.WithName("events"))
	}
	return g, nil
}

// Run runs every part until ctx ends or one fails; it serves on ln (cfg.Addr when nil). On
// the way out the counted re-deliveries are flushed.
func (g *Gateway) Run(ctx context.Context, ln net.Listener) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := g.cluster.Start(ctx); err != nil {
			return fmt.Errorf("gateway cache: %w", err)
		}
		return nil
	})
	if g.opts.TokenFile != nil && g.opts.TokenReloadInterval > 0 {
		eg.Go(func() error {
			g.opts.TokenFile.Watch(ctx, g.opts.TokenReloadInterval, func(err error) {
				g.opts.Log.Error(err, "reloading bearer tokens; the previous ones stay valid")
			})
			return nil
		})
	}
	eg.Go(func() error {
		g.Recorder.Run(ctx, func(err error) {
			g.Server.FlushErrors()
			g.opts.Log.Error(err, "writing occurrence counts")
		})
		return nil
	})
	if g.events != nil {
		eg.Go(func() error {
			if !g.cluster.GetCache().WaitForCacheSync(ctx) {
				return nil
			}
			return g.runEventsWhileLeading(ctx)
		})
	}
	eg.Go(func() error { return g.Server.Run(ctx, ln) })
	return eg.Wait()
}

// slimForDedup keeps of a cached RemediationRequest only what deduplication and storm
// detection read — name, labels, creation and deletion times, phase, completion time — so
// that tracking many fingerprints costs little memory. The cache is the gateway's own; its
// writes always start from a fresh read.
func slimForDedup(obj any) (any, error) {
	rr, ok := obj.(*kubernautv1.RemediationRequest)
	if !ok {
		return obj, nil
	}
	return &kubernautv1.RemediationRequest{
		TypeMeta: rr.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: rr.Name, Namespace: rr.Namespace, UID: rr.UID, ResourceVersion: rr.ResourceVersion,
			Labels: rr.Labels, CreationTimestamp: rr.CreationTimestamp, DeletionTimestamp: rr.DeletionTimestamp,
		},
		Spec:   kubernautv1.RemediationRequestSpec{Deduplication: rr.Spec.Deduplication, MemberTargets: memberFingerprints(rr.Spec.MemberTargets)},
		Status: kubernautv1.RemediationRequestStatus{Phase: rr.Status.Phase, CompletedAt: rr.Status.CompletedAt},
	}, nil
}

// memberFingerprints keeps only the fingerprints of a storm's members: what tells a replica
// the members the others wrote.
func memberFingerprints(members []kubernautv1.MemberTarget) []kubernautv1.MemberTarget {
	if len(members) == 0 {
		return nil
	}
	out := make([]kubernautv1.MemberTarget, len(members))
	for i, m := range members {
		out[i] = kubernautv1.MemberTarget{Fingerprint: m.Fingerprint}
	}
	return out
}

// EventsLease is the Lease whose holder runs the event source.
const EventsLease = "kubernaut-gateway-events"

// runEventsWhileLeading runs the event source while this replica holds the events Lease.
func (g *Gateway) runEventsWhileLeading(ctx context.Context) error {
	id := g.opts.Identity
	if id == "" {
		id = "gateway-" + rand.String(8)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: g.opts.Recorder.Namespace, Name: EventsLease},
		Client:     g.leases.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var runErr error
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true, Name: EventsLease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				g.opts.Log.Info("watching Kubernetes events", "lease", EventsLease, "identity", id)
				runErr = g.events.Run(ctx)
			},
			OnStoppedLeading: func() { g.opts.Log.Info("stopped watching Kubernetes events", "identity", id) },
		},
	})
	if err != nil {
		return fmt.Errorf("the event source's leader election: %w", err)
	}
	// Run returns when ctx ends or the lease is lost; try again until ctx ends.
	for ctx.Err() == nil {
		le.Run(ctx)
		if runErr != nil {
			return runErr
		}
	}
	return nil
}
