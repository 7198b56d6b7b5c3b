package gateway

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestFlushWritesWhatIsDue: a count waits FlushInterval, a new storm member goes at the next
// tick, and Flush (shutdown) writes everything.
func TestFlushWritesWhatIsDue(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rr := func(name string) *kubernautv1.RemediationRequest {
		return &kubernautv1.RemediationRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "k", Name: name},
			Spec: kubernautv1.RemediationRequestSpec{Deduplication: kubernautv1.Deduplication{Count: 1}}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rr("rr-a"), rr("rr-storm")).Build()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r := NewRecorder(RecorderConfig{Namespace: "k", FlushInterval: 10 * time.Second, MaxStormMembers: 10}, c)
	r.now = func() time.Time { return now }
	count := func(name string) (int64, int) {
		t.Helper()
		var got kubernautv1.RemediationRequest
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "k", Name: name}, &got); err != nil {
			t.Fatal(err)
		}
		return got.Spec.Deduplication.Count, len(got.Spec.MemberTargets)
	}
	for range 3 {
		r.count("rr-a", nil)
	}
	r.join("storm", "rr-storm", Signal{Signal: kubernautv1.Signal{Fingerprint: "0123456789abcdef"}, Target: kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}})
	now = now.Add(time.Second)
	if err := r.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n, _ := count("rr-a"); n != 1 {
		t.Errorf("a count written after 1 s: %d", n)
	}
	if n, members := count("rr-storm"); n != 2 || members != 1 {
		t.Errorf("storm: count %d, %d members; want its new member written at once", n, members)
	}
	now = now.Add(9 * time.Second)
	r.count("rr-a", nil)
	if err := r.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n, _ := count("rr-a"); n != 5 || r.Pending() != 0 {
		t.Errorf("after 10 s: count %d (want 5), %d pending", n, r.Pending())
	}
	r.count("rr-a", nil)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := count("rr-a"); n != 6 {
		t.Errorf("Flush writes everything: count %d, want 6", n)
	}
}

// A re-fire of an alert (a new startsAt) right after its remediation was created is counted on
// it, though no informer event has told the recorder of it yet.
func TestReFireBeforeTheInformer(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	r := NewRecorder(RecorderConfig{Namespace: "k", FlushInterval: 10 * time.Second, DedupWindow: time.Minute}, c)
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	signal := func(at time.Time) Signal {
		return Signal{Signal: kubernautv1.Signal{Fingerprint: "0123456789abcdef", Name: "KubePodCrashLooping", StartsAt: metav1.NewTime(at)},
			Firing: true, Target: kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}}
	}
	first := r.Record(context.Background(), []Signal{signal(start)})
	again := r.Record(context.Background(), []Signal{signal(start.Add(10 * time.Minute))})
	if first[0].Outcome != OutcomeCreated || again[0].Outcome != OutcomeDuplicate || again[0].Name != first[0].Name {
		t.Fatalf("first %+v, re-fire %+v: want the re-fire counted on the first", first[0], again[0])
	}
	var list kubernautv1.RemediationRequestList
	if err := c.List(context.Background(), &list); err != nil || len(list.Items) != 1 {
		t.Errorf("%d RemediationRequests (%v), want 1", len(list.Items), err)
	}
}
