package catalog

import (
	"reflect"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestCatalogMatchesTheAPI keeps the catalog and the API's enum of actions the same list.
func TestCatalogMatchesTheAPI(t *testing.T) {
	if len(Actions) != len(kubernautv1.Actions) {
		t.Fatalf("%d catalog entries, %d actions in the API", len(Actions), len(kubernautv1.Actions))
	}
	for i, name := range kubernautv1.Actions {
		a, err := Lookup(name)
		if err != nil || Actions[i].Name != name || len(a.Targets) == 0 || a.Risk == "" || a.Description == "" {
			t.Errorf("action %s: %+v %v", name, a, err)
		}
		if a.Inverse != "" {
			if _, err := Lookup(a.Inverse); err != nil {
				t.Errorf("%s: inverse %v", name, err)
			}
		}
	}
	if _, err := Lookup("exec_shell"); err == nil {
		t.Error("an unknown action was found")
	}
}

func TestBindingsAreWhereTheTargetIs(t *testing.T) {
	web := kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}
	node := kubernautv1.Target{Kind: "Node", Name: "worker-1"}
	for _, tc := range []struct {
		action kubernautv1.ActionName
		target kubernautv1.Target
		want   []Binding
	}{
		{kubernautv1.ActionRestartDeployment, web, []Binding{{Namespace: "shop", Role: "kubernaut-action-restart-deployment"}}},
		{kubernautv1.ActionCordonNode, node, []Binding{{Role: "kubernaut-action-cordon-node"}}},
		{kubernautv1.ActionDrainNode, node, []Binding{{Role: "kubernaut-action-drain-node"}}},
		{kubernautv1.ActionCustomScript, web, []Binding{{Namespace: "shop", Role: "kubernaut-action-custom-script"},
			{Namespace: "kubernaut-system", Role: "kubernaut-action-custom-script-local"}}},
	} {
		a, err := Lookup(tc.action)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Bindings(tc.target, "kubernaut-system"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s on %s: bindings %+v, want %+v", tc.action, tc.target, got, tc.want)
		}
	}
	// Every role a binding names exists, and no role the controller may bind is left unused.
	names := map[string]bool{}
	for _, n := range RoleNames() {
		names[n] = true
	}
	for _, a := range Actions {
		for _, b := range a.Bindings(web, "kubernaut-system") {
			if !names[b.Role] {
				t.Errorf("%s binds %s, which RBAC does not define", a.Name, b.Role)
			}
		}
	}
}
