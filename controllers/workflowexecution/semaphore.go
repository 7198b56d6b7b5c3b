package workflowexecution

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// semaphores is the builtin engine's counterpart of Argo's synchronization: a plan starts only
// while every semaphore it names (the ConfigMap's cluster and namespace.<ns> keys) has a free
// slot, and holds its slots until it ends. The holders are the builtin plans that have started
// and not finished (status.startedAt is set when a plan gets its slots), as the cache shows
// them, and the ones this process let start since (the cache may not show them yet). Only the
// leader reconciles, so counting in one process is exact.
type semaphores struct {
	mu      sync.Mutex
	started map[types.NamespacedName]string // plan → its target namespace, until it ends
}

// semaphoreNamespace is the namespace.<ns> key's ns of a plan's target.
func semaphoreNamespace(we *kubernautv1.WorkflowExecution) string {
	if we.Spec.Target.Namespace == "" {
		return "cluster-scoped"
	}
	return we.Spec.Target.Namespace
}

// acquire reports whether the plan may start now, and if not, which limit holds it back. A
// plan that holds its slots already may always go on.
func (s *semaphores) acquire(ctx context.Context, c client.Client, reader client.Reader, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (bool, string, error) {
	if wf.Spec.Synchronization == nil || len(wf.Spec.Synchronization.Semaphores) == 0 {
		return true, "", nil
	}
	key := client.ObjectKeyFromObject(we)
	s.mu.Lock()
	_, holds := s.started[key]
	s.mu.Unlock()
	if holds {
		return true, "", nil
	}
	// The limits are read before the count is locked: the API server's answer must not hold up
	// every other plan's count.
	limits := make([]int, len(wf.Spec.Synchronization.Semaphores))
	configMaps := map[string]*corev1.ConfigMap{}
	for i, ref := range wf.Spec.Synchronization.Semaphores {
		if ref.ConfigMapKeyRef == nil {
			continue
		}
		cm, ok := configMaps[ref.ConfigMapKeyRef.Name]
		if !ok {
			var err error
			if cm, err = semaphoreConfigMap(ctx, reader, wf.Namespace, ref.ConfigMapKeyRef.Name); err != nil {
				return false, "", err
			}
			configMaps[ref.ConfigMapKeyRef.Name] = cm
		}
		limit, err := semaphoreLimit(cm, ref.ConfigMapKeyRef.Key)
		if err != nil {
			return false, "", err
		}
		limits[i] = limit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.started[key]; ok {
		return true, "", nil
	}
	var plans kubernautv1.WorkflowExecutionList
	if err := c.List(ctx, &plans, client.InNamespace(we.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return false, "", fmt.Errorf("listing the running plans: %w", err)
	}
	holders := map[types.NamespacedName]string{}
	open := map[types.NamespacedName]bool{}
	for i := range plans.Items {
		p := &plans.Items[i]
		if p.Status.Phase.IsFinished() {
			continue
		}
		open[client.ObjectKeyFromObject(p)] = true
		if p.Status.Engine == kubernautv1.EngineBuiltin && p.Status.StartedAt != nil && p.Name != we.Name {
			holders[client.ObjectKeyFromObject(p)] = semaphoreNamespace(p)
		}
	}
	for k, ns := range s.started {
		if !open[k] { // deleted or finished without this process seeing its end
			delete(s.started, k)
			continue
		}
		holders[k] = ns
	}
	ns := semaphoreNamespace(we)
	for i, ref := range wf.Spec.Synchronization.Semaphores {
		if ref.ConfigMapKeyRef == nil {
			continue
		}
		limit := limits[i]
		held := 0
		for _, hns := range holders {
			if ref.ConfigMapKeyRef.Key == "cluster" || "namespace."+hns == ref.ConfigMapKeyRef.Key {
				held++
			}
		}
		if held >= limit {
			what := "the cluster"
			if ref.ConfigMapKeyRef.Key != "cluster" {
				what = "namespace " + ns
			}
			return false, fmt.Sprintf("waiting for a slot: %d of %d plans run in %s (%s %s)", held, limit, what, ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key), nil
		}
	}
	if s.started == nil {
		s.started = map[types.NamespacedName]string{}
	}
	s.started[key] = ns
	return true, "", nil
}

// release frees a finished plan's slots.
func (s *semaphores) release(we *kubernautv1.WorkflowExecution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.started, client.ObjectKeyFromObject(we))
}

// semaphoreConfigMap reads a semaphore ConfigMap; a missing one fails the plan, naming it (as
// Argo's controller fails the Workflow).
func semaphoreConfigMap(ctx context.Context, reader client.Reader, namespace, name string) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, failPlan("semaphore ConfigMap %s/%s does not exist (--semaphore-configmap; an empty one turns the limits off; the base manifests create it with keys cluster and %s)", namespace, name, DefaultNamespaceSemaphoreKey)
		}
		return nil, fmt.Errorf("reading semaphore ConfigMap %s/%s: %w", namespace, name, err)
	}
	return cm, nil
}

// semaphoreLimit is one semaphore's limit: the key's value, for a namespace without a key of
// its own namespace.default's (2 when unset). A missing cluster key or a value that is not a
// count fails the plan, naming it.
func semaphoreLimit(cm *corev1.ConfigMap, key string) (int, error) {
	namespace, name := cm.Namespace, cm.Name
	raw, ok := cm.Data[key]
	switch {
	case ok:
	case !strings.HasPrefix(key, "namespace."):
		return 0, failPlan("semaphore ConfigMap %s/%s has no key %q: set it to the number of remediations that may run at once", namespace, name, key)
	default:
		raw, key = defaultNamespaceLimit, DefaultNamespaceSemaphoreKey
		if v, ok := cm.Data[DefaultNamespaceSemaphoreKey]; ok {
			raw = v
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 {
		return 0, failPlan("semaphore ConfigMap %s/%s key %s: %q is not a count of at least 1", namespace, name, key, raw)
	}
	return n, nil
}
