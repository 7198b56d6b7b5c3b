package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// datasource is the dashboards' Prometheus, chosen by the "datasource" variable on import.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// query is one PromQL expression and the legend of its series.
type query struct{ expr, legend string }

func q(expr, legend string) query { return query{expr, legend} }

// base starts a dashboard with the variables every Kubernaut dashboard has: the Prometheus
// data source and the namespace Kubernaut runs in (the ServiceMonitors' namespace label).
func base(uid, title, description string) *dashboard.DashboardBuilder {
	ns := "label_values(up{job=~\"kubernaut-controller-metrics|kubernaut-gateway\"}, namespace)"
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"kubernaut"}).
		Editable().
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("Kubernaut").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"kubernaut"}).AsDropdown(true).IncludeVars(true).KeepTime(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("namespace").Label("Namespace").
			Datasource(datasource).
			Query(dashboard.StringOrMap{String: cog.ToPtr(ns)}).
			Definition(ns).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc))
}

func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, x := range qs {
		out = append(out, prometheus.NewDataqueryBuilder().RefId(string(rune('A'+i))).Expr(x.expr).LegendFormat(x.legend).Range())
	}
	return out
}

// series is a time-series panel, w of 24 columns wide.
func series(title, description, unit string, w uint32, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Unit(unit).
		Min(0).
		Span(w).
		Height(8).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Targets(targets(qs))
}

// stacked is a time-series panel whose series stack (parts of a whole: outcomes, phases).
func stacked(title, description, unit string, w uint32, qs ...query) *timeseries.PanelBuilder {
	return series(title, description, unit, w, qs...).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
		FillOpacity(40)
}

// single is a stat panel showing the last value of one expression; red from the threshold
// on (nil: no threshold).
func single(title, description, unit string, w uint32, red *float64, x query) *stat.PanelBuilder {
	steps := []dashboard.Threshold{{Color: "green"}}
	if red != nil {
		steps = append(steps, dashboard.Threshold{Value: red, Color: "red"})
	}
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Unit(unit).
		Span(w).
		Height(4).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)).
		Targets(targets([]query{x}))
}

func row(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }

func at(v float64) *float64 { return &v }
