package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SignalsResource is the resource a caller must be allowed to `create` in the gateway's
// namespace (group kubernaut.io) to deliver signals when tokens are checked by TokenReview.
// It names no stored object: RBAC grants it to Alertmanager's ServiceAccount alone, apart
// from the right to create RemediationRequests.
const SignalsResource = "signals"

// TokenReviewer authenticates bearer tokens with the API server (TokenReview) and authorizes
// the identity with a SubjectAccessReview for `create signals.kubernaut.io` in the gateway's
// namespace. Answers are cached for TTL (refusals for a tenth of it), so re-deliveries do not
// cost two API calls each.
type TokenReviewer struct {
	client    kubernetes.Interface
	namespace string
	audiences []string
	ttl       time.Duration
	maxCached int
	now       func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]reviewed
}

type reviewed struct {
	identity string
	err      error
	expires  time.Time
}

// NewTokenReviewer builds a TokenReviewer for the gateway's namespace.
func NewTokenReviewer(client kubernetes.Interface, namespace string, audiences []string, ttl time.Duration) *TokenReviewer {
	return &TokenReviewer{client: client, namespace: namespace, audiences: audiences, ttl: ttl, maxCached: 10000,
		now: time.Now, cache: map[[sha256.Size]byte]reviewed{}}
}

// Authenticate reviews the token and checks the identity's right to deliver signals.
func (t *TokenReviewer) Authenticate(ctx context.Context, token string) (string, error) {
	key := sha256.Sum256([]byte(token))
	now := t.now()
	t.mu.Lock()
	if r, ok := t.cache[key]; ok && now.Before(r.expires) {
		t.mu.Unlock()
		return r.identity, r.err
	}
	t.mu.Unlock()

	identity, err := t.review(ctx, token)
	if err != nil && !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrForbidden) {
		return "", err // the API server could not answer: retry, do not cache
	}
	ttl := t.ttl
	if err != nil {
		ttl /= 10
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.cache) >= t.maxCached {
		for k, r := range t.cache {
			if !now.Before(r.expires) || len(t.cache) >= t.maxCached {
				delete(t.cache, k)
			}
		}
	}
	t.cache[key] = reviewed{identity: identity, err: err, expires: now.Add(ttl)}
	return identity, err
}

func (t *TokenReviewer) review(ctx context.Context, token string) (string, error) {
	tr, err := t.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: t.audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("reviewing the bearer token: %w", err)
	}
	if !tr.Status.Authenticated {
		return "", ErrUnauthenticated
	}
	u := tr.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := t.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, Groups: u.Groups, UID: u.UID, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: t.namespace, Verb: "create", Group: "kubernaut.io", Resource: SignalsResource,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("checking %s's right to deliver signals: %w", u.Username, err)
	}
	if !sar.Status.Allowed {
		return u.Username, ErrForbidden
	}
	return u.Username, nil
}

// AnyOf accepts a token that any of the authenticators accepts, tried in order. It refuses
// with ErrForbidden when one recognised the caller but denied it, answers the first other
// error when no authenticator could decide (so the request is retried), and refuses with
// ErrUnauthenticated otherwise.
type AnyOf []Authenticator

// Authenticate tries each authenticator.
func (a AnyOf) Authenticate(ctx context.Context, token string) (string, error) {
	var forbidden, failed error
	for _, auth := range a {
		id, err := auth.Authenticate(ctx, token)
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, ErrForbidden):
			forbidden = err
		case errors.Is(err, ErrUnauthenticated):
		default:
			if failed == nil {
				failed = err
			}
		}
	}
	switch {
	case forbidden != nil:
		return "", forbidden
	case failed != nil:
		return "", failed
	default:
		return "", ErrUnauthenticated
	}
}
