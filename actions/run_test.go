package actions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// A change the API server refuses for a moment (5xx, 429, a conflict) is made again from the
// same pre-state until it lands, once; one it refuses for good is not tried again.
func TestRunRetriesTransientFailures(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	for name, tc := range map[string]struct {
		answers  []error // the API server's answers to the first writes (nil: let it through)
		attempts int
		terminal bool
	}{
		"an API server restarting, then throttling, then a conflict": {
			answers:  []error{apierrors.NewInternalError(errors.New("etcd leader changed")), apierrors.NewTooManyRequests("slow down", 1), apierrors.NewConflict(gr, "settings", errors.New("changed"))},
			attempts: 4,
		},
		"a timeout":          {answers: []error{apierrors.NewServerTimeout(gr, "patch", 1)}, attempts: 2},
		"forbidden for good": {answers: []error{apierrors.NewForbidden(gr, "settings", errors.New("no")), nil}, attempts: 1, terminal: true},
		"still failing after every attempt": {answers: []error{apierrors.NewServiceUnavailable("down"), apierrors.NewServiceUnavailable("down"), apierrors.NewServiceUnavailable("down")},
			attempts: 3},
	} {
		t.Run(name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "settings"}, Data: map[string]string{"POOL": "10"}}
			writes, landed := 0, 0
			c := fake.NewClientBuilder().WithObjects(cm).WithInterceptorFuncs(interceptor.Funcs{
				Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
					writes++
					if writes <= len(tc.answers) && tc.answers[writes-1] != nil {
						return tc.answers[writes-1]
					}
					landed++
					return c.Patch(ctx, obj, patch, opts...)
				}}).Build()
			env := Env{Client: c, Log: logr.Discard(), Retry: wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}}
			if tc.attempts == 4 {
				env.Retry.Steps = 4
			}
			step := kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: "shop", Name: "settings"},
				Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}
			pre := &kubernautv1.PreState{ConfigData: map[string]string{"POOL": "10"}}
			_, err := Run(context.Background(), env, kubernautv1.ExecutionModeExecute, step, pre)
			if writes != tc.attempts {
				t.Fatalf("%d attempts, want %d (%v)", writes, tc.attempts, err)
			}
			got := &corev1.ConfigMap{}
			if gerr := c.Get(context.Background(), client.ObjectKeyFromObject(cm), got); gerr != nil {
				t.Fatal(gerr)
			}
			switch {
			case tc.terminal:
				if !terminal.Is(err) || landed != 0 {
					t.Fatalf("error %v (terminal %v), %d writes landed: a terminal failure is not tried again", err, terminal.Is(err), landed)
				}
			case writes == len(tc.answers):
				if err == nil || terminal.Is(err) || landed != 0 || got.Data["POOL"] != "10" {
					t.Fatalf("error %v, %d landed, POOL %s: the last transient failure is returned as transient", err, landed, got.Data["POOL"])
				}
			default:
				if err != nil || landed != 1 || got.Data["POOL"] != "20" {
					t.Fatalf("error %v, %d writes landed, POOL %s: want one change", err, landed, got.Data["POOL"])
				}
			}
		})
	}
}
