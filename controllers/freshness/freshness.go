// Package freshness keeps a controller from acting on a cached object that is older than the
// one it last wrote. The manager's cache learns of a write only when its watch event arrives;
// a reconcile that starts in between (woken by a child's event) would compute the same status
// again, patch it (a no-op the API server still has to process) and record its events twice.
// Such a reconcile waits instead: the watch event of the write wakes the object again.
package freshness

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Retry is when a reconcile that found its object stale looks again, should the watch event of
// the controller's own write not wake it first.
const Retry = time.Second

// Tracker remembers, per object, the resourceVersion of the controller's last write. Its zero
// value is ready to use, a nil Tracker tracks nothing (nothing is ever stale); it is safe for
// concurrent reconciles.
type Tracker struct {
	mu   sync.Mutex
	last map[types.NamespacedName]uint64
}

// resourceVersion reads an object's resourceVersion as the number the API server's etcd
// storage makes it; false when it is not one (then nothing is compared).
func resourceVersion(obj client.Object) (uint64, bool) {
	v, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	return v, err == nil
}

// Wrote records the resourceVersion the API server returned for a write of obj.
func (t *Tracker) Wrote(obj client.Object) {
	v, ok := resourceVersion(obj)
	if !ok || t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[types.NamespacedName]uint64{}
	}
	t.last[client.ObjectKeyFromObject(obj)] = v
}

// Stale reports whether obj, as read from the cache, is older than the last write recorded for
// it. Anything newer (someone else's write after ours) or not comparable is not stale.
func (t *Tracker) Stale(obj client.Object) bool {
	v, ok := resourceVersion(obj)
	if !ok || t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	last, known := t.last[client.ObjectKeyFromObject(obj)]
	return known && v < last
}

// Forget drops what is known of an object: it was deleted, or the controller writes it no more.
func (t *Tracker) Forget(key types.NamespacedName) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, key)
}
