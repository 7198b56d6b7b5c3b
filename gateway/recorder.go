package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// LabelStorm marks a storm's RemediationRequest (the other labels the gateway puts on every
// RemediationRequest are kubernautv1's); the index reads them.
const LabelStorm = "kubernaut.io/storm"

// RecorderConfig tunes deduplication and storm detection.
type RecorderConfig struct {
	// Namespace holds the RemediationRequests.
	Namespace string
	// DedupWindow: a new occurrence of a fingerprint whose last remediation finished less
	// than this long ago is counted on that remediation instead of starting a new one.
	DedupWindow time.Duration
	// StormThreshold: when this many remediations for one alertname in one namespace were
	// created inside StormWindow, further alerts fold into one storm remediation. 0 = off.
	StormThreshold int
	// StormWindow is the storm detection window.
	StormWindow time.Duration
	// FlushInterval is how long the counted re-deliveries of one remediation wait before
	// they are written (its count and lastSeen, batched); new storm members are written at
	// the next flush tick, within a second.
	FlushInterval time.Duration
	// MaxStormMembers bounds a storm remediation's member list; later members only count.
	MaxStormMembers int
}

// Outcome is what the gateway did with one alert.
type Outcome string

// The outcomes.
const (
	OutcomeCreated     Outcome = "created"
	OutcomeDuplicate   Outcome = "duplicate"
	OutcomeStormMember Outcome = "storm"
	OutcomeResolved    Outcome = "resolved"
	OutcomeUnknown     Outcome = "resolved-unknown"
)

// Signal is a validated alert, ready to record.
type Signal struct {
	kubernautv1.Signal
	// Target is the object the alert is about.
	Target kubernautv1.Target
	// Firing is false for a resolved alert.
	Firing bool
	// EndsAt is the resolution time of a resolved alert.
	EndsAt time.Time
}

// Recorder writes signals as RemediationRequests: one per alert occurrence, named from the
// fingerprint and the occurrence's start so that every gateway replica derives the same name,
// and creation is idempotent (AlreadyExists means "already recorded"). Re-deliveries are
// counted in memory and written in batches every FlushInterval.
type Recorder struct {
	cfg    RecorderConfig
	client client.Client // writes and fresh reads, straight to the API server
	index  *index        // the RemediationRequests as the informer sees them
	now    func() time.Time

	mu      sync.Mutex
	pending map[string]*occurrences
	// created remembers when this replica created remediations, per storm key, so that storm
	// detection does not wait for the cache to see its own writes.
	created map[string][]time.Time
	// storms is what this replica knows of the running storm remediation per storm key:
	// its members, so that a re-sent member is only counted.
	storms map[string]*stormState
}

// occurrences are the deliveries counted on one remediation since the last flush, and the
// storm members they added.
type occurrences struct {
	count    int64
	since    time.Time // the first delivery counted
	lastSeen time.Time
	members  []kubernautv1.MemberTarget
}

// NewRecorder builds a recorder writing with c. Its view of the RemediationRequests is fed by
// the informer it is registered on (Handler).
func NewRecorder(cfg RecorderConfig, c client.Client) *Recorder {
	return &Recorder{cfg: cfg, client: c, index: newIndex(), now: time.Now, pending: map[string]*occurrences{},
		created: map[string][]time.Time{}, storms: map[string]*stormState{}}
}

// Handler is the event handler that keeps the recorder's view of the RemediationRequests:
// register it on an informer of the recorder's namespace.
func (r *Recorder) Handler() toolscache.ResourceEventHandlerDetailedFuncs {
	return toolscache.ResourceEventHandlerDetailedFuncs{AddFunc: r.index.OnAdd, UpdateFunc: r.index.OnUpdate, DeleteFunc: r.index.OnDelete}
}

func stormKey(alertName, namespace string, storm bool) string {
	return fmt.Sprintf("%s/%s/%t", alertName, namespace, storm)
}

// RRName is the name of the RemediationRequest of one occurrence of an alert: its
// fingerprint and its start time (seconds, base 36).
func RRName(fingerprint string, startsAt time.Time) string {
	return "rr-" + fingerprint + "-" + strconv.FormatInt(startsAt.Unix(), 36)
}

// Recorded is what the recorder did with one signal: the outcome and the remediation it was
// written or counted on, or why it could not be recorded now.
type Recorded struct {
	// Outcome of a recorded signal.
	Outcome Outcome
	// Name of the RemediationRequest written or counted on.
	Name string
	// Err says why the signal could not be recorded; nil when it was.
	Err error
}

