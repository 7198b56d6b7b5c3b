// Package alerthistory makes a cluster's alert history for tests of `kubernaut backtest`: a
// month of realistic alert occurrences (several alert names, steady ones, alert storms across
// the pods of one namespace, flapping alerts), and the ALERTS series Prometheus' rule
// evaluation would have written for them — written as TSDB blocks a real Prometheus loads, with
// the staleness markers a resolved alert leaves.
package alerthistory

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb"
)

// Occurrence is one alert, firing from Start until End (the first evaluation at which it no
// longer fired).
type Occurrence struct {
	// Labels are the alert's labels (alertname included; not alertstate).
	Labels map[string]string
	// Start and End bound it; both are evaluation times.
	Start, End time.Time
}

// Options shape a history.
type Options struct {
	// Seed makes it reproducible.
	Seed uint64
	// End is when it ends; it starts Days before.
	End  time.Time
	Days int
	// Interval is the rule evaluation interval (the samples' spacing).
	Interval time.Duration
}

// kind is one alert name and how often and in what shape it fires.
type kind struct {
	alertname, severity string
	// per day, on average
	rate float64
	// how long each lasts
	min, max time.Duration
	// what it is about
	labels func(r *rand.Rand, ns string) map[string]string
}

var namespaces = []string{"shop-prod", "ledger-prod", "shop-staging", "search-staging", "batch-dev"}

func pod(r *rand.Rand, app string) string {
	return fmt.Sprintf("%s-%x-%s", app, r.Uint32()%0xfffff, string(rune('a'+r.IntN(26)))+string(rune('a'+r.IntN(26))))
}

var apps = []string{"cart", "checkout", "api", "worker", "search"}

var kinds = []kind{
	{"KubePodCrashLooping", "critical", 6, 10 * time.Minute, 2 * time.Hour, func(r *rand.Rand, ns string) map[string]string {
		a := apps[r.IntN(len(apps))]
		return map[string]string{"namespace": ns, "pod": pod(r, a), "container": "app"}
	}},
	{"KubePodNotReady", "warning", 5, 15 * time.Minute, time.Hour, func(r *rand.Rand, ns string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod(r, apps[r.IntN(len(apps))])}
	}},
	{"KubeDeploymentReplicasMismatch", "warning", 4, 15 * time.Minute, 90 * time.Minute, func(r *rand.Rand, ns string) map[string]string {
		return map[string]string{"namespace": ns, "deployment": apps[r.IntN(len(apps))]}
	}},
	{"KubeHpaMaxedOut", "warning", 3, 15 * time.Minute, 3 * time.Hour, func(r *rand.Rand, ns string) map[string]string {
		return map[string]string{"namespace": ns, "horizontalpodautoscaler": apps[r.IntN(len(apps))]}
	}},
	{"KubeContainerOOMKilled", "warning", 4, 5 * time.Minute, 30 * time.Minute, func(r *rand.Rand, ns string) map[string]string {
		a := apps[r.IntN(len(apps))]
		return map[string]string{"namespace": ns, "pod": pod(r, a), "container": "app", "reason": "OOMKilled"}
	}},
	{"KubeNodeNotReady", "warning", 1, 5 * time.Minute, 45 * time.Minute, func(r *rand.Rand, _ string) map[string]string {
		return map[string]string{"node": fmt.Sprintf("worker-%d", r.IntN(6))}
	}},
	{"KubeJobFailed", "warning", 3, 30 * time.Minute, 6 * time.Hour, func(r *rand.Rand, ns string) map[string]string {
		return map[string]string{"namespace": ns, "job_name": fmt.Sprintf("report-%d", r.IntN(1000))}
	}},
	{"CPUThrottlingHigh", "info", 4, 15 * time.Minute, 2 * time.Hour, func(r *rand.Rand, ns string) map[string]string {
		a := apps[r.IntN(len(apps))]
		return map[string]string{"namespace": ns, "pod": pod(r, a), "container": "app"}
	}},
	{"KubePersistentVolumeFillingUp", "critical", 0.5, time.Hour, 12 * time.Hour, func(r *rand.Rand, ns string) map[string]string {
		return map[string]string{"namespace": ns, "persistentvolumeclaim": "data-" + apps[r.IntN(len(apps))]}
	}},
}

