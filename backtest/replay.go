package backtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
)

// Config is the live chain's settings the replay follows (the flags of the same names).
type Config struct {
	// DedupWindow, StormThreshold and StormWindow are the gateway's (--dedup-window,
	// --storm-threshold, --storm-window).
	DedupWindow    time.Duration
	StormThreshold int
	StormWindow    time.Duration
	// Cooldown and ClusterWide are the guards' (--cooldown, --cluster-wide).
	Cooldown    time.Duration
	ClusterWide bool
}

// DefaultConfig is the flags' defaults.
func DefaultConfig() Config {
	return Config{DedupWindow: 5 * time.Minute, StormThreshold: 10, StormWindow: time.Minute, Cooldown: 5 * time.Minute}
}

// What became of an occurrence at the gateway and the guards (Decision.Outcome).
const (
	// OutcomeRemediation: a remediation of its own.
	OutcomeRemediation = "remediation"
	// OutcomeDuplicate: counted on the live remediation of the same alert (it re-fired within
	// the dedup window of that one's end).
	OutcomeDuplicate = "duplicate"
	// OutcomeStormMember: folded into a storm remediation of its alert name and namespace.
	OutcomeStormMember = "storm-member"
	// OutcomeNoTarget: its labels name nothing Kubernaut can act on (the gateway refuses it).
	OutcomeNoTarget = "no-target"
	// OutcomeNotOptedIn, OutcomeAlreadyRemediating, OutcomeCoolingDown: a guard held the
	// remediation back (it ends Skipped).
	OutcomeNotOptedIn         = "skipped: not opted in"
	OutcomeAlreadyRemediating = "skipped: already remediating the target"
	OutcomeCoolingDown        = "skipped: cooling down"
)

