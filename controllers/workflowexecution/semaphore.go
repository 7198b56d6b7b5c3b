package workflowexecution

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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
	started map[types.NamespacedName]string // plan → its namespace semaphore key, until it ends

	// read keeps the semaphore ConfigMaps for limitsFresh: every waiting plan looks again every
	// semaphoreRetry, and they need not each ask the API server (a limit changed is seen within
	// limitsFresh).
	readMu sync.Mutex
	read   map[types.NamespacedName]readConfigMap
}

// readConfigMap is a semaphore ConfigMap as read, and when.
type readConfigMap struct {
	cm *corev1.ConfigMap
	at time.Time
}

// limitsFresh is how long a semaphore ConfigMap read serves the plans that wait.
const limitsFresh = 2 * time.Second

// configMap returns the semaphore ConfigMap, read again once the last read is limitsFresh old.
func (s *semaphores) configMap(ctx context.Context, reader client.Reader, namespace, name string) (*corev1.ConfigMap, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	now := time.Now()
	s.readMu.Lock()
	r, ok := s.read[key]
	s.readMu.Unlock()
	if ok && now.Sub(r.at) < limitsFresh {
		return r.cm, nil
	}
	cm, err := semaphoreConfigMap(ctx, reader, namespace, name)
	if err != nil {
		return nil, err
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.read == nil {
		s.read = map[types.NamespacedName]readConfigMap{}
	}
	s.read[key] = readConfigMap{cm: cm, at: now}
	return cm, nil
}

// The semaphore ConfigMap's keys: every running plan counts against clusterSemaphoreKey, a
// plan against namespace.<its target's namespace> (namespace.cluster-scoped for nodes), and a
// namespace without a key of its own takes DefaultNamespaceSemaphoreKey's limit, or
// defaultNamespaceLimit without it.
const (
	clusterSemaphoreKey          = "cluster"
	namespaceSemaphorePrefix     = "namespace."
	DefaultNamespaceSemaphoreKey = namespaceSemaphorePrefix + "default"
	defaultNamespaceLimit        = 2
)

// namespaceSemaphoreKey is the namespace semaphore a plan on t counts against.
func namespaceSemaphoreKey(t kubernautv1.Target) string {
	if t.Namespace == "" {
		return namespaceSemaphorePrefix + "cluster-scoped"
	}
	return namespaceSemaphorePrefix + t.Namespace
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
	for i, ref := range wf.Spec.Synchronization.Semaphores {
		if ref.ConfigMapKeyRef == nil {
			continue
		}
		cm, err := s.configMap(ctx, reader, wf.Namespace, ref.ConfigMapKeyRef.Name)
		if err != nil {
			return false, "", err
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
			holders[client.ObjectKeyFromObject(p)] = namespaceSemaphoreKey(p.Spec.Target)
		}
	}
	for k, nsKey := range s.started {
		if !open[k] { // deleted or finished without this process seeing its end
			delete(s.started, k)
			continue
		}
		holders[k] = nsKey
	}
	for i, ref := range wf.Spec.Synchronization.Semaphores {
		if ref.ConfigMapKeyRef == nil {
			continue
		}
		held := 0
		for _, nsKey := range holders {
			if ref.ConfigMapKeyRef.Key == clusterSemaphoreKey || nsKey == ref.ConfigMapKeyRef.Key {
				held++
			}
		}
		if held >= limits[i] {
			what := "the cluster"
			if ref.ConfigMapKeyRef.Key != clusterSemaphoreKey {
				what = "namespace " + strings.TrimPrefix(ref.ConfigMapKeyRef.Key, namespaceSemaphorePrefix)
			}
			return false, fmt.Sprintf("waiting for a slot: %d of %d plans run in %s (%s %s)", held, limits[i], what, ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key), nil
		}
	}
	if s.started == nil {
		s.started = map[types.NamespacedName]string{}
	}
	s.started[key] = namespaceSemaphoreKey(we.Spec.Target)
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
			return nil, failPlan("semaphore ConfigMap %s/%s does not exist: apply the base manifests' (keys cluster and %s), or run with --semaphore-configmap= for no limits", namespace, name, DefaultNamespaceSemaphoreKey)
		}
		return nil, fmt.Errorf("reading semaphore ConfigMap %s/%s: %w", namespace, name, err)
	}
	return cm, nil
}

// semaphoreLimit is one semaphore's limit: the key's value, for a namespace without a key of
// its own namespace.default's (defaultNamespaceLimit when unset). A missing cluster key or a
// value that is not a count fails the plan, naming it.
func semaphoreLimit(cm *corev1.ConfigMap, key string) (int, error) {
	namespace, name := cm.Namespace, cm.Name
	raw, ok := cm.Data[key]
	switch {
	case ok:
	case !strings.HasPrefix(key, namespaceSemaphorePrefix):
		return 0, failPlan("semaphore ConfigMap %s/%s has no key %q: set it to the number of remediations that may run at once", namespace, name, key)
	default:
		raw, ok = cm.Data[DefaultNamespaceSemaphoreKey]
		if !ok {
			return defaultNamespaceLimit, nil
		}
		key = DefaultNamespaceSemaphoreKey
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 {
		return 0, failPlan("semaphore ConfigMap %s/%s key %s: %q is not a count of at least 1", namespace, name, key, raw)
	}
	return n, nil
}

// BlastRadiusLimits are the limits of the semaphore ConfigMap cm on a plan whose target is t:
// the cluster's, and t's namespace's (its own key, namespace.default's, or 2). kubernaut
// backtest replays them.
func BlastRadiusLimits(cm *corev1.ConfigMap, t kubernautv1.Target) (cluster, namespace int, err error) {
	if cluster, err = semaphoreLimit(cm, clusterSemaphoreKey); err != nil {
		return 0, 0, err
	}
	namespace, err = semaphoreLimit(cm, namespaceSemaphoreKey(t))
	return cluster, namespace, err
}
