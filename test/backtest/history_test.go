// Package backtest tests `kubernaut backtest` against a real Prometheus whose TSDB holds a month
// of generated alert history (test/alerthistory).
package backtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubernaut/kubernaut/backtest"
	"github.com/kubernaut/kubernaut/test/alerthistory"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// A month of alerts, as Prometheus' rule evaluation would have recorded them, reads back as
// exactly the occurrences that were generated: every start and end, storms and flapping
// alerts included.
func TestHistoryFromARealPrometheus(t *testing.T) {
	ctx := context.Background()
	end := time.Now().UTC().Truncate(time.Hour)
	want := alerthistory.Generate(alerthistory.Options{Seed: 22, End: end, Days: 30, Interval: time.Minute})
	names := map[string]int{}
	for _, o := range want {
		names[o.Labels["alertname"]]++
	}
	if len(want) < 1000 || len(names) < 8 {
		t.Fatalf("the generated history has %d occurrences of %d alert names; want at least 1,000 of 8", len(want), len(names))
	}
	// Storms (20 or more of one alert name in one namespace within a minute) and flapping
	// (one alert's labels firing again and again).
	perMinute, perSeries := map[string]int{}, map[string]int{}
	storms, flapping := 0, 0
	for _, o := range want {
		k := o.Labels["alertname"] + "/" + o.Labels["namespace"] + "/" + o.Start.Truncate(time.Minute).Format(time.RFC3339)
		if perMinute[k]++; perMinute[k] == 20 {
			storms++
		}
		s := key(o.Labels, time.Time{}, time.Time{})
		if perSeries[s]++; perSeries[s] == 6 {
			flapping++
		}
	}
	if storms < 5 || flapping < 3 {
		t.Fatalf("%d storms and %d flapping alerts; want at least 5 and 3", storms, flapping)
	}
	data := filepath.Join(t.TempDir(), "data")
	n, err := alerthistory.WriteBlocks(ctx, data, want, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cluster.StartPrometheus(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	started := time.Now()
	got, err := backtest.History(ctx, p.URL, end.Add(-31*24*time.Hour), end, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d occurrences of %d alert names (%d samples) read back in %s", len(got), len(names), n, time.Since(started).Round(time.Millisecond))
	if len(got) != len(want) {
		t.Errorf("read %d occurrences, generated %d", len(got), len(want))
	}
	generated := map[string]bool{}
	for _, o := range want {
		generated[key(o.Labels, o.Start, o.End)] = true
	}
	missing := 0
	for _, o := range got {
		if !generated[key(o.Labels, o.Start, o.End)] {
			if missing++; missing <= 5 {
				t.Errorf("read an occurrence that was not generated: %v %s–%s", o.Labels, o.Start, o.End)
			}
		}
	}
}

func key(l map[string]string, start, end time.Time) string {
	return backtest.Occurrence{Labels: l, Start: start, End: end}.Key()
}