// Record records the signals of one delivery; the i-th result is the i-th signal's. A firing
// alert already known is counted in memory (a duplicate, or a member of a running storm); the
// new ones of one alertname and namespace are folded into a storm remediation — one create —
// when they would take that key past StormThreshold remediations inside StormWindow, else
// each gets its own.
func (r *Recorder) Record(ctx context.Context, signals []Signal) []Recorded {
	out := make([]Recorded, len(signals))
	var keys []string
	groups := map[string][]int{}
	for i := range signals {
		s := signals[i]
		if !s.Firing {
			o, name, err := r.recordResolved(ctx, s)
			out[i] = Recorded{Outcome: o, Name: name, Err: err}
			continue
		}
		switch live := r.liveFor(s.Fingerprint); {
		case live != nil:
			r.count(live.name, nil)
			out[i] = Recorded{Outcome: OutcomeDuplicate, Name: live.name}
			continue
		case r.cfg.StormThreshold <= 0 || s.Target.Namespace == "":
			out[i] = r.create(ctx, s)
			continue
		}
		key := stormKey(s.Name, s.Target.Namespace, true)
		if name, ok := r.activeStorm(key); ok {
			r.join(key, name, s)
			out[i] = Recorded{Outcome: OutcomeStormMember, Name: name}
			continue
		}
		if groups[key] == nil {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], i)
	}
	for _, key := range keys {
		r.recordNew(ctx, key, signals, groups[key], out)
	}
	return out
}

// recordNew records new alerts of one storm key: each its own remediation, or all of them
// members of a new storm when they would take the key past the threshold.
func (r *Recorder) recordNew(ctx context.Context, key string, signals []Signal, idx []int, out []Recorded) {
	first := signals[idx[0]]
	if r.recent(first.Name, first.Target.Namespace)+len(idx) <= r.cfg.StormThreshold {
		for _, i := range idx {
			out[i] = r.create(ctx, signals[i])
		}
		return
	}
	members := make([]Signal, len(idx))
	for j, i := range idx {
		members[j] = signals[i]
	}
	name, err := r.startStorm(ctx, key, members)
	for _, i := range idx {
		out[i] = Recorded{Outcome: OutcomeStormMember, Name: name, Err: err}
	}
}

// create writes the RemediationRequest of one new occurrence, or counts it on the existing one.
func (r *Recorder) create(ctx context.Context, s Signal) Recorded {
	name := RRName(s.Fingerprint, s.StartsAt.Time)
	for attempt := 0; ; attempt++ {
		rr := r.newRR(name, s)
		err := r.client.Create(ctx, rr)
		switch {
		case err == nil:
			r.noteCreated(stormKey(s.Name, s.Target.Namespace, false))
			// Known at once, not only when the informer's event arrives: a re-fire of the alert
			// (a new startsAt, so another name) in between would otherwise start a second
			// remediation of a running one (seen in CI under load).
			r.index.put(track(rr, r.cfg.Namespace))
			return Recorded{Outcome: OutcomeCreated, Name: rr.Name}
		case !apierrors.IsAlreadyExists(err):
			return Recorded{Err: fmt.Errorf("creating RemediationRequest %s/%s: %w", r.cfg.Namespace, rr.Name, err)}
		}
		// Taken: a re-delivery of this occurrence, counted on it — unless that remediation
		// finished more than the dedup window ago while the alert kept firing; then the
		// occurrence gets a new remediation, named for the current window so that every
		// replica picks the same name.
		var existing kubernautv1.RemediationRequest
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, &existing); err != nil {
			return Recorded{Err: fmt.Errorf("reading RemediationRequest %s/%s: %w", r.cfg.Namespace, name, err)}
		}
		if r.isLive(track(&existing, r.cfg.Namespace)) || attempt > 0 || r.cfg.DedupWindow <= 0 {
			r.count(name, nil)
			return Recorded{Outcome: OutcomeDuplicate, Name: name}
		}
		name = RRName(s.Fingerprint, s.StartsAt.Time) + "-" + strconv.FormatInt(r.now().Unix()/int64(r.cfg.DedupWindow.Seconds()), 36)
	}
}

// liveFor returns the newest RemediationRequest of fingerprint that is still running or
// finished less than DedupWindow ago, as the informer saw it.
func (r *Recorder) liveFor(fingerprint string) *tracked {
	var live *tracked
	for _, t := range r.index.withFingerprint(fingerprint) {
		if r.isLive(t) && (live == nil || t.created > live.created) {
			live = t
		}
	}
	return live
}

