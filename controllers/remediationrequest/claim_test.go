package remediationrequest

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// A remediation that loses the race for a target's claim (the other created the Lease between
// its read and its create) reads the claim again and stands back, instead of failing.
func TestClaimRaceLostStandsBack(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, kubernautv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	target := kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "web"}
	winner := gen.RemediationRequest("kubernaut-system", "rr-winner", func(rr *kubernautv1.RemediationRequest) {
		rr.Status.Phase = kubernautv1.RemediationPhaseAnalyzing
	})
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: claimName(target)},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("rr-winner")}}
	hidden := true // the first read does not see the winner's Lease yet
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(winner, lease).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*coordinationv1.Lease); ok && hidden {
				hidden = false
				return apierrors.NewNotFound(coordinationv1.Resource("leases"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	r := &Reconciler{Client: c, APIReader: c, Config: DefaultConfig()}
	loser := gen.RemediationRequest("kubernaut-system", "rr-loser")
	v, err := r.claimTarget(context.Background(), loser, target, time.Now())
	if err != nil {
		t.Fatalf("claimTarget: %v, want the loser to stand back", err)
	}
	if v.reason != kubernautv1.ReasonAlreadyRemediating || v.blockedBy != "rr-winner" {
		t.Errorf("verdict %+v, want AlreadyRemediating, blocked by rr-winner", v)
	}
}
