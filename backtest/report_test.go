package backtest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// remediationAt is an analyzed remediation of target from start to end (minutes after t0).
func remediationAt(name, ns string, from, to float64, mode string) Decision {
	return Decision{Occurrence: occ(map[string]string{"alertname": name, "namespace": ns}, from, to), Outcome: OutcomeRemediation,
		Target: kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}, Verdict: &Verdict{Mode: mode}}
}

// The timeline holds, per bucket, the remediations started by mode and the most running at
// once — including those that began in an earlier bucket and still run.
func TestTimeline(t *testing.T) {
	decisions := []Decision{
		remediationAt("A", "shop", 0, 200, "Auto"),     // runs across buckets 0–3
		remediationAt("B", "shop", 10, 20, "Manual"),   // bucket 0: 2 at once
		remediationAt("C", "ledger", 130, 140, "Auto"), // bucket 2: 2 at once (A still runs)
		remediationAt("D", "ledger", 131, 135, ModePolicyDenied),
		{Occurrence: occ(map[string]string{"alertname": "A"}, 5, 6), Outcome: OutcomeDuplicate},
	}
	// Six hours: 15-minute buckets would make 24; an hour's 6 — the shortest size ≤ 180
	// buckets is 5 minutes (72).
	r := Summarize(at(0), at(360), decisions)
	if got := r.Bucket.Duration; got != 5*time.Minute || len(r.Timeline) != 72 {
		t.Fatalf("bucket %s, %d slots; want 5m, 72", got, len(r.Timeline))
	}
	// A month: hours would make 720; 6 hours, 120.
	if b := bucketFor(30 * 24 * time.Hour); b != 6*time.Hour {
		t.Errorf("a month in buckets of %s, want 6h", b)
	}
	// A runs 0–200, B 10–20, C 130–140, D 131–135; an end on a bucket's start is not in it.
	most := func(i int) int {
		switch {
		case i == 2 || i == 3 || i == 27:
			return 2
		case i == 26:
			return 3
		case i >= 40:
			return 0
		}
		return 1
	}
	starts := map[int]map[string]int{0: {"Auto": 1}, 2: {"Manual": 1}, 26: {"Auto": 1, ModePolicyDenied: 1}}
	for i, s := range r.Timeline {
		if !s.Start.Equal(at(float64(5 * i))) {
			t.Errorf("slot %d starts %s", i, s.Start)
		}
		if s.MostAtOnce != most(i) || fmt.Sprint(s.Started) != fmt.Sprint(starts[i]) {
			t.Errorf("slot %d: %d at once, started %v; want %d, %v", i, s.MostAtOnce, s.Started, most(i), starts[i])
		}
	}
	if r.MostAtOnce.Count != 3 || !r.MostAtOnce.At.Equal(at(131)) {
		t.Errorf("most at once %+v", r.MostAtOnce)
	}
}

// The plot draws every remediation once, in its bucket and series, and nothing of the labels.
func TestPlot(t *testing.T) {
	decisions := []Decision{
		remediationAt("A", "shop", 0, 200, "Auto"),
		remediationAt("B", "shop", 10, 20, "Manual"),
		remediationAt("B", "shop", 12, 20, "Manual"),
		remediationAt(`<script>alert(1)</script>`, "ledger", 130, 140, ModeTargetGone),
		remediationAt("C", "ledger", 131, 135, ModePolicyDenied),
		remediationAt("C", "ledger", 131, 135, string(kubernautv1.ApprovalRejected)),
	}
	r := Summarize(at(0), at(360), decisions)
	var b bytes.Buffer
	if err := r.Plot(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "script") {
		t.Errorf("an alert's name reached the picture:\n%s", b.String())
	}
	// Read back as XML: the bars per bucket and series.
	got := map[string]int{}
	total, lines := 0, 0
	dec := xml.NewDecoder(&b)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attrs := map[string]string{}
		for _, a := range el.Attr {
			attrs[a.Name.Local] = a.Value
		}
		switch attrs["class"] {
		case "started":
			n, _ := strconv.Atoi(attrs["data-count"])
			got[attrs["data-start"]+" "+attrs["data-series"]] += n
			total += n
			if h, _ := strconv.ParseFloat(attrs["height"], 64); h <= 0 {
				t.Errorf("an empty bar: %v", attrs)
			}
		case "at-once":
			lines++
			if pts := strings.Fields(attrs["points"]); len(pts) != 2*len(r.Timeline) {
				t.Errorf("the line has %d points for %d slots", len(pts), len(r.Timeline))
			}
		}
	}
	want := map[string]int{
		"2026-11-07T10:00:00Z automatic":                              1,
		"2026-11-07T10:10:00Z a person approves":                      2,
		"2026-11-07T12:10:00Z nothing to do (no action, target gone)": 1,
		"2026-11-07T12:10:00Z refused (policy, rejected)":             2,
	}
	if total != len(decisions) || len(got) != len(want) || lines != 1 {
		t.Errorf("bars %v (total %d), %d lines", got, total, lines)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d", k, got[k], n)
		}
	}
}

// The Markdown report: the numbers, the plot, and label values written inert.
func TestMarkdown(t *testing.T) {
	decisions := []Decision{
		remediationAt("KubePodCrashLooping", "shop", 0, 20, "Auto"),
		remediationAt("Evil|<img src=x onerror=alert(1)>[click](http://x)", "shop", 30, 40, "Manual"),
		{Occurrence: occ(map[string]string{"alertname": "KubePodCrashLooping"}, 5, 6), Outcome: OutcomeDuplicate,
			Target: kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"}},
		{Occurrence: occ(map[string]string{"alertname": "KubePodCrashLooping"}, 5, 6), Outcome: OutcomeNotOptedIn,
			Target: kubernautv1.Target{Kind: "Deployment", Namespace: "ledger", Name: "pay"}},
	}
	r := Summarize(at(0), at(60), decisions)
	r.Differences = []Difference{{AlertName: "KubePodCrashLooping", Target: decisions[1].Target, Start: at(30), Current: "Manual", Candidate: "Auto",
		CandidateActions: []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}, BecomesAutomatic: true}}
	r.BecameAutomatic = 1
	var b bytes.Buffer
	if err := r.Markdown(&b, "remediations.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"4 alert occurrences replayed",
		"**2 remediations** would have started; 1 occurrences were duplicates",
		"1 were held back by a guard (skipped: not opted in 1)",
		"**1 automatic**, 1 approved by a person",
		"](remediations.svg)",
		"| KubePodCrashLooping | shop | 2 | 1 | 1 | 0 | 0 | 0 | 1 | 0 |",
		"| KubePodCrashLooping | ledger | 1 | 0 | 0 | 0 | 1 | 0 |",
		"| **Total** | \\- | 4 | 2 | 1 | 0 | 1 | 0 | 1 | 1 |",
		"1 remediations would go otherwise, **1 of them automatic**",
		"| Manual | Auto | \\- | rollback\\_deployment |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"<img", "](http", "Evil|"} {
		if strings.Contains(md, bad) {
			t.Errorf("a label value became markup (%q):\n%s", bad, md)
		}
	}
	if !strings.Contains(md, `Evil\|&lt;img src=x onerror=alert\(1\)&gt;\[click\]\(http://x\)`) {
		t.Errorf("the hostile alert name, inert:\n%s", md)
	}
}
