package freshness

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func obj(name, rv string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv}}
}

func TestTracker(t *testing.T) {
	var tr Tracker
	if tr.Stale(obj("a", "5")) {
		t.Error("nothing written yet: not stale")
	}
	tr.Wrote(obj("a", "10"))
	for rv, want := range map[string]bool{"9": true, "10": false, "11": false, "not-a-number": false} {
		if got := tr.Stale(obj("a", rv)); got != want {
			t.Errorf("cached rv %s after a write at 10: stale %v, want %v", rv, got, want)
		}
	}
	if tr.Stale(obj("b", "1")) {
		t.Error("another object is not stale")
	}
	tr.Wrote(obj("a", "opaque")) // not comparable: the last comparable write stays
	if !tr.Stale(obj("a", "9")) {
		t.Error("an unparseable write must not erase the last one")
	}
	tr.Forget(client.ObjectKeyFromObject(obj("a", "")))
	if tr.Stale(obj("a", "9")) {
		t.Error("a forgotten object is not stale")
	}
}

func TestNilTrackerTracksNothing(t *testing.T) {
	var tr *Tracker
	tr.Wrote(obj("a", "10"))
	tr.Forget(client.ObjectKeyFromObject(obj("a", "")))
	if tr.Stale(obj("a", "1")) {
		t.Error("a nil tracker must never report stale")
	}
}
