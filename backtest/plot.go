package backtest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// The plot's series, bottom to top, with their colours: how the remediations started in a
// bucket would have gone.
type style struct {
	label, colour string
	modes         []string
}

var series = []style{
	{"automatic", "#2e7d32", []string{string(kubernautv1.ApprovalAuto)}},
	{"a person approves", "#1565c0", []string{string(kubernautv1.ApprovalManual)}},
	{"observed (shadow)", "#9e9e9e", []string{string(kubernautv1.ApprovalObserve)}},
	{"refused (policy, rejected)", "#c62828", []string{string(kubernautv1.ApprovalRejected), ModePolicyDenied}},
	{"nothing to do (no action, target gone)", "#d7ccc8", []string{ModeNoAction, ModeTargetGone, ""}},
}

const (
	plotWidth, plotHeight                           = 960, 400
	marginLeft, marginRight, marginTop, marginBelow = 56, 16, 40, 96
)

// Plot writes the report's timeline as an SVG image: per bucket, a bar of the remediations
// started, stacked by how they would have gone, and a line of the most running at once. Every
// bar carries its numbers (data-* attributes and a tooltip), so the picture can be checked.
func (r Report) Plot(out io.Writer) error {
	w := bufio.NewWriter(out)
	innerW, innerH := float64(plotWidth-marginLeft-marginRight), float64(plotHeight-marginTop-marginBelow)
	top := 1
	for _, s := range r.Timeline {
		top = max(top, sum(s.Started), s.MostAtOnce)
	}
	step := niceStep(top)
	top = (top + step - 1) / step * step
	y := func(v int) float64 { return float64(marginTop) + innerH*(1-float64(v)/float64(top)) }
	n := max(len(r.Timeline), 1)
	slotW := innerW / float64(n)
	x := func(i int) float64 { return float64(marginLeft) + slotW*float64(i) }

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", plotWidth, plotHeight)
	fmt.Fprintf(w, `<text x="%d" y="20" font-size="14" font-weight="bold">Remediations started per %s, by how they would have gone; the line: most running at once</text>`+"\n",
		marginLeft, bucketName(r.Bucket.Duration))
	// The grid and the y axis.
	for v := 0; v <= top; v += step {
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", marginLeft, plotWidth-marginRight, y(v), y(v))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n", marginLeft-6, y(v)+4, v)
	}
	// The bars.
	for i, s := range r.Timeline {
		base := 0
		for _, se := range series {
			c := 0
			for _, m := range se.modes {
				c += s.Started[m]
			}
			if c == 0 {
				continue
			}
			fmt.Fprintf(w, `<rect class="started" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s" data-start="%s" data-series="%s" data-count="%d"><title>%s: %d %s</title></rect>`+"\n",
				x(i)+slotW*0.1, y(base+c), math.Max(slotW*0.8, 0.5), y(base)-y(base+c), se.colour,
				s.Start.UTC().Format(time.RFC3339), se.label, c, s.Start.UTC().Format("2006-01-02 15:04"), c, se.label)
			base += c
		}
	}
	// The most at once, as steps.
	fmt.Fprint(w, `<polyline class="at-once" fill="none" stroke="#ef6c00" stroke-width="2" points="`)
	for i, s := range r.Timeline {
		fmt.Fprintf(w, "%.2f,%.2f %.2f,%.2f ", x(i), y(s.MostAtOnce), x(i+1), y(s.MostAtOnce))
	}
	fmt.Fprint(w, "\"/>\n")
	// The x axis: about eight dates.
	fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#616161"/>`+"\n", marginLeft, plotWidth-marginRight, y(0), y(0))
	every := max(1, n/8)
	layout := "Jan 2"
	if r.Bucket.Duration*time.Duration(n) <= 48*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := 0; i < len(r.Timeline); i += every {
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#616161"/>`+"\n", x(i), x(i), y(0), y(0)+4)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(i), y(0)+18, r.Timeline[i].Start.UTC().Format(layout))
	}
	// The legend.
	lx, ly := float64(marginLeft), float64(plotHeight-marginBelow)+44
	for _, se := range append(series[:len(series):len(series)], style{"most running at once", "#ef6c00", nil}) {
		fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n", lx, ly-10, se.colour, lx+16, ly, se.label)
		lx += 24 + 6.5*float64(len(se.label))
		if lx > plotWidth-200 {
			lx, ly = float64(marginLeft), ly+20
		}
	}
	fmt.Fprint(w, "</svg>\n")
	return w.Flush()
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten giving about five lines up to top.
func niceStep(top int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if top <= 5*m*p {
				return m * p
			}
		}
	}
}

func bucketName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	case 24 * time.Hour:
		return "day"
	}
	return duration.HumanDuration(d)
}