// isLive reports whether a new occurrence should be counted on t rather than start anew.
func (r *Recorder) isLive(t *tracked) bool {
	switch {
	case t.deleting:
		return false
	case !t.finished, t.completed == 0:
		return true
	}
	return r.now().Sub(time.Unix(t.completed, 0)) < r.cfg.DedupWindow
}

// recordResolved marks the occurrence's RemediationRequest resolved.
func (r *Recorder) recordResolved(ctx context.Context, s Signal) (Outcome, string, error) {
	name := RRName(s.Fingerprint, s.StartsAt.Time)
	if live := r.liveFor(s.Fingerprint); live != nil {
		name = live.name
	}
	resolvedAt := metav1.NewTime(s.EndsAt)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		var rr kubernautv1.RemediationRequest
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, &rr); err != nil {
			return err
		}
		if rr.Spec.ResolvedAt != nil {
			return nil
		}
		rr.Spec.ResolvedAt = &resolvedAt
		return r.client.Update(ctx, &rr)
	})
	switch {
	case apierrors.IsNotFound(err):
		return OutcomeUnknown, "", nil
	case err != nil:
		return "", "", fmt.Errorf("marking RemediationRequest %s/%s resolved: %w", r.cfg.Namespace, name, err)
	}
	return OutcomeResolved, name, nil
}

// newRR builds the RemediationRequest of a signal.
func (r *Recorder) newRR(name string, s Signal) *kubernautv1.RemediationRequest {
	now := metav1.NewTime(r.now().Truncate(time.Second))
	labels := map[string]string{
		kubernautv1.LabelFingerprint: s.Fingerprint,
		kubernautv1.LabelTargetKind:  string(s.Target.Kind),
	}
	if v := labelValue(s.Name); v != "" {
		labels[kubernautv1.LabelAlertName] = v
	}
	if s.Target.Namespace != "" {
		labels[kubernautv1.LabelTargetNamespace] = s.Target.Namespace
	}
	return &kubernautv1.RemediationRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: r.cfg.Namespace, Name: name, Labels: labels},
		Spec: kubernautv1.RemediationRequestSpec{
			Signal:        s.Signal,
			Target:        s.Target,
			Deduplication: kubernautv1.Deduplication{FirstSeen: now, LastSeen: now, Count: 1},
		},
	}
}

// labelValue makes s a valid label value, or "" when it cannot be one.
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	return ""
}

// noteCreated remembers that this replica created a remediation under key.
func (r *Recorder) noteCreated(key string) {
	if r.cfg.StormThreshold <= 0 {
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created[key] = append(prune(r.created[key], now.Add(-r.cfg.StormWindow)), now)
}

// createdSince counts this replica's creations under key after since.
func (r *Recorder) createdSince(key string, since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := prune(r.created[key], since)
	if len(kept) == 0 {
		delete(r.created, key)
	} else {
		r.created[key] = kept
	}
	return len(kept)
}

// forget drops the bookkeeping that can no longer matter — creations older than the storm
// window, storms not joined for StormMemory — so that memory stays bounded under a steady
// stream of distinct alerts (each key was otherwise kept until the same key came again).
// The caller holds r.mu.
func (r *Recorder) forget(now time.Time) {
	since := now.Add(-r.cfg.StormWindow)
	r.created = keep(r.created, func(times []time.Time) bool { return len(times) > 0 && times[len(times)-1].After(since) })
	r.storms = keep(r.storms, func(st *stormState) bool { return now.Sub(st.at) <= StormMemory })
}

// keep drops the entries of m that fail ok. A Go map never gives back the memory of its
// deleted entries, so when most entries go, the rest move to a new map.
func keep[V any](m map[string]V, ok func(V) bool) map[string]V {
	dropped := 0
	for k, v := range m {
		if !ok(v) {
			delete(m, k)
			dropped++
		}
	}
	if dropped <= len(m) {
		return m
	}
	fresh := make(map[string]V, len(m))
	maps.Copy(fresh, m)
	return fresh
}

// prune drops the times not after since (times are in order).
func prune(times []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(times) && !times[i].After(since) {
		i++
	}
	return times[i:]
}

// count records a delivery on remediation name, written at the next flush; member is a storm
// member it adds (nil for a re-delivery).
func (r *Recorder) count(name string, member *kubernautv1.MemberTarget) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.countLocked(name, member, now)
}

