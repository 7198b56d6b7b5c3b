package workflowexecution

import (
	"context"
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"
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
