package kubernetesexecution

import (
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

func TestPermissionNames(t *testing.T) {
	web := kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}
	node := kubernautv1.Target{Kind: "Node", Name: "worker-1"}
	for _, tc := range []struct {
		p    catalog.Permission
		t    kubernautv1.Target
		want string
	}{
		{catalog.Permission{Verb: "patch", Resource: "configmaps"}, web, "patch configmaps in shop"},
		{catalog.Permission{Verb: "patch", Group: "apps", Resource: "deployments", Subresource: "scale"}, web, "patch deployments.apps/scale in shop"},
		{catalog.Permission{Verb: "create", Resource: "pods", Subresource: "eviction", AllNamespaces: true}, node, "create pods/eviction"},
		{catalog.Permission{Verb: "list", Resource: "pods", AllNamespaces: true}, web, "list pods"},
		{catalog.Permission{Verb: "patch", Resource: "nodes"}, node, "patch nodes"},
		{catalog.Permission{Verb: "create", Group: "batch", Resource: "jobs", ActionsNamespace: true}, web, "create jobs.batch in kubernaut-system"},
	} {
		if got := permission(tc.p, tc.t, "kubernaut-system"); got != tc.want {
			t.Errorf("permission(%+v, %s) = %q, want %q", tc.p, tc.t, got, tc.want)
		}
		if ns := tc.p.Attributes(tc.t, "kubernaut-system").Namespace; (ns != "") != (tc.t.Namespace != "" && !tc.p.AllNamespaces) {
			t.Errorf("attributes(%+v, %s) asks in namespace %q", tc.p, tc.t, ns)
		}
	}
}
