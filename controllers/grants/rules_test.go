package grants

import (
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// Allows matches rules as RBAC does: verbs, groups, resources with subresources and their
// wildcards; a rule limited to names allows no request that names none.
func TestAllows(t *testing.T) {
	rule := func(verbs, groups, resources, names []string) authorizationv1.ResourceRule {
		return authorizationv1.ResourceRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
	}
	s := func(v ...string) []string { return v }
	patchDeploy := &authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: "shop"}
	scale := &authorizationv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: "shop"}
	named := &authorizationv1.ResourceAttributes{Verb: "get", Group: "", Resource: "configmaps", Name: "settings", Namespace: "shop"}
	for name, tc := range map[string]struct {
		rules []authorizationv1.ResourceRule
		attrs *authorizationv1.ResourceAttributes
		want  bool
	}{
		"exact":                             {[]authorizationv1.ResourceRule{rule(s("get", "patch"), s("apps"), s("deployments"), nil)}, patchDeploy, true},
		"another verb":                      {[]authorizationv1.ResourceRule{rule(s("get", "list"), s("apps"), s("deployments"), nil)}, patchDeploy, false},
		"another group":                     {[]authorizationv1.ResourceRule{rule(s("patch"), s("extensions"), s("deployments"), nil)}, patchDeploy, false},
		"another resource":                  {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("statefulsets"), nil)}, patchDeploy, false},
		"every verb, group and resource":    {[]authorizationv1.ResourceRule{rule(s("*"), s("*"), s("*"), nil)}, scale, true},
		"the resource, not its subresource": {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("deployments"), nil)}, scale, false},
		"the subresource":                   {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("deployments/scale"), nil)}, scale, true},
		"the subresource of anything":       {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("*/scale"), nil)}, scale, true},
		"a subresource is not the resource": {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("deployments/scale"), nil)}, patchDeploy, false},
		"names limit, none asked":           {[]authorizationv1.ResourceRule{rule(s("patch"), s("apps"), s("deployments"), s("web"))}, patchDeploy, false},
		"names limit, that name":            {[]authorizationv1.ResourceRule{rule(s("get"), s(""), s("configmaps"), s("settings"))}, named, true},
		"names limit, another name":         {[]authorizationv1.ResourceRule{rule(s("get"), s(""), s("configmaps"), s("other"))}, named, false},
		"the second rule":                   {[]authorizationv1.ResourceRule{rule(s("get"), s(""), s("pods"), nil), rule(s("patch"), s("apps"), s("deployments"), nil)}, patchDeploy, true},
		"no rules":                          {nil, patchDeploy, false},
	} {
		if got := Allows(tc.rules, tc.attrs); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", name, got, tc.want)
		}
	}
}
