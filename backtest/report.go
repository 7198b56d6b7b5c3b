package backtest

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Report is what a backtest found: per alert name and namespace, and the blast radius over
// time.
type Report struct {
	// From and To bound the history read.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Occurrences counts the alert occurrences read.
	Occurrences int `json:"occurrences"`
	// Rows are per alert name and namespace ("" for cluster-scoped targets), sorted.
	Rows []Row `json:"rows"`
	// Totals adds the rows up.
	Totals Counts `json:"totals"`
	// MostAtOnce is the most remediations running at once in the cluster, and when;
	// MostAtOncePerNamespace per namespace.
	MostAtOnce             Peak            `json:"mostAtOnce"`
	MostAtOncePerNamespace map[string]Peak `json:"mostAtOncePerNamespace"`
	// MostNodesAtOnce is the most nodes with a remediation running at once, and when.
	MostNodesAtOnce Peak `json:"mostNodesAtOnce"`
	// Timeline is the remediations over time, in buckets of Bucket (at most MaxBuckets of
	// them from From to To): what the report's plot draws.
	Bucket   metav1.Duration `json:"bucket"`
	Timeline []Slot          `json:"timeline"`
	// Differences are the remediations that would go otherwise under the candidate policies
	// (--policy-dir), BecameAutomatic how many of them would run without a person and did not.
	Differences     []Difference `json:"differences,omitempty"`
	BecameAutomatic int          `json:"becameAutomatic,omitempty"`
}

// Row is one alert name in one namespace.
type Row struct {
	AlertName string `json:"alertName"`
	Namespace string `json:"namespace"`
	Counts
}

// Counts are what became of occurrences.
type Counts struct {
	// Occurrences read; Remediations the chain would have started (past the gateway and the
	// guards); the rest by outcome.
	Occurrences  int `json:"occurrences"`
	Remediations int `json:"remediations"`
	Duplicates   int `json:"duplicates"`
	StormMembers int `json:"stormMembers"`
	NoTarget     int `json:"noTarget"`
	// Skipped counts the remediations a guard held back, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
	// Modes counts the analyzed remediations by how their plan would have gone (Auto,
	// Manual, Observe, Rejected, no-action, target-gone); Actions the planned actions.
	Modes   map[string]int `json:"modes,omitempty"`
	Actions map[string]int `json:"actions,omitempty"`
	// Waited counts the plans that would have waited for a slot of the blast-radius limits.
	Waited int `json:"waited,omitempty"`
}

// Slot is one bucket of the timeline.
type Slot struct {
	// Start is when the bucket begins.
	Start time.Time `json:"start"`
	// Started counts the remediations started in it, by how their plan would have gone
	// (Verdict.Mode; "" when not analyzed).
	Started map[string]int `json:"started,omitempty"`
	// MostAtOnce is the most remediations running at once in the cluster during it.
	MostAtOnce int `json:"mostAtOnce"`
}

// Peak is a maximum over time and when it was first reached.
type Peak struct {
	Count int       `json:"count"`
	At    time.Time `json:"at,omitzero"`
}

func (c *Counts) add(d Decision) {
	c.Occurrences++
	switch d.Outcome {
	case OutcomeRemediation:
		c.Remediations++
		if d.Waited {
			c.Waited++
		}
		if v := d.Verdict; v != nil {
			if c.Modes == nil {
				c.Modes = map[string]int{}
			}
			c.Modes[v.Mode]++
			for _, a := range v.Actions {
				if c.Actions == nil {
					c.Actions = map[string]int{}
				}
				c.Actions[string(a)]++
			}
		}
	case OutcomeDuplicate:
		c.Duplicates++
	case OutcomeStormMember:
		c.StormMembers++
	case OutcomeNoTarget:
		c.NoTarget++
	default:
		if c.Skipped == nil {
			c.Skipped = map[string]int{}
		}
		c.Skipped[d.Outcome]++
	}
}

