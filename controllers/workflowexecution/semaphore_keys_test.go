package workflowexecution

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// TestSemaphoreKeysOfPlansStartingAtOnce: 60 plans of 30 namespaces starting at once add the 30
// missing keys, with namespace.default's limit, in a few updates rather than one (and its
// conflicts) per plan; the key a person set keeps its value; the cluster key is left alone.
func TestSemaphoreKeysOfPlansStartingAtOnce(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: "kubernaut-semaphores"},
		Data: map[string]string{"cluster": "50", DefaultNamespaceSemaphoreKey: "3", "namespace.shop-7": "1"}}
	var updates, gets atomic.Int32
	a := &Argo{}
	// The first write waits until every other missing key is asked for: the plans arrive while
	// it is in flight, however the goroutines are scheduled.
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cm).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets.Add(1)
			return c.Get(ctx, key, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if updates.Add(1) == 1 {
				asked := func() int {
					a.keys.mu.Lock()
					defer a.keys.mu.Unlock()
					keys := map[string]bool{}
					for k := range obj.(*corev1.ConfigMap).Data {
						keys[k] = true
					}
					if b := a.keys.open[client.ObjectKeyFromObject(cm)]; b != nil {
						maps.Copy(keys, b.keys)
					}
					return len(keys)
				}
				for deadline := time.Now().Add(10 * time.Second); asked() < 32 && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
			}
			return c.Update(ctx, obj, opts...)
		},
	}).Build()
	a.Client, a.Reader = c, c
	workflow := func(ns string) *wfv1.Workflow {
		ref := func(key string) *wfv1.SemaphoreRef {
			return &wfv1.SemaphoreRef{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}, Key: key}}
		}
		return &wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: "rr-" + ns},
			Spec: wfv1.WorkflowSpec{Synchronization: &wfv1.Synchronization{Semaphores: []*wfv1.SemaphoreRef{ref("cluster"), ref("namespace." + ns)}}}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 60 {
		wg.Go(func() {
			if err := a.ensureSemaphores(context.Background(), workflow(fmt.Sprintf("shop-%d", i%30))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One read per plan (its cluster and namespace keys are in the one ConfigMap), and one
	// afresh per batch (a late plan's key may come in a batch of keys already written, which
	// reads and writes nothing); two per plan before.
	if n := gets.Load(); n < 60+updates.Load() || n >= 120 {
		t.Errorf("%d reads of the ConfigMap for 60 plans and %d updates", n, updates.Load())
	}
	got := &corev1.ConfigMap{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		key, want := fmt.Sprintf("namespace.shop-%d", i), "3"
		if i == 7 {
			want = "1"
		}
		if got.Data[key] != want {
			t.Errorf("%s = %q, want %q", key, got.Data[key], want)
		}
	}
	if len(got.Data) != 32 || got.Data["cluster"] != "50" {
		t.Errorf("%d keys, cluster %q: %v", len(got.Data), got.Data["cluster"], got.Data)
	}
	if n := updates.Load(); n != 2 {
		t.Errorf("%d updates for 29 keys of 60 plans at once, want 2: the first, and all asked for meanwhile", n)
	}
}
