// Package backtest replays a cluster's alert history through what the live chain would decide
// (issue 22, docs/autonomy.md): it reads the occurrences of Prometheus' ALERTS series and runs
// each through the gateway's deduplication and storm folding, the guards, classification, the
// analyzer, the approval and safety policies and the trust levels, mutating nothing.
package backtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Occurrence is one alert as Prometheus recorded it: firing from Start until End.
type Occurrence struct {
	// Labels are the alert's labels (alertname included; not __name__ or alertstate).
	Labels map[string]string
	// Start is its first evaluation firing, End the first evaluation not firing (or, for an
	// alert still firing, the end of the history).
	Start, End time.Time
}

// maxPoints bounds the points of one query_range (Prometheus refuses more than 11,000 per
// series).
const maxPoints = 10000

// History reads the alert occurrences between from and to from the Prometheus at url: the
// series ALERTS{alertstate="firing"} with query_range at step (Prometheus' rule evaluation
// interval: a resolved alert's staleness marker ends its series at the next evaluation), in
// windows of at most maxPoints steps. A series' samples further apart than one step begin a
// new occurrence (the alert resolved and fired again). Sorted by start, then labels.
func History(ctx context.Context, url string, from, to time.Time, step time.Duration) ([]Occurrence, error) {
	if step <= 0 || !from.Before(to) {
		return nil, fmt.Errorf("a history needs from before to and a positive step (from %s, to %s, step %s)", from, to, step)
	}
	// Evaluations fall on multiples of the interval: so do the query's steps, or each start and
	// end would move by the offset.
	from = from.Truncate(step)
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("a client of Prometheus at %s: %w", url, err)
	}
	p := promv1.NewAPI(c)
	samples := map[model.Fingerprint][]time.Time{}
	metrics := map[model.Fingerprint]model.Metric{}
	window := time.Duration(maxPoints) * step
	for s := from; s.Before(to); s = s.Add(window + step) {
		e := s.Add(window)
		if e.After(to) {
			e = to
		}
		v, _, _, err := p.QueryRange(ctx, `ALERTS{alertstate="firing"}`, promv1.Range{Start: s, End: e, Step: step})
		if err != nil {
			return nil, fmt.Errorf("query_range ALERTS{alertstate=\"firing\"} from %s to %s: %w", s.Format(time.RFC3339), e.Format(time.RFC3339), err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("query_range answered a %s, not a matrix", v.Type())
		}
		for _, ss := range m {
			metric := ss.Metric.Clone()
			delete(metric, model.MetricNameLabel)
			delete(metric, "alertstate")
			fp := metric.Fingerprint()
			metrics[fp] = metric
			for _, pt := range ss.Values {
				samples[fp] = append(samples[fp], pt.Timestamp.Time())
			}
		}
	}
	var out []Occurrence
	for fp, ts := range samples {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		l := map[string]string{}
		for k, v := range metrics[fp] {
			l[string(k)] = string(v)
		}
		begin := ts[0]
		for i := 1; i <= len(ts); i++ {
			if i < len(ts) && ts[i].Sub(ts[i-1]) <= step {
				continue
			}
			out = append(out, Occurrence{Labels: l, Start: begin.UTC(), End: ts[i-1].Add(step).UTC()})
			if i < len(ts) {
				begin = ts[i]
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return model.LabelsToSignature(out[i].Labels) < model.LabelsToSignature(out[j].Labels)
	})
	return out, nil
}

// Key identifies an occurrence: its labels, start and end.
func (o Occurrence) Key() string {
	return fmt.Sprintf("%d/%s/%s", model.LabelsToSignature(o.Labels), o.Start.UTC().Format(time.RFC3339), o.End.UTC().Format(time.RFC3339))
}
