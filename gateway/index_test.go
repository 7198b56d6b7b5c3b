package gateway

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestIndexFollowsTheInformer: an object is found by each of its keys while it exists, by
// its new keys only after an update, and by none after a delete, however it is reported.
func TestIndexFollowsTheInformer(t *testing.T) {
	rr := func(name, fp, alert string, storm bool) *kubernautv1.RemediationRequest {
		l := map[string]string{kubernautv1.LabelFingerprint: fp, kubernautv1.LabelAlertName: alert, kubernautv1.LabelTargetNamespace: "shop"}
		if storm {
			l[LabelStorm] = "true"
		}
		return &kubernautv1.RemediationRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	names := func(list []*kubernautv1.RemediationRequest) []string {
		var out []string
		for _, r := range list {
			out = append(out, r.Name)
		}
		return out
	}
	x := newIndex()
	x.OnAdd(rr("a", "f1", "Crash", false), true)
	x.OnAdd(rr("b", "f1", "Crash", false), false)
	x.OnAdd(rr("s", "f9", "Crash", true), false)
	if got := names(x.list(IndexFingerprint, "f1")); len(got) != 2 {
		t.Fatalf("fingerprint f1: %v", got)
	}
	if got := names(x.list(IndexStormKey, stormKey("Crash", "shop", true))); len(got) != 1 || got[0] != "s" {
		t.Fatalf("storm key: %v", got)
	}
	x.OnUpdate(nil, rr("b", "f2", "Crash", false))
	if got := names(x.list(IndexFingerprint, "f1")); len(got) != 1 || got[0] != "a" {
		t.Fatalf("after the update, f1: %v", got)
	}
	if got := names(x.list(IndexFingerprint, "f2")); len(got) != 1 || got[0] != "b" {
		t.Fatalf("after the update, f2: %v", got)
	}
	x.OnDelete(rr("a", "f1", "Crash", false))
	x.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/b", Obj: rr("b", "f2", "Crash", false)})
	if _, ok := x.get("a"); ok {
		t.Fatal("a still indexed")
	}
	if len(x.list(IndexFingerprint, "f1"))+len(x.list(IndexFingerprint, "f2")) != 0 || len(x.byField[IndexFingerprint]) != 1 {
		t.Fatalf("deleted objects still indexed: %v", x.byField)
	}
}
