package workflowexecution

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// semaphoreKeys adds the semaphore keys Workflows need to their ConfigMap in batches: the keys
// asked for while a write is in flight go together in the next one. One update per new key,
// each conditioned on the ConfigMap's resourceVersion, made plans of many namespaces starting
// at once collide on that one object: 3.9 updates per remediation at 100 at once, each in a
// namespace of its own (`make load ENGINE=argo LOAD_N=100`), for one key each.
type semaphoreKeys struct {
	// writing is held by the one write in flight.
	writing sync.Mutex
	mu      sync.Mutex
	// open is, per ConfigMap, the batch the next write takes.
	open map[types.NamespacedName]*keyBatch
}

// keyBatch is the keys of one ConfigMap one write adds.
type keyBatch struct {
	keys map[string]bool
	done chan struct{}
	err  error
}

// add makes sure key is in ConfigMap cm: it joins the open batch of cm, and whoever writes
// first writes the whole batch with write (the keys sorted); it returns that write's error.
func (s *semaphoreKeys) add(ctx context.Context, cm types.NamespacedName, key string, write func(ctx context.Context, keys []string) error) error {
	s.mu.Lock()
	if s.open == nil {
		s.open = map[types.NamespacedName]*keyBatch{}
	}
	b := s.open[cm]
	if b == nil {
		b = &keyBatch{keys: map[string]bool{}, done: make(chan struct{})}
		s.open[cm] = b
	}
	b.keys[key] = true
	s.mu.Unlock()

	s.writing.Lock()
	defer s.writing.Unlock()
	select {
	case <-b.done: // written by an earlier holder
		return b.err
	default:
	}
	s.mu.Lock()
	if s.open[cm] == b {
		delete(s.open, cm) // later keys open a new batch
	}
	keys := slices.Sorted(maps.Keys(b.keys))
	s.mu.Unlock()
	b.err = write(ctx, keys)
	close(b.done)
	return b.err
}

// ensureSemaphores makes sure every semaphore key the Workflow names exists before Argo sees
// it: Argo fails a Workflow whose semaphore key is missing ("failed to initialize semaphore"),
// so a namespace without its own key gets one, with the limit namespace.default gives it. Keys
// people set are never changed; what semaphoreLimit refuses (no ConfigMap, no cluster key, a
// limit that is not a count) fails the plan, naming it, before Argo could fail it obscurely.
// The keys plans starting at once need are added together (semaphoreKeys).
func (a *Argo) ensureSemaphores(ctx context.Context, wf *wfv1.Workflow) error {
	if wf.Spec.Synchronization == nil {
		return nil
	}
	read := map[string]*corev1.ConfigMap{} // the cluster's and the namespace's keys share one
	for _, ref := range wf.Spec.Synchronization.Semaphores {
		if ref.ConfigMapKeyRef == nil {
			continue
		}
		name, key := ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key
		cm := read[name]
		if cm == nil {
			var err error
			if cm, err = semaphoreConfigMap(ctx, a.Reader, wf.Namespace, name); err != nil {
				return err
			}
			read[name] = cm
		}
		if _, err := semaphoreLimit(cm, key); err != nil {
			return err
		}
		if _, ok := cm.Data[key]; ok {
			continue
		}
		err := a.keys.add(ctx, types.NamespacedName{Namespace: wf.Namespace, Name: name}, key, func(ctx context.Context, keys []string) error {
			return a.addSemaphoreKeys(ctx, wf.Namespace, name, keys)
		})
		if err != nil {
			if terminal.Is(err) {
				return err
			}
			return fmt.Errorf("adding semaphore key %s to ConfigMap %s/%s: %w", key, wf.Namespace, name, err)
		}
	}
	return nil
}

// addSemaphoreKeys adds the keys ConfigMap namespace/name lacks, each with the limit
// namespace.default gives it, in one update (read again on a conflict).
func (a *Argo) addSemaphoreKeys(ctx context.Context, namespace, name string, keys []string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := semaphoreConfigMap(ctx, a.Reader, namespace, name)
		if err != nil {
			return err
		}
		added := false
		for _, key := range keys {
			if _, ok := cm.Data[key]; ok {
				continue
			}
			limit, err := semaphoreLimit(cm, key)
			if err != nil {
				return err
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[key], added = strconv.Itoa(limit), true
		}
		if !added {
			return nil
		}
		return a.Client.Update(ctx, cm, client.FieldOwner(FieldManager))
	})
}
