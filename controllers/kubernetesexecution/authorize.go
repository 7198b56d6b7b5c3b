package kubernetesexecution

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions-image/catalog"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Authorizer asks the API server, with one SubjectAccessReview per permission, whether the
// action's own ServiceAccount may do what the action needs on the step's target.
type Authorizer struct {
	// Client creates the SubjectAccessReviews.
	Client client.Client
	// Namespace holds the actions' ServiceAccounts (kubernaut-action-<action>).
	Namespace string
}

// Authorize returns the review of every permission the action needs.
func (a *Authorizer) Authorize(ctx context.Context, action catalog.Action, t kubernautv1.Target) (*kubernautv1.AuthorizationResult, error) {
	sa := catalog.ServiceAccountName(action.Name)
	res := &kubernautv1.AuthorizationResult{ServiceAccount: a.Namespace + "/" + sa, Allowed: true}
	for _, p := range action.Permissions() {
		attrs := &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource}
		if !p.AllNamespaces && !t.Kind.IsClusterScoped() {
			attrs.Namespace = t.Namespace
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + a.Namespace + ":" + sa,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + a.Namespace, "system:authenticated"},
			ResourceAttributes: attrs,
		}}
		if err := a.Client.Create(ctx, sar); err != nil {
			return nil, fmt.Errorf("asking whether %s may %s %s: %w", res.ServiceAccount, p.Verb, p.Resource, err)
		}
		if !sar.Status.Allowed {
			res.Allowed = false
			what := p.Verb + " " + p.Group + "/" + p.Resource
			if p.Subresource != "" {
				what += "/" + p.Subresource
			}
			if attrs.Namespace != "" {
				what += " in " + attrs.Namespace
			}
			if len(res.Denied) < 16 {
				res.Denied = append(res.Denied, kubernautv1.Truncate(what, 253))
			}
		}
	}
	return res, nil
}
