package kubernetesexecution

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/grants"
)

// maxDenied is how many refused permissions the status lists (the AuthorizationResult's bound).
const maxDenied = 16

// reviewsInFlight bounds the SubjectAccessReviews one step sends at once.
const reviewsInFlight = 8

// RulesReviewer answers what an action's ServiceAccount may do in a namespace, as that
// ServiceAccount (grants.Granter.Rules).
type RulesReviewer interface {
	Rules(ctx context.Context, name kubernautv1.ActionName, namespace string) (rules []authorizationv1.ResourceRule, incomplete bool, err error)
}

// Authorizer asks the API server whether the action's own ServiceAccount may do what the
// action needs on the step's target.
type Authorizer struct {
	// Client creates the SubjectAccessReviews.
	Client client.Client
	// Namespace holds the actions' ServiceAccounts (kubernaut-action-<action>).
	Namespace string
	// Rules, when set, answers the permissions in a namespace with one rules review there
	// instead of one SubjectAccessReview each (9 round trips for increase_memory_limit, 1
	// now). What it cannot answer for sure is still asked permission by permission: a
	// cluster-wide permission or one on a cluster-scoped resource (a namespace's rules
	// include its RoleBindings', which grant neither), the rules of an incomplete review
	// (an authorizer that cannot list rules took part), and every permission when the review
	// is refused (an operator removed system:basic-user's right to it).
	Rules RulesReviewer
}

// Authorize returns the review of every permission the action needs. The reviews run
// concurrently (each is a round trip that stores nothing); the refused permissions are listed
// in the action's order.
func (a *Authorizer) Authorize(ctx context.Context, action catalog.Action, t kubernautv1.Target) (*kubernautv1.AuthorizationResult, error) {
	sa := catalog.ServiceAccountName(action.Name)
	res := &kubernautv1.AuthorizationResult{ServiceAccount: a.Namespace + "/" + sa, Allowed: true}
	perms := action.Permissions()
	allowed := make([]bool, len(perms))
	answered, err := a.fromRules(ctx, action.Name, perms, t, allowed)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(reviewsInFlight)
	for i, p := range perms {
		if answered[i] {
			continue
		}
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

// fromRules answers what the rules reviews can answer for sure (see Authorizer.Rules), one
// review per namespace, and reports which permissions it answered.
func (a *Authorizer) fromRules(ctx context.Context, name kubernautv1.ActionName, perms []catalog.Permission, t kubernautv1.Target, allowed []bool) ([]bool, error) {
	answered := make([]bool, len(perms))
	if a.Rules == nil {
		return answered, nil
	}
	byNamespace := map[string][]int{}
	var order []string
	for i, p := range perms {
		ns := p.Attributes(t, a.Namespace).Namespace
		if ns == "" {
			continue
		}
		if _, ok := byNamespace[ns]; !ok {
			order = append(order, ns)
		}
		byNamespace[ns] = append(byNamespace[ns], i)
	}
	for _, ns := range order {
		rules, incomplete, err := a.Rules.Rules(ctx, name, ns)
		switch {
		case apierrors.IsForbidden(err):
			continue
		case err != nil:
			return nil, err
		}
		for _, i := range byNamespace[ns] {
			if ok := grants.Allows(rules, perms[i].Attributes(t, a.Namespace)); ok || !incomplete {
				allowed[i], answered[i] = ok, true
			}
		}
	}
	return answered, nil
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