// Summarize builds the report of decisions made over [from, to).
func Summarize(from, to time.Time, decisions []Decision) Report {
	r := Report{From: from, To: to, Occurrences: len(decisions), MostAtOncePerNamespace: map[string]Peak{}}
	rows := map[[2]string]*Row{}
	type edge struct {
		at    time.Time
		delta int
		ns    string
		node  string
	}
	var edges []edge
	for _, d := range decisions {
		k := [2]string{d.Labels["alertname"], d.Target.Namespace}
		if rows[k] == nil {
			rows[k] = &Row{AlertName: k[0], Namespace: k[1]}
		}
		rows[k].add(d)
		r.Totals.add(d)
		if d.Outcome == OutcomeRemediation {
			node := ""
			if d.Target.Kind == "Node" {
				node = d.Target.Name
			}
			edges = append(edges, edge{d.Start, 1, d.Target.Namespace, node}, edge{d.End, -1, d.Target.Namespace, node})
		}
	}
	for _, row := range rows {
		r.Rows = append(r.Rows, *row)
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		if r.Rows[i].AlertName != r.Rows[j].AlertName {
			return r.Rows[i].AlertName < r.Rows[j].AlertName
		}
		return r.Rows[i].Namespace < r.Rows[j].Namespace
	})
	// Ends before starts at the same instant: a remediation that ends as another starts is not
	// beside it.
	sort.SliceStable(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	r.Bucket = metav1.Duration{Duration: bucketFor(to.Sub(from))}
	r.Timeline = make([]Slot, max(1, slotOf(from, r.Bucket, to.Add(-time.Nanosecond))+1))
	for i := range r.Timeline {
		r.Timeline[i].Start = from.Add(time.Duration(i) * r.Bucket.Duration)
	}
	for _, d := range decisions {
		if d.Outcome != OutcomeRemediation {
			continue
		}
		slot := &r.Timeline[clamp(slotOf(from, r.Bucket, d.Start), len(r.Timeline))]
		if slot.Started == nil {
			slot.Started = map[string]int{}
		}
		mode := ""
		if d.Verdict != nil {
			mode = d.Verdict.Mode
		}
		slot.Started[mode]++
	}
	total, perNS, nodes := 0, map[string]int{}, map[string]int{}
	last := -1
	for _, e := range edges {
		// The buckets passed over hold what ran across them.
		i := clamp(slotOf(from, r.Bucket, e.at), len(r.Timeline))
		for ; last < i; last++ {
			// The count before this edge ran across the buckets after the last edge's, and
			// into this one unless the edge falls on its start.
			if last+1 < i || e.at.After(r.Timeline[i].Start) {
				r.Timeline[last+1].MostAtOnce = max(r.Timeline[last+1].MostAtOnce, total)
			}
		}
		total += e.delta
		r.Timeline[i].MostAtOnce = max(r.Timeline[i].MostAtOnce, total)
		if total > r.MostAtOnce.Count {
			r.MostAtOnce = Peak{total, e.at}
		}
		if e.ns != "" {
			perNS[e.ns] += e.delta
			if perNS[e.ns] > r.MostAtOncePerNamespace[e.ns].Count {
				r.MostAtOncePerNamespace[e.ns] = Peak{perNS[e.ns], e.at}
			}
		}
		if e.node != "" {
			nodes[e.node] += e.delta
			if nodes[e.node] == 0 {
				delete(nodes, e.node)
			}
			if len(nodes) > r.MostNodesAtOnce.Count {
				r.MostNodesAtOnce = Peak{len(nodes), e.at}
			}
		}
	}
	return r
}

// MaxBuckets bounds the timeline: a plot a person reads.
const MaxBuckets = 180

// bucketFor is the shortest of the usual bucket sizes that cuts span into at most MaxBuckets.
func bucketFor(span time.Duration) time.Duration {
	for _, b := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span <= time.Duration(MaxBuckets)*b {
			return b
		}
	}
	return span/MaxBuckets + 1
}

// slotOf is the bucket of at; clamp keeps it in the timeline (a remediation that began
// before the window, or ends after it).
func slotOf(from time.Time, bucket metav1.Duration, at time.Time) int {
	return int(at.Sub(from) / bucket.Duration)
}

func clamp(i, n int) int {
	return min(max(i, 0), n-1)
}

// Print writes the report as a table a person reads.
func (r Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "Backtest of %d alert occurrences, %s to %s\n\n", r.Occurrences, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tNAMESPACE\tOCCURRENCES\tREMEDIATIONS\tDUPLICATES\tSTORM MEMBERS\tSKIPPED\tNO TARGET\tAUTO\tMANUAL\tOBSERVE\tREJECTED\tDENIED\tNO ACTION\tGONE\tWAITED")
	for _, row := range append(append([]Row(nil), r.Rows...), Row{AlertName: "TOTAL", Counts: r.Totals}) {
		m := row.Modes
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", row.AlertName, orDash(row.Namespace), row.Occurrences, row.Remediations,
			row.Duplicates, row.StormMembers, sum(row.Skipped), row.NoTarget, m["Auto"], m["Manual"], m["Observe"], m["Rejected"], m[ModePolicyDenied], m[ModeNoAction], m[ModeTargetGone], row.Waited)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nMost remediations at once: %d in the cluster (%s)", r.MostAtOnce.Count, when(r.MostAtOnce))
	var nss []string
	for ns := range r.MostAtOncePerNamespace {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		fmt.Fprintf(w, "; %d in %s", r.MostAtOncePerNamespace[ns].Count, ns)
	}
	fmt.Fprintf(w, "\nMost nodes remediated at once: %d (%s)\n", r.MostNodesAtOnce.Count, when(r.MostNodesAtOnce))
	if len(r.Totals.Actions) > 0 {
		fmt.Fprintf(w, "Actions planned: %s\n", counted(r.Totals.Actions))
	}
	return nil
}

func when(p Peak) string {
	if p.At.IsZero() {
		return "never"
	}
	return p.At.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
