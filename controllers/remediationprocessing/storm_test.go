package remediationprocessing

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func owned(kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "u-" + types.UID(name), Controller: ptr.To(true)}}
}

// TestStormSubject finds the workload a storm's members share, and keeps the namespace when
// they do not share one.
func TestStormSubject(t *testing.T) {
	objs := []client.Object{
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "feed-7d9", OwnerReferences: owned("Deployment", "feed")}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-5c4", OwnerReferences: owned("Deployment", "cart")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "feed-7d9-a", OwnerReferences: owned("ReplicaSet", "feed-7d9")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "feed-7d9-b", OwnerReferences: owned("ReplicaSet", "feed-7d9")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-5c4-a", OwnerReferences: owned("ReplicaSet", "cart-5c4")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", OwnerReferences: owned("StatefulSet", "db")}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "bare"}},
	}
	e := &Enricher{Reader: fake.NewClientBuilder().WithObjects(objs...).Build(), LookupTimeout: time.Second}
	ns := kubernautv1.Target{Kind: kubernautv1.TargetKindNamespace, Name: "shop"}
	pod := func(name string) kubernautv1.MemberTarget {
		return kubernautv1.MemberTarget{Target: kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: "shop", Name: name}}
	}
	feed := kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "feed"}
	for _, tc := range []struct {
		name    string
		target  kubernautv1.Target
		members []kubernautv1.MemberTarget
		want    kubernautv1.Target
	}{
		{"pods of one Deployment", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), pod("feed-7d9-b")}, feed},
		{"a pod gone since the alert is left out", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), pod("feed-7d9-gone")}, feed},
		{"the Deployment itself among its pods", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), {Target: feed}}, feed},
		{"a StatefulSet's pod", ns, []kubernautv1.MemberTarget{pod("db-0")}, kubernautv1.Target{Kind: kubernautv1.TargetKindStatefulSet, Namespace: "shop", Name: "db"}},
		{"pods of two Deployments", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), pod("cart-5c4-a")}, ns},
		{"a pod without a controller", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), pod("bare")}, ns},
		{"a member of another kind", ns, []kubernautv1.MemberTarget{pod("feed-7d9-a"), {Target: kubernautv1.Target{Kind: kubernautv1.TargetKindService, Namespace: "shop", Name: "feed"}}}, ns},
		{"every pod gone", ns, []kubernautv1.MemberTarget{pod("gone")}, ns},
		{"not a storm", feed, nil, feed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Subject(context.Background(), tc.target, tc.members)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("subject %v, want %v", got, tc.want)
			}
		})
	}
}
