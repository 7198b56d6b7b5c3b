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
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// Gateway is the whole gateway: an informer of RemediationRequests feeding the recorder's
// index, the recorder and its flusher, the token watcher and the HTTP server.
type Gateway struct {
	// Server is the HTTP server.
	Server *Server
	// Recorder writes the signals.
	Recorder *Recorder

	opts     Options
	informer toolscache.Controller
	events   *EventSource
	leases   kubernetes.Interface
}

// New assembles a gateway against the API server of cfg.
func New(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, opts Options) (*Gateway, error) {
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating the gateway's client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the gateway's Kubernetes client: %w", err)
	}
	rec := NewRecorder(opts.Recorder, c)
	// A plain informer, not a controller-runtime cache: its store holds the transform's small
	// records (tracked), which are no client.Object, and the recorder's index shares them.
	_, informer := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: remediationRequests(c, opts.Recorder.Namespace),
		ObjectType:    &kubernautv1.RemediationRequest{},
		Handler:       rec.Handler(),
		Transform:     trackTransform(opts.Recorder.Namespace),
	})
	ready := func(ctx context.Context) error {
		if !informer.HasSynced() {
			return fmt.Errorf("RemediationRequests not listed yet")
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
	g := &Gateway{Server: srv, Recorder: rec, opts: opts, informer: informer, leases: cs}
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
		g.informer.RunWithContext(ctx)
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
			if !toolscache.WaitForCacheSync(ctx.Done(), g.informer.HasSynced) {
				return nil
			}
			return g.runEventsWhileLeading(ctx)
		})
	}
	eg.Go(func() error { return g.Server.Run(ctx, ln) })
	return eg.Wait()
}

// remediationRequests lists and watches the RemediationRequests of namespace.
func remediationRequests(c client.WithWatch, namespace string) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			list := &kubernautv1.RemediationRequestList{}
			// The reflector pages its list: client.ListOptions writes its own Limit and
			// Continue over Raw's.
			err := c.List(ctx, list, &client.ListOptions{Namespace: namespace, Limit: o.Limit, Continue: o.Continue, Raw: &o})
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &kubernautv1.RemediationRequestList{}, &client.ListOptions{Namespace: namespace, Raw: &o})
		},
	}
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
