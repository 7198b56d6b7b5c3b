package monitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// monitoringDir is manifests/monitoring, from this package's folder.
var monitoringDir = filepath.Join("..", "..", "manifests", "monitoring")

var promql = parser.NewParser(parser.Options{})

// loadRules reads the PrometheusRule's groups and validates them as `promtool check rules`
// does (rulefmt: known fields, PromQL, templates, names, no duplicates within a group).
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &pr); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if pr.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml holds a %s", pr.Kind)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, promql, promslog.NewNopLogger())
	for _, err := range errs {
		t.Errorf("prometheusrule.yaml: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// panelQuery is one query of a dashboard panel.
type panelQuery struct {
	dashboard, panel, expr string
}

// dashboardQueries reads every panel target and templating query of the dashboards.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(monitoringDir, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", monitoringDir, err)
	}
	var out []panelQuery
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				ID      *int   `json:"id"`
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					Expr  string `json:"expr"`
					RefID string `json:"refId"`
				} `json:"targets"`
				Datasource *struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID+".json" != filepath.Base(f) {
			t.Errorf("%s: uid %q does not match its file name", f, d.UID)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if p.ID == nil || ids[*p.ID] {
				t.Errorf("%s: panel %q has a missing or repeated id", f, p.Title)
			} else {
				ids[*p.ID] = true
			}
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q does not use the datasource variable", f, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.RefID == "" {
					t.Errorf("%s: a query of panel %q has no refId", f, p.Title)
				}
				out = append(out, panelQuery{dashboard: d.UID, panel: p.Title, expr: tg.Expr})
			}
		}
	}
	return out
}

// grafanaVariables replaces the dashboards' variables by values PromQL parses.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$namespace", "kubernaut-system")

// checkExpr parses expr and checks that every selector names a catalogued series and only
// labels that series carries (or Prometheus' target labels).
func checkExpr(cat catalogue, where, expr string) []string {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", where, err)}
	}
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		have, ok := cat[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: metric %q is not exported by Kubernaut", where, name))
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName || have[m.Name] || contains(targetLabels, m.Name) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: metric %s has no label %q (it has %v)", where, name, m.Name, sortedKeys(have)))
		}
		return nil
	})
	return problems
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := keys(m)
	sort.Strings(out)
	return out
}

// Every rule names only what Kubernaut exports (and what the recording rules record), and
// every alert has a severity, a summary, a description and a runbook section that exists.
func TestRulesNameOnlyExportedMetrics(t *testing.T) {
	cat := exportedMetrics(t)
	groups := loadRules(t)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				cat[r.Record] = map[string]bool{"outcome": true}
			}
		}
	}
	runbook, err := os.ReadFile(filepath.Join("..", "..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			for _, p := range checkExpr(cat, g.Name+"/"+name, r.Expr) {
				t.Error(p)
			}
			if r.Alert == "" {
				continue
			}
			alerts++
			if !strings.HasPrefix(r.Alert, "Kubernaut") {
				t.Errorf("alert %s: its name must start with Kubernaut (the Alertmanager example keeps those from the gateway)", r.Alert)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			const prefix = "https://github.com/kubernaut/kubernaut/blob/main/docs/runbook.md#"
			if u := r.Annotations["runbook_url"]; !strings.HasPrefix(u, prefix) || !anchors[strings.TrimPrefix(u, prefix)] {
				t.Errorf("alert %s: runbook_url %q does not point at a section of docs/runbook.md", r.Alert, u)
			}
		}
	}
	if alerts < 15 {
		t.Errorf("%d alerts, want the whole set", alerts)
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every dashboard query parses and names only exported metrics, labels and recorded series.
func TestDashboardsQueryExportedMetrics(t *testing.T) {
	cat := exportedMetrics(t)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				cat[r.Record] = map[string]bool{}
			}
		}
	}
	qs := dashboardQueries(t)
	if len(qs) < 30 {
		t.Errorf("%d dashboard queries, want the three dashboards' panels", len(qs))
	}
	for _, q := range qs {
		for _, p := range checkExpr(cat, q.dashboard+"/"+q.panel, grafanaVariables.Replace(q.expr)) {
			t.Error(p)
		}
	}
}

// The checks above fail on what they guard against: an unknown metric, an unknown label, a
// query that does not parse.
func TestCheckExprCatchesMistakes(t *testing.T) {
	cat := exportedMetrics(t)
	for expr, want := range map[string]string{
		`sum(rate(kubernaut_remediation_total[5m]))`:                   `metric "kubernaut_remediation_total" is not exported`,
		`kubernaut_remediations_total{result="Failed"}`:                `has no label "result"`,
		`rate(kubernaut_gateway_request_duration_seconds_count[5m]`:    `unclosed left parenthesis`,
		`kubernaut_remediations{phase="Failed"} > bool`:                `unexpected end of input`,
		`histogram_quantile(0.9, kubernaut_remediations_total_bucket)`: `not exported`,
	} {
		problems := checkExpr(cat, "test", expr)
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "; "), want) {
			t.Errorf("%s: problems %v, want one with %q", expr, problems, want)
		}
	}
	if p := checkExpr(cat, "test", `sum by (outcome) (rate(kubernaut_remediations_total{job="x",outcome="Failed"}[5m]))`); len(p) > 0 {
		t.Errorf("a good expression was refused: %v", p)
	}
}

// Each dashboard decodes strictly into Grafana's own dashboard schema (the Foundation SDK's
// types, panel options by panel type: an unknown or mistyped field fails) and passes its
// validation — what Grafana's import needs of the JSON; a broken copy is refused, so the check
// can fail. (The queries' own fields are not checked strictly by the SDK; their PromQL is, above.)
func TestDashboardsFollowGrafanasSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins() // panel options and queries decode by panel and datasource type
	files, err := filepath.Glob(filepath.Join(monitoringDir, "dashboards", "*.json"))
	if err != nil || len(files) != 3 {
		t.Fatalf("dashboards: %v %v, want three", files, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard
		if err := sdkError(d.UnmarshalJSONStrict(raw)); err != nil {
			t.Errorf("%s: not Grafana's dashboard schema: %v", f, err)
			continue
		}
		if err := sdkError(d.Validate()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for what, edit := range map[string][2]string{
		"a mistyped dashboard field":            {`"graphTooltip": 1`, `"graphTooltip": "crosshair"`},
		"an unknown option of a panel's legend": {`"displayMode": "list"`, `"displayMode": "list", "placementt": "bottom"`},
	} {
		broken := strings.Replace(string(mustReadDashboard(t, files[0])), edit[0], edit[1], 1)
		var d dashboard.Dashboard
		if err := sdkError(d.UnmarshalJSONStrict([]byte(broken))); err == nil {
			t.Errorf("%s decoded without error: the check above cannot fail", what)
		}
	}
}

// sdkError turns the SDK's empty error list (a typed nil it returns for success) into nil.
func sdkError(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func mustReadDashboard(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
