package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// HolderKind is how the Sweeper judges one kind of holder.
type HolderKind struct {
	// New returns an empty object of the kind.
	New func() client.Object
	// Needs reports whether the holder, as read now, still needs a grant made at grantedAt.
	Needs func(holder client.Object, grantedAt, now time.Time) bool
}

// Sweeper deletes the bindings of grants whose holder is gone (or is a newer object of the same
// name) or no longer needs them: what a revocation that failed, or a controller that stopped
// mid-step, left behind. It runs at start and then every interval, on the leader only.
type Sweeper struct {
	// Client lists and deletes the bindings (direct, no cache).
	Client client.Client
	// Reader reads the holders from the API server.
	Reader client.Reader
	// Kinds judge the holders by kind; a binding whose holder's kind is not here is left alone.
	Kinds map[string]HolderKind
	// Every is the interval between sweeps (a minute when zero).
	Every time.Duration
	// Log receives a line per binding deleted.
	Log logr.Logger
}

// NeedLeaderElection makes the sweep run on the leader only.
func (s *Sweeper) NeedLeaderElection() bool { return true }

// Start sweeps until ctx ends; a failed sweep is logged and tried again at the next interval.
func (s *Sweeper) Start(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx, time.Now()); err != nil {
			s.Log.Error(err, "sweeping the grants", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep deletes the bindings no longer needed and returns how many it deleted.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (int, error) {
	var rbs rbacv1.RoleBindingList
	if err := s.Client.List(ctx, &rbs, client.HasLabels{LabelGrant}); err != nil {
		return 0, fmt.Errorf("listing the grants' RoleBindings: %w", err)
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := s.Client.List(ctx, &crbs, client.HasLabels{LabelGrant}); err != nil {
		return 0, fmt.Errorf("listing the grants' ClusterRoleBindings: %w", err)
	}
	var bindings []client.Object
	for i := range rbs.Items {
		bindings = append(bindings, &rbs.Items[i])
	}
	for i := range crbs.Items {
		bindings = append(bindings, &crbs.Items[i])
	}
	deleted := 0
	var errs []error
	for _, b := range bindings {
		stale, why, err := s.stale(ctx, b, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !stale {
			continue
		}
		if err := s.Client.Delete(ctx, b, client.Preconditions{UID: ptrTo(b.GetUID())}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", kindOf(b), describe(b), err))
			continue
		}
		deleted++
		s.Log.Info("revoked a leftover grant", "binding", describe(b), "kind", kindOf(b), "holder", b.GetAnnotations()[AnnotationHolder], "why", why)
	}
	return deleted, errors.Join(errs...)
}

// stale reports whether a binding's holder is gone or done with it, and why.
func (s *Sweeper) stale(ctx context.Context, b client.Object, now time.Time) (bool, string, error) {
	h, ok := parseHolder(b.GetAnnotations()[AnnotationHolder])
	if !ok {
		return false, "", nil
	}
	kind, ok := s.Kinds[h.Kind]
	if !ok {
		return false, "", nil
	}
	obj := kind.New()
	err := s.Reader.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: h.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return true, "its holder is gone", nil
	case err != nil:
		return false, "", fmt.Errorf("reading the holder of %s %s: %w", kindOf(b), describe(b), err)
	case obj.GetUID() != h.UID:
		return true, "its holder is gone (a newer object has its name)", nil
	case !kind.Needs(obj, b.GetCreationTimestamp().Time, now):
		return true, "its holder no longer needs it", nil
	}
	return false, "", nil
}

func ptrTo[T any](v T) *T { return &v }
