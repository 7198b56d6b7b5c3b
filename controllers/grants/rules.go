package grants

import (
	"context"
	"fmt"
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// Rules asks the API server what the action's ServiceAccount may do in namespace, as that
// ServiceAccount (a SelfSubjectRulesReview, which every authenticated user may create): one
// round trip that answers every permission the step needs there, where a SubjectAccessReview
// answers one. Incomplete is the API server's own flag: an authorizer that cannot list rules
// (a webhook) took part, and what the rules leave out may still be allowed.
func (g *Granter) Rules(ctx context.Context, name kubernautv1.ActionName, namespace string) (rules []authorizationv1.ResourceRule, incomplete bool, err error) {
	env, err := g.Env(actions.Env{}, name)
	if err != nil {
		return nil, false, err
	}
	review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace}}
	if err := env.Client.Create(ctx, review); err != nil {
		return nil, false, fmt.Errorf("asking what %s may do in %s: %w", catalog.ServiceAccountName(name), namespace, err)
	}
	return review.Status.ResourceRules, review.Status.Incomplete, nil
}

// Allows reports whether rules allow the request attrs describes, as RBAC matches them: the
// verb, the API group and the resource (with its subresource, "*" and "*/subresource"
// included); a rule limited to resource names allows no request that names none.
func Allows(rules []authorizationv1.ResourceRule, attrs *authorizationv1.ResourceAttributes) bool {
	resource := attrs.Resource
	if attrs.Subresource != "" {
		resource += "/" + attrs.Subresource
	}
	for _, r := range rules {
		if matches(r.Verbs, attrs.Verb) && matches(r.APIGroups, attrs.Group) && resourceMatches(r.Resources, resource, attrs.Subresource) &&
			(len(r.ResourceNames) == 0 || attrs.Name != "" && slices.Contains(r.ResourceNames, attrs.Name)) {
			return true
		}
	}
	return false
}

func matches(values []string, want string) bool {
	return slices.Contains(values, rbacv1.VerbAll) || slices.Contains(values, want)
}

func resourceMatches(resources []string, resource, subresource string) bool {
	for _, r := range resources {
		if r == rbacv1.ResourceAll || r == resource || subresource != "" && r == "*/"+subresource {
			return true
		}
	}
	return false
}
