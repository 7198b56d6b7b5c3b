package gateway

import (
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// tracked is what the gateway keeps of one RemediationRequest: only what deduplication,
// storm detection and the count's patch read. The informer's store holds these records, not
// the objects (the informer's transform makes them), and the index shares them: one record
// of about 250 bytes per tracked remediation, where the slimmed object was 1.7 KB and its
// struct alone 768 bytes (`make bench-gateway`'s heap profile: 17 of the 25 MiB live once
// ready with 10,000 tracked). Records are never modified once made: a change is a new record.
type tracked struct {
	name, namespace, resourceVersion string
	// fingerprint is the LabelFingerprint label.
	fingerprint string
	// stormKey is the key of the alertname, target namespace and storm labels; "" without an
	// alertname.
	stormKey string
	// created, completed and lastSeen are Unix seconds (the API's times are whole seconds);
	// completed is 0 while the remediation has not completed.
	created, completed, lastSeen int64
	// count is spec.deduplication.count.
	count int64
	// finished is whether the phase is a final one; deleting whether deletion has begun.
	finished, deleting bool
	// members are the fingerprints of a storm's members.
	members []string
}

// track makes the record of rr. namespace is the recorder's: records of its namespace share
// that string instead of each holding a decoded copy.
func track(rr *kubernautv1.RemediationRequest, namespace string) *tracked {
	ns := rr.Namespace
	if ns == namespace {
		ns = namespace
	}
	t := &tracked{
		name: rr.Name, namespace: ns, resourceVersion: rr.ResourceVersion,
		fingerprint: rr.Labels[kubernautv1.LabelFingerprint],
		created:     rr.CreationTimestamp.Unix(),
		lastSeen:    rr.Spec.Deduplication.LastSeen.Unix(),
		count:       rr.Spec.Deduplication.Count,
		finished:    rr.Status.Phase.IsFinished(),
		deleting:    rr.DeletionTimestamp != nil,
	}
	if rr.Status.CompletedAt != nil {
		t.completed = rr.Status.CompletedAt.Unix()
	}
	if l := rr.Labels; l[kubernautv1.LabelAlertName] != "" {
		t.stormKey = stormKey(l[kubernautv1.LabelAlertName], l[kubernautv1.LabelTargetNamespace], l[LabelStorm] == "true")
	}
	if n := len(rr.Spec.MemberTargets); n > 0 {
		t.members = make([]string, n)
		for i, m := range rr.Spec.MemberTargets {
			t.members[i] = m.Fingerprint
		}
	}
	return t
}

// GetObjectMeta names the record for the informer's store (meta.Accessor), which keys what
// it holds by namespace and name.
func (t *tracked) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: t.namespace, Name: t.name, ResourceVersion: t.resourceVersion}
}

// createdAfter reports whether the remediation was created after since.
func (t *tracked) createdAfter(since time.Time) bool { return time.Unix(t.created, 0).After(since) }

// running reports whether the remediation has neither finished nor begun to be deleted.
func (t *tracked) running() bool { return !t.finished && !t.deleting }

// trackTransform is the informer's transform: it keeps a record of each RemediationRequest
// instead of the object. A record passes unchanged (a transform must be idempotent).
func trackTransform(namespace string) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		if rr, ok := obj.(*kubernautv1.RemediationRequest); ok {
			return track(rr, namespace), nil
		}
		return obj, nil
	}
}

// index is the recorder's own view of the RemediationRequests of its namespace, kept by the
// informer's event handler: deduplication and storm detection read it on every delivery. The
// controller-runtime cache answered the same questions with a REST mapping and a deep copy per
// lookup — 10 % of the gateway's CPU on the duplicate path (a profile of
// `make bench-gateway`).
type index struct {
	mu     sync.RWMutex
	byName map[string]*tracked
	// byFingerprint and byStormKey list the records of each key. A fingerprint has one or two
	// (the occurrences of one alert); a storm key's list is scanned whole by every lookup
	// anyway, so removing from it costs no more than one.
	byFingerprint, byStormKey map[string][]*tracked
}

func newIndex() *index {
	return &index{byName: map[string]*tracked{}, byFingerprint: map[string][]*tracked{}, byStormKey: map[string][]*tracked{}}
}

// get returns the record called name.
func (x *index) get(name string) (*tracked, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	t, ok := x.byName[name]
	return t, ok
}

// withFingerprint returns the records of fingerprint.
func (x *index) withFingerprint(fp string) []*tracked { return x.list(x.byFingerprint, fp) }

// withStormKey returns the records of a storm key.
func (x *index) withStormKey(key string) []*tracked { return x.list(x.byStormKey, key) }

func (x *index) list(m map[string][]*tracked, key string) []*tracked {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(m[key])
}

func (x *index) put(t *tracked) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(t.name)
	x.byName[t.name] = t
	if t.fingerprint != "" {
		x.byFingerprint[t.fingerprint] = append(x.byFingerprint[t.fingerprint], t)
	}
	if t.stormKey != "" {
		x.byStormKey[t.stormKey] = append(x.byStormKey[t.stormKey], t)
	}
}

func (x *index) removeLocked(name string) {
	old, ok := x.byName[name]
	if !ok {
		return
	}
	delete(x.byName, name)
	drop(x.byFingerprint, old.fingerprint, name)
	drop(x.byStormKey, old.stormKey, name)
}

// drop removes the record called name from m[key], and the key when it lists no more.
func drop(m map[string][]*tracked, key, name string) {
	list := slices.DeleteFunc(m[key], func(t *tracked) bool { return t.name == name })
	if len(list) == 0 {
		delete(m, key)
		return
	}
	m[key] = list
}

// The informer's event handler: it receives the transform's records.

// OnAdd indexes a new record.
func (x *index) OnAdd(obj any, _ bool) {
	if t, ok := obj.(*tracked); ok {
		x.put(t)
	}
}

// OnUpdate indexes the record as it now is.
func (x *index) OnUpdate(_, obj any) { x.OnAdd(obj, false) }

// OnDelete forgets the record.
func (x *index) OnDelete(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if t, ok := obj.(*tracked); ok {
		x.mu.Lock()
		x.removeLocked(t.name)
		x.mu.Unlock()
	}
}
