package catalog

import (
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
