package gateway

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// A storm is many alerts of one alertname in one namespace at once: one remediation
// (LabelStorm, targeting the namespace) lists them as members. Its members are recognised in
// memory and written in batches, as re-deliveries are: a storm member costs no API call when
// it arrives, and the storm's remediation one update per flush, whatever the rate.
//
// Several gateway replicas each keep their own pending members and merge them into the
// object at their flush by fingerprint (a set union, re-read on a conflict), so nothing is
// lost or listed twice whichever replica a delivery reached; the counts add up, since each
// delivery reaches one replica. A replica learns the members the others wrote from its cache.

// stormState is what this replica knows of one running storm remediation.
type stormState struct {
	name string
	// learned is when this replica created or found it: its cache may not show it for a
	// moment after a create.
	learned time.Time
	// at is when a member last joined through this replica.
	at time.Time
	// rv is the resourceVersion whose members are merged into members.
	rv string
	// members are the fingerprints listed or pending, at most MaxStormMembers: a member
	// beyond them only counts.
	members map[string]bool
}

// StormMemory is how long a joined storm is remembered without a new member (kubernaut backtest
// replays storms with it).
const StormMemory = time.Hour

// cacheGrace is how long a storm this replica created may be missing from its cache.
const cacheGrace = 30 * time.Second

// stormName is the storm remediation's name: replicas that see the storm in the same window
// derive the same one.
func (r *Recorder) stormName(alertName, namespace string) string {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\xff%s\xff%d", alertName, namespace, r.now().Truncate(r.cfg.StormWindow).Unix())
	return fmt.Sprintf("rr-storm-%016x", h.Sum64())
}

// activeStorm returns the running storm remediation of key, if there is one: from memory,
// checked against the informer's view, else from that view.
func (r *Recorder) activeStorm(key string) (string, bool) {
	r.mu.Lock()
	st := r.storms[key]
	r.mu.Unlock()
	if st != nil {
		t, found := r.index.get(st.name)
		switch {
		case found && t.running():
			r.learn(key, t)
			return st.name, true
		case !found && r.now().Sub(st.learned) < cacheGrace:
			return st.name, true
		}
		r.mu.Lock()
		if r.storms[key] == st {
			delete(r.storms, key)
		}
		r.mu.Unlock()
	}
	for _, t := range r.index.withStormKey(key) {
		if t.running() {
			r.learn(key, t)
			return t.name, true
		}
	}
	return "", false
}

// learn remembers storm t under key, with the members it lists (once per resourceVersion).
func (r *Recorder) learn(key string, t *tracked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state(key, t.name)
	if st.rv == t.resourceVersion {
		return
	}
	st.rv = t.resourceVersion
	for _, fp := range t.members {
		if len(st.members) >= r.cfg.MaxStormMembers {
			break
		}
		st.members[fp] = true
	}
}

// state returns the state of storm name under key, new if this replica did not know it. The
// caller holds r.mu.
func (r *Recorder) state(key, name string) *stormState {
	st := r.storms[key]
	if st == nil || st.name != name {
		now := r.now()
		st = &stormState{name: name, learned: now, at: now, members: map[string]bool{}}
		r.storms[key] = st
	}
	return st
}

// join counts a delivery of signal s on storm name: a new member is written at the next flush,
// a known one (or one beyond MaxStormMembers) only counts.
func (r *Recorder) join(key, name string, s Signal) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state(key, name)
	st.at = now
	var member *kubernautv1.MemberTarget
	if !st.members[s.Fingerprint] && len(st.members) < r.cfg.MaxStormMembers {
		st.members[s.Fingerprint] = true
		member = &kubernautv1.MemberTarget{Target: s.Target, Fingerprint: s.Fingerprint}
	}
	r.countLocked(name, member, now)
}

// startStorm creates the storm remediation of key with members as its first members: one
// create. When another replica created it first, the members join it at the next flush.
func (r *Recorder) startStorm(ctx context.Context, key string, members []Signal) (string, error) {
	first := members[0]
	name := r.stormName(first.Name, first.Target.Namespace)
	storm := r.newRR(name, r.stormSignal(first))
	storm.Labels[LabelStorm] = "true"
	storm.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindNamespace, Name: first.Target.Namespace}
	var listed []kubernautv1.MemberTarget
	for _, m := range members {
		listed = append(listed, kubernautv1.MemberTarget{Target: m.Target, Fingerprint: m.Fingerprint})
	}
	storm.Spec.MemberTargets = mergeMembers(nil, listed, r.cfg.MaxStormMembers)
	storm.Spec.Deduplication.Count = int64(len(members))
	err := r.client.Create(ctx, storm)
	switch {
	case err == nil:
		r.mu.Lock()
		st := r.state(key, name)
		for _, m := range storm.Spec.MemberTargets {
			st.members[m.Fingerprint] = true
		}
		r.mu.Unlock()
	case apierrors.IsAlreadyExists(err):
		for _, m := range members {
			r.join(key, name, m)
		}
	default:
		return "", fmt.Errorf("creating storm RemediationRequest %s/%s: %w", r.cfg.Namespace, name, err)
	}
	return name, nil
}

// recent counts the remediations of alertname in namespace created inside the storm window:
// those the cache knows, or those this replica created if its cache has not seen them yet.
func (r *Recorder) recent(alertName, namespace string) int {
	key := stormKey(alertName, namespace, false)
	since := r.now().Add(-r.cfg.StormWindow)
	n := 0
	for _, t := range r.index.withStormKey(key) {
		if t.createdAfter(since) {
			n++
		}
	}
	return max(n, r.createdSince(key, since))
}

// stormSignal is the signal of a storm remediation: the alertname and namespace as labels,
// with the fingerprint of that label set.
func (r *Recorder) stormSignal(s Signal) Signal {
	labels := map[string]string{"alertname": s.Name, "namespace": s.Target.Namespace}
	storm := s
	storm.Signal = *s.DeepCopy()
	storm.Labels = labels
	storm.Fingerprint = Fingerprint(labels)
	storm.StartsAt = metav1.NewTime(r.now().Truncate(time.Second))
	return storm
}

// mergeMembers appends to listed the members of more it does not list yet (by fingerprint),
// up to limit in all.
func mergeMembers(listed, more []kubernautv1.MemberTarget, limit int) []kubernautv1.MemberTarget {
	if len(more) == 0 {
		return listed
	}
	seen := make(map[string]bool, len(listed))
	for _, m := range listed {
		seen[m.Fingerprint] = true
	}
	for _, m := range more {
		if len(listed) >= limit {
			break
		}
		if !seen[m.Fingerprint] {
			seen[m.Fingerprint] = true
			listed = append(listed, m)
		}
	}
	return listed
}