// Generate makes a history: each kind at its daily rate in random namespaces, a storm every few
// days (one alert name across many pods of one namespace within a minute), and flapping alerts
// (one alert firing and resolving again and again). The result is sorted by start.
func Generate(o Options) []Occurrence {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	start := o.End.Add(-time.Duration(o.Days) * 24 * time.Hour)
	align := func(t time.Time) time.Time { return t.Truncate(o.Interval) }
	var out []Occurrence
	add := func(l map[string]string, from time.Time, d time.Duration) {
		from = align(from)
		end := align(from.Add(d))
		if end.Equal(from) {
			end = from.Add(o.Interval)
		}
		if !from.After(start) || !end.Before(o.End) {
			return
		}
		out = append(out, Occurrence{Labels: l, Start: from, End: end})
	}
	span := o.End.Sub(start)
	for _, k := range kinds {
		n := int(k.rate * float64(o.Days))
		for range n {
			l := k.labels(r, namespaces[r.IntN(len(namespaces))])
			l["alertname"], l["severity"] = k.alertname, k.severity
			d := k.min + time.Duration(r.Int64N(int64(k.max-k.min)))
			add(l, start.Add(time.Duration(r.Int64N(int64(span)))), d)
		}
	}
	// Storms: every third day, 20–60 pods of one namespace crash-loop within a minute.
	for day := 1; day < o.Days; day += 3 {
		ns := namespaces[r.IntN(len(namespaces))]
		at := start.Add(time.Duration(day)*24*time.Hour + time.Duration(r.Int64N(int64(20*time.Hour))))
		for range 20 + r.IntN(41) {
			l := map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": ns, "pod": pod(r, "worker"), "container": "app"}
			add(l, at.Add(time.Duration(r.Int64N(int64(time.Minute)))), 20*time.Minute+time.Duration(r.Int64N(int64(40*time.Minute))))
		}
	}
	// Flapping: a pod not ready for a few minutes, ready for a few, 6–12 times, weekly.
	for week := 0; week*7 < o.Days; week++ {
		l := map[string]string{"alertname": "KubePodNotReady", "severity": "warning", "namespace": "shop-prod", "pod": pod(r, "api")}
		at := start.Add(time.Duration(week)*7*24*time.Hour + time.Duration(r.Int64N(int64(6*24*time.Hour))))
		for range 6 + r.IntN(7) {
			d := time.Duration(2+r.IntN(5)) * time.Minute
			add(copyLabels(l), at, d)
			at = at.Add(d + time.Duration(3+r.IntN(6))*time.Minute)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	// An alert fires once at a time: an occurrence that would begin before the last one of the
	// same labels ended (and its pending minute passed) is dropped.
	ended := map[string]time.Time{}
	kept := out[:0]
	for _, o := range out {
		k := key(o.Labels)
		if e, ok := ended[k]; ok && !o.Start.Add(-time.Minute).After(e) {
			continue
		}
		ended[k] = o.End
		kept = append(kept, o)
	}
	return kept
}

// key is an occurrence's label set as one string (its series' identity, without alertstate).
func key(l map[string]string) string {
	return labels.FromMap(l).String()
}

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// WriteBlocks writes the ALERTS series of the occurrences into dir (a Prometheus data folder)
// as TSDB blocks of one day each: a sample of 1 at every evaluation from Start until End for
// alertstate="firing" (and a minute of alertstate="pending" before it), and a staleness marker
// at End, as a rule evaluation that saw the alert go writes. It returns the samples written.
func WriteBlocks(ctx context.Context, dir string, occurrences []Occurrence, interval time.Duration) (int, error) {
	if len(occurrences) == 0 {
		return 0, fmt.Errorf("no occurrences to write")
	}
	type sample struct {
		t time.Time
		v float64
	}
	series := map[string]labels.Labels{}
	samples := map[string][]sample{}
	put := func(l map[string]string, state string, from, to time.Time) {
		b := labels.NewBuilder(labels.EmptyLabels())
		for k, v := range l {
			b.Set(k, v)
		}
		b.Set(labels.MetricName, "ALERTS")
		b.Set("alertstate", state)
		ls := b.Labels()
		key := ls.String()
		series[key] = ls
		for t := from; t.Before(to); t = t.Add(interval) {
			samples[key] = append(samples[key], sample{t, 1})
		}
		samples[key] = append(samples[key], sample{to, math.Float64frombits(value.StaleNaN)})
	}
	for _, o := range occurrences {
		put(o.Labels, "pending", o.Start.Add(-time.Minute), o.Start)
		put(o.Labels, "firing", o.Start, o.End)
	}
	first, last := occurrences[0].Start.Add(-time.Minute), occurrences[0].End
	for key := range samples {
		s := samples[key]
		sort.SliceStable(s, func(i, j int) bool { return s[i].t.Before(s[j].t) })
		if s[len(s)-1].t.After(last) {
			last = s[len(s)-1].t
		}
		if s[0].t.Before(first) {
			first = s[0].t
		}
	}
	const day = 24 * time.Hour
	written := 0
	for from := first.Truncate(day); !from.After(last); from = from.Add(day) {
		to := from.Add(day)
		w, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, day.Milliseconds())
		if err != nil {
			return written, fmt.Errorf("a block writer: %w", err)
		}
		// In time order: the head takes only samples within half a block of its newest.
		type point struct {
			key string
			sample
		}
		var points []point
		for key, s := range samples {
			for _, x := range s {
				if !x.t.Before(from) && x.t.Before(to) {
					points = append(points, point{key, x})
				}
			}
		}
		sort.SliceStable(points, func(i, j int) bool { return points[i].t.Before(points[j].t) })
		app := w.Appender(ctx)
		n := 0
		for _, p := range points {
			if _, err := app.Append(0, series[p.key], p.t.UnixMilli(), p.v); err != nil {
				_ = w.Close()
				return written, fmt.Errorf("appending %s at %s: %w", p.key, p.t, err)
			}
			n++
		}
		if err := app.Commit(); err != nil {
			_ = w.Close()
			return written, fmt.Errorf("committing the samples of %s: %w", from, err)
		}
		if n > 0 {
			if _, err := w.Flush(ctx); err != nil {
				_ = w.Close()
				return written, fmt.Errorf("writing the block of %s: %w", from, err)
			}
		}
		written += n
		if err := w.Close(); err != nil {
			return written, err
		}
	}
	return written, nil
}
