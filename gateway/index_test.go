package gateway

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestIndexFollowsTheInformer: an object is found by each of its keys while it exists, by
// its new keys only after an update, and by none after a delete, however it is reported.
func TestIndexFollowsTheInformer(t *testing.T) {
	rr := func(name, fp, alert string, storm bool) *tracked {
		l := map[string]string{kubernautv1.LabelFingerprint: fp, kubernautv1.LabelAlertName: alert, kubernautv1.LabelTargetNamespace: "shop"}
		if storm {
			l[LabelStorm] = "true"
		}
		return track(&kubernautv1.RemediationRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, "k")
	}
	names := func(list []*tracked) []string {
		var out []string
		for _, r := range list {
			out = append(out, r.name)
		}
		return out
	}
	x := newIndex()
	x.OnAdd(rr("a", "f1", "Crash", false), true)
	x.OnAdd(rr("b", "f1", "Crash", false), false)
	x.OnAdd(rr("s", "f9", "Crash", true), false)
	if got := names(x.withFingerprint("f1")); len(got) != 2 {
		t.Fatalf("fingerprint f1: %v", got)
	}
	if got := names(x.withStormKey(stormKey("Crash", "shop", true))); len(got) != 1 || got[0] != "s" {
		t.Fatalf("storm key: %v", got)
	}
	x.OnUpdate(nil, rr("b", "f2", "Crash", false))
	if got := names(x.withFingerprint("f1")); len(got) != 1 || got[0] != "a" {
		t.Fatalf("after the update, f1: %v", got)
	}
	if got := names(x.withFingerprint("f2")); len(got) != 1 || got[0] != "b" {
		t.Fatalf("after the update, f2: %v", got)
	}
	x.OnDelete(rr("a", "f1", "Crash", false))
	x.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "ns/b", Obj: rr("b", "f2", "Crash", false)})
	if _, ok := x.get("a"); ok {
		t.Fatal("a still indexed")
	}
	if len(x.withFingerprint("f1"))+len(x.withFingerprint("f2")) != 0 || len(x.byFingerprint) != 1 || len(x.byStormKey) != 1 {
		t.Fatalf("deleted objects still indexed: %v %v", x.byFingerprint, x.byStormKey)
	}
}

// TestTrackedKeepsWhatTheRecorderReads: the record of a RemediationRequest carries its keys,
// times, count, phase and storm members; the informer's store keys it by namespace and name;
// the transform passes a record through unchanged.
func TestTrackedKeepsWhatTheRecorderReads(t *testing.T) {
	created := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	namespace := "kubernaut-system"
	done := metav1.NewTime(created.Add(time.Minute))
	rr := &kubernautv1.RemediationRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: strings.Clone(namespace), Name: "rr-storm-1", ResourceVersion: "42",
			CreationTimestamp: metav1.NewTime(created), Labels: map[string]string{
				kubernautv1.LabelFingerprint: "0123456789abcdef", kubernautv1.LabelAlertName: "KubePodCrashLooping",
				kubernautv1.LabelTargetNamespace: "shop", LabelStorm: "true", "other": "x"}},
		Spec: kubernautv1.RemediationRequestSpec{
			Deduplication: kubernautv1.Deduplication{Count: 7, LastSeen: metav1.NewTime(created.Add(30 * time.Second))},
			MemberTargets: []kubernautv1.MemberTarget{{Fingerprint: "aaaaaaaaaaaaaaaa"}, {Fingerprint: "bbbbbbbbbbbbbbbb"}},
		},
		Status: kubernautv1.RemediationRequestStatus{Phase: kubernautv1.RemediationPhaseCompleted, CompletedAt: &done},
	}
	transform := trackTransform(namespace)
	obj, err := transform(rr)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*tracked)
	want := &tracked{name: "rr-storm-1", namespace: namespace, resourceVersion: "42", fingerprint: "0123456789abcdef",
		stormKey: stormKey("KubePodCrashLooping", "shop", true), created: created.Unix(), completed: done.Unix(),
		lastSeen: created.Add(30 * time.Second).Unix(), count: 7, finished: true,
		members: []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("record\n got %+v\nwant %+v", got, want)
	}
	if unsafe.StringData(got.namespace) != unsafe.StringData(namespace) {
		t.Error("the record holds its own copy of the namespace")
	}
	if again, _ := transform(got); again != got {
		t.Error("the transform changed a record")
	}
	if got.running() || !got.createdAfter(created.Add(-time.Second)) || got.createdAfter(created) {
		t.Errorf("running %v, created after: %v %v", got.running(), got.createdAfter(created.Add(-time.Second)), got.createdAfter(created))
	}
	store := toolscache.NewStore(toolscache.DeletionHandlingMetaNamespaceKeyFunc)
	if err := store.Add(got); err != nil {
		t.Fatalf("the informer's store refuses a record: %v", err)
	}
	if _, ok, _ := store.GetByKey("kubernaut-system/rr-storm-1"); !ok {
		t.Errorf("the store keys the record as %v", store.ListKeys())
	}
}
