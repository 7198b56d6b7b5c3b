package backtest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Markdown writes the report as a Markdown page a person reads in a pull request or a wiki:
// what was replayed, the numbers, the plot (an image at plot, relative to the page; none when
// empty), each alert name and namespace, the blast radius, and the decisions a candidate
// policy would change. Label values come from whoever can make alerts: every one is written
// as inert text.
func (r Report) Markdown(out io.Writer, plot string) error {
	w := bufio.NewWriter(out)
	t := r.Totals
	fmt.Fprintf(w, "# Backtest: %s to %s\n\n", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "%d alert occurrences replayed through what Kubernaut would have done, against the cluster as it is now. "+
		"Nothing was changed.\n\n", r.Occurrences)
	fmt.Fprintf(w, "- **%d remediations** would have started; %d occurrences were duplicates of one already running, "+
		"%d storm members folded into a storm's remediation, %d named nothing Kubernaut acts on, %d were held back by a guard%s.\n",
		t.Remediations, t.Duplicates, t.StormMembers, t.NoTarget, sum(t.Skipped), breakdown(t.Skipped))
	m := t.Modes
	fmt.Fprintf(w, "- Of the remediations: **%d automatic**, %d approved by a person, %d observed (shadow), %d rejected, "+
		"%d refused by the safety policy, %d with no action to take, %d whose target is gone.\n",
		m["Auto"], m["Manual"], m["Observe"], m["Rejected"], m[ModePolicyDenied], m[ModeNoAction], m[ModeTargetGone])
	fmt.Fprintf(w, "- Blast radius: at most **%d** remediations at once in the cluster (%s), at most %d nodes at once (%s); "+
		"%d plans would have waited for a slot of the blast-radius limits.\n",
		r.MostAtOnce.Count, when(r.MostAtOnce), r.MostNodesAtOnce.Count, when(r.MostNodesAtOnce), t.Waited)
	if len(t.Actions) > 0 {
		fmt.Fprintf(w, "- Actions planned: %s.\n", counted(t.Actions))
	}
	if plot != "" {
		fmt.Fprintf(w, "\n![Remediations started per %s, by how they would have gone, and the most running at once](%s)\n",
			bucketName(r.Bucket.Duration), plot)
	}

	fmt.Fprint(w, "\n## Per alert and namespace\n\n")
	fmt.Fprintln(w, "| Alert | Namespace | Occurrences | Remediations | Duplicates | Storm members | Held back | No target | Auto | Manual | Observe | Rejected | Denied | No action | Gone | Waited |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, row := range append(append([]Row(nil), r.Rows...), Row{AlertName: "**Total**", Counts: r.Totals}) {
		name := cell(row.AlertName)
		if row.AlertName == "**Total**" {
			name = row.AlertName
		}
		m := row.Modes
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n", name, cell(orDash(row.Namespace)),
			row.Occurrences, row.Remediations, row.Duplicates, row.StormMembers, sum(row.Skipped), row.NoTarget,
			m["Auto"], m["Manual"], m["Observe"], m["Rejected"], m[ModePolicyDenied], m[ModeNoAction], m[ModeTargetGone], row.Waited)
	}

	if len(r.MostAtOncePerNamespace) > 0 {
		fmt.Fprint(w, "\n## Most remediations at once, per namespace\n\n| Namespace | At once | First at |\n|---|--:|---|\n")
		var nss []string
		for ns := range r.MostAtOncePerNamespace {
			nss = append(nss, ns)
		}
		sort.Strings(nss)
		for _, ns := range nss {
			p := r.MostAtOncePerNamespace[ns]
			fmt.Fprintf(w, "| %s | %d | %s |\n", cell(ns), p.Count, when(p))
		}
	}

	if r.Differences != nil || r.BecameAutomatic > 0 {
		fmt.Fprintf(w, "\n## Under the candidate policies\n\n%d remediations would go otherwise, **%d of them automatic** that were not.\n",
			len(r.Differences), r.BecameAutomatic)
		if len(r.Differences) > 0 {
			fmt.Fprint(w, "\n| Start | Alert | Target | Now | Candidate | Actions now | Actions candidate |\n|---|---|---|---|---|---|---|\n")
			for _, d := range r.Differences {
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", d.Start.UTC().Format(time.RFC3339), cell(d.AlertName), cell(d.Target.String()),
					cell(d.Current), cell(d.Candidate), cell(orDash(kubernautv1.JoinActions(d.CurrentActions))), cell(orDash(kubernautv1.JoinActions(d.CandidateActions))))
			}
		}
	}
	return w.Flush()
}

// cell is s as inert text in a Markdown table cell: no markup, no HTML, no link, one line.
func cell(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\n' || c == '\r' || c == '\t':
			b.WriteByte(' ')
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c == '&':
			b.WriteString("&amp;")
		case strings.ContainsRune("\\`*_{}[]()#+-.!|~", c):
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// breakdown is " (reason n, …)" for a non-empty map.
func breakdown(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return " (" + counted(m) + ")"
}

// counted is "key n, key n" in key order (the keys are Kubernaut's own words: actions,
// outcomes).
func counted(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(keys, ", ")
}
