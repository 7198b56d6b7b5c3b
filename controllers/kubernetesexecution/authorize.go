package kubernetesexecution

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// maxDenied is how many refused permissions the status lists (the AuthorizationResult's bound).
const maxDenied = 16

// reviewsInFlight bounds the SubjectAccessReviews one step sends at once.
const reviewsInFlight = 8

// Authorizer asks the API server, with one SubjectAccessReview per permission, whether the
// action's own ServiceAccount may do what the action needs on the step's target.
type Authorizer struct {
	// Client creates the SubjectAccessReviews.
	Client client.Client
	// Namespace holds the actions' ServiceAccounts (kubernaut-action-<action>).
	Namespace string
}

// Authorize returns the review of every permission the action needs. The reviews run
// concurrently (each is a round trip that stores nothing); the refused permissions are listed
// in the action's order.
func (a *Authorizer) Authorize(ctx context.Context, action catalog.Action, t kubernautv1.Target) (*kubernautv1.AuthorizationResult, error) {
	sa := catalog.ServiceAccountName(action.Name)
	res := &kubernautv1.AuthorizationResult{ServiceAccount: a.Namespace + "/" + sa, Allowed: true}
	perms := action.Permissions()
	allowed := make([]bool, len(perms))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(reviewsInFlight)
	for i, p := range perms {
		g.Go(func() error {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               "system:serviceaccount:" + a.Namespace + ":" + sa,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + a.Namespace, "system:authenticated"},
				ResourceAttributes: p.Attributes(t, a.Namespace),
			}}
			if err := a.Client.Create(gctx, sar); err != nil {
				return fmt.Errorf("asking whether %s may %s: %w", res.ServiceAccount, permission(p, t, a.Namespace), err)
			}
			allowed[i] = sar.Status.Allowed
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, p := range perms {
		if allowed[i] {
			continue
		}
		res.Allowed = false
		if len(res.Denied) < maxDenied {
			res.Denied = append(res.Denied, kubernautv1.Truncate(permission(p, t, a.Namespace), 253))
		}
	}
	return res, nil
}

// permission names a permission as "verb resource[.group][/subresource][ in namespace]": "patch
// deployments.apps/scale in shop", "get configmaps in shop", "delete pods" (cluster-wide).
func permission(p catalog.Permission, t kubernautv1.Target, actionsNamespace string) string {
	what := p.Verb + " " + p.Resource
	if p.Group != "" {
		what += "." + p.Group
	}
	if p.Subresource != "" {
		what += "/" + p.Subresource
	}
	if ns := p.Attributes(t, actionsNamespace).Namespace; ns != "" {
		what += " in " + ns
	}
	return what
}