// Decision is what the chain would have made of one occurrence.
type Decision struct {
	Occurrence
	// Fingerprint is Alertmanager's fingerprint of its labels.
	Fingerprint string `json:"fingerprint"`
	// Target is what it is about (empty when it names nothing).
	Target kubernautv1.Target `json:"target"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Remediation names the remediation it made or was counted on.
	Remediation string `json:"remediation,omitempty"`
	// Reason says more (a target that cannot be read, the remediation that held it back).
	Reason string `json:"reason,omitempty"`
	// Verdict is what the analysis stages made of a remediation (Analysis).
	Verdict *Verdict `json:"verdict,omitempty"`
	// Waited: its plan would have found a blast-radius limit full when it started (Wait).
	Waited bool `json:"waited,omitempty"`
}

// remediation is one remediation the replay made: live while its alert fired (verification
// waits for the alert to resolve), and for the dedup window after.
type remediation struct {
	name       string
	target     kubernautv1.Target
	signal     string
	start, end time.Time
}

// Replay runs the occurrences, in start order, through the gateway's deduplication and storm
// folding and the guards that hold a remediation back before analysis, as the live chain
// would: the opt-in label as the cluster has it now (reader), the remediations the replay
// itself made for the rest. Nothing is written. A remediation is taken to run while its alert
// fired: the chain verifies until the alert resolves.
func Replay(ctx context.Context, cfg Config, reader client.Reader, occurrences []Occurrence) ([]Decision, error) {
	sorted := append([]Occurrence(nil), occurrences...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	r := &replay{cfg: cfg, reader: reader, optedIn: map[string]bool{}, byFingerprint: map[string]*remediation{},
		created: map[string][]time.Time{}, storms: map[string]*storm{}, byTarget: map[kubernautv1.Target]*remediation{}}
	out := make([]Decision, 0, len(sorted))
	for _, o := range sorted {
		d, err := r.decide(ctx, o)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

type storm struct {
	name     string
	lastJoin time.Time
}

type replay struct {
	cfg           Config
	reader        client.Reader
	optedIn       map[string]bool // by namespace, or "node/<name>"
	byFingerprint map[string]*remediation
	created       map[string][]time.Time // per alert name and namespace: remediations created
	storms        map[string]*storm
	byTarget      map[kubernautv1.Target]*remediation
}

func (r *replay) decide(ctx context.Context, o Occurrence) (Decision, error) {
	d := Decision{Occurrence: o, Fingerprint: gateway.Fingerprint(o.Labels)}
	t, err := gateway.ExtractTarget(o.Labels)
	if err != nil {
		d.Outcome, d.Reason = OutcomeNoTarget, err.Error()
		return d, nil
	}
	d.Target = t
	name := o.Labels["alertname"]
	// The gateway: a re-fire while the alert's last remediation is live is counted on it.
	if live := r.byFingerprint[d.Fingerprint]; live != nil && o.Start.Before(live.end.Add(r.cfg.DedupWindow)) {
		d.Outcome, d.Remediation = OutcomeDuplicate, live.name
		return d, nil
	}
	// Storms: past the threshold of remediations of one alert name in one namespace inside
	// the window, alerts join one storm remediation (remembered an hour after its last join).
	if r.cfg.StormThreshold > 0 && t.Namespace != "" {
		key := name + "/" + t.Namespace
		if s := r.storms[key]; s != nil && o.Start.Sub(s.lastJoin) <= gateway.StormMemory {
			s.lastJoin = o.Start
			d.Outcome, d.Remediation = OutcomeStormMember, s.name
			return d, nil
		}
		recent := 0
		for _, c := range r.created[key] {
			if c.After(o.Start.Add(-r.cfg.StormWindow)) {
				recent++
			}
		}
		if recent+1 > r.cfg.StormThreshold {
			s := &storm{name: fmt.Sprintf("storm %s in %s at %s", name, t.Namespace, o.Start.Truncate(r.cfg.StormWindow).Format(time.RFC3339)), lastJoin: o.Start}
			r.storms[key] = s
			d.Outcome, d.Remediation = OutcomeStormMember, s.name
			return d, nil
		}
	}
	rem := &remediation{name: gateway.RRName(d.Fingerprint, o.Start), target: t, signal: name, start: o.Start, end: o.End}
	d.Remediation = rem.name
	r.byFingerprint[d.Fingerprint] = rem
	r.created[name+"/"+t.Namespace] = append(r.created[name+"/"+t.Namespace], o.Start)
	// The guards, before analysis.
	in, err := r.isOptedIn(ctx, t)
	if err != nil {
		return d, err
	}
	// A remediation held back ends at once (Skipped): a re-fire after the dedup window starts
	// another, and it neither claims its target nor starts a cooldown.
	switch other := r.byTarget[t]; {
	case !in:
		d.Outcome, rem.end = OutcomeNotOptedIn, o.Start
		return d, nil
	case other != nil && o.Start.Before(other.end):
		d.Outcome, d.Reason, rem.end = OutcomeAlreadyRemediating, other.name, o.Start
		return d, nil
	case other != nil && other.signal == name && o.Start.Before(other.end.Add(r.cfg.Cooldown)):
		d.Outcome, d.Reason, rem.end = OutcomeCoolingDown, other.name, o.Start
		return d, nil
	}
	r.byTarget[t] = rem
	d.Outcome = OutcomeRemediation
	return d, nil
}

// isOptedIn reads the opt-in label of the target's namespace (or node) as the cluster has it
// now; an object that no longer exists has not opted in.
func (r *replay) isOptedIn(ctx context.Context, t kubernautv1.Target) (bool, error) {
	if r.cfg.ClusterWide {
		return true, nil
	}
	var obj client.Object = &corev1.Namespace{}
	key, name := t.Namespace, t.Namespace
	switch t.Kind {
	case kubernautv1.TargetKindNode:
		obj, key, name = &corev1.Node{}, "node/"+t.Name, t.Name
	case kubernautv1.TargetKindNamespace:
		key, name = t.Name, t.Name
	}
	if in, ok := r.optedIn[key]; ok {
		return in, nil
	}
	err := r.reader.Get(ctx, client.ObjectKey{Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		r.optedIn[key] = false
	case err != nil:
		return false, fmt.Errorf("reading the opt-in label of %s: %w", key, err)
	default:
		r.optedIn[key] = obj.GetLabels()[kubernautv1.OptInLabel] == "true"
	}
	return r.optedIn[key], nil
}