func (r *Recorder) countLocked(name string, member *kubernautv1.MemberTarget, now time.Time) {
	o := r.pending[name]
	if o == nil {
		o = &occurrences{since: now}
		r.pending[name] = o
	}
	o.count++
	if now.After(o.lastSeen) {
		o.lastSeen = now
	}
	if member != nil {
		o.members = append(o.members, *member)
	}
}

// Flush writes the counted deliveries and the new storm members: one update per remediation.
// What cannot be written (the API server is down) stays pending for the next flush; a
// RemediationRequest that is gone is dropped.
func (r *Recorder) Flush(ctx context.Context) error { return r.flush(ctx, true) }

// flush writes the pending deliveries that are due (all of them when all): those that add
// storm members, and counts that waited FlushInterval. A remediation re-sent many times a
// second is written once per FlushInterval, not once per tick.
func (r *Recorder) flush(ctx context.Context, all bool) error {
	now := r.now()
	r.mu.Lock()
	batch := r.pending
	r.pending = map[string]*occurrences{}
	if !all {
		for name, o := range batch {
			if len(o.members) == 0 && now.Sub(o.since) < r.cfg.FlushInterval {
				r.pending[name] = o
				delete(batch, name)
			}
		}
	}
	r.forget(now)
	r.mu.Unlock()

	var failed []string
	for name, o := range batch {
		if done, err := r.patchCount(ctx, name, o); done || (err != nil && !apierrors.IsConflict(err)) {
			if err != nil && !apierrors.IsNotFound(err) {
				failed = append(failed, name)
				r.requeue(name, o)
			}
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			var rr kubernautv1.RemediationRequest
			if err := r.client.Get(ctx, client.ObjectKey{Namespace: r.cfg.Namespace, Name: name}, &rr); err != nil {
				return err
			}
			rr.Spec.Deduplication.Count += o.count
			if o.lastSeen.After(rr.Spec.Deduplication.LastSeen.Time) {
				rr.Spec.Deduplication.LastSeen = metav1.NewTime(o.lastSeen.Truncate(time.Second))
			}
			rr.Spec.MemberTargets = mergeMembers(rr.Spec.MemberTargets, o.members, r.cfg.MaxStormMembers)
			return r.client.Update(ctx, &rr)
		})
		switch {
		case err == nil, apierrors.IsNotFound(err):
		default:
			failed = append(failed, name)
			r.requeue(name, o)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("writing occurrence counts of %s (kept for the next flush)", strings.Join(failed, ", "))
	}
	return nil
}

// patchCount writes a count with no new members in one round trip: a merge patch of the
// count the informer last saw plus the pending ones (and lastSeen when it moved),
// conditioned on the resourceVersion it saw them at (a conflict means another writer came
// first: the caller reads and updates). done is false when this path does not apply or lost
// the race.
func (r *Recorder) patchCount(ctx context.Context, name string, o *occurrences) (done bool, err error) {
	seen, ok := r.index.get(name)
	if !ok || len(o.members) > 0 || seen.resourceVersion == "" {
		return false, nil
	}
	d := map[string]any{"count": seen.count + o.count}
	if last := o.lastSeen.Truncate(time.Second); last.Unix() > seen.lastSeen {
		d["lastSeen"] = metav1.NewTime(last)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]string{"resourceVersion": seen.resourceVersion},
		"spec": map[string]any{"deduplication": d}})
	if err != nil {
		return false, err
	}
	rr := &kubernautv1.RemediationRequest{ObjectMeta: metav1.ObjectMeta{Namespace: r.cfg.Namespace, Name: name}}
	if err := r.client.Patch(ctx, rr, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return false, err
	}
	return true, nil
}

func (r *Recorder) requeue(name string, o *occurrences) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[name]
	if p == nil {
		r.pending[name] = o
		return
	}
	if o.since.Before(p.since) {
		p.since = o.since
	}
	p.count += o.count
	if o.lastSeen.After(p.lastSeen) {
		p.lastSeen = o.lastSeen
	}
	p.members = append(p.members, o.members...)
}

// Pending returns the number of re-deliveries not yet written.
func (r *Recorder) Pending() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, o := range r.pending {
		n += o.count
	}
	return n
}

// flushTick is how often the flusher looks for due deliveries: new storm members wait at
// most this long.
const flushTick = time.Second

// Run flushes what is due every second (or every FlushInterval when shorter) until ctx ends,
// then flushes everything once more.
func (r *Recorder) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(min(flushTick, r.cfg.FlushInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.Flush(final); err != nil && onError != nil {
				onError(err)
			}
			cancel()
			return
		case <-t.C:
			if err := r.flush(ctx, false); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
