// Command dashboards writes Kubernaut's Grafana dashboards (an overview, the controller, the
// gateway) as JSON files that Grafana imports, built with Grafana's own Foundation SDK so that
// they follow its dashboard schema. `make generate` runs it into manifests/monitoring/dashboards;
// test/monitoring checks every query against the metrics Kubernaut exports.
//
//	go run ./hack/dashboards manifests/monitoring/dashboards
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dashboards <output folder>")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

// write builds every dashboard and writes it as <uid>.json into dir.
func write(dir string) error {
	for _, b := range []*dashboard.DashboardBuilder{overview(), controller(), gateway()} {
		d, err := b.Build()
		if err != nil {
			return fmt.Errorf("building a dashboard: %w", err)
		}
		numberPanels(&d)
		out, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding dashboard %s: %w", *d.Uid, err)
		}
		path := filepath.Join(dir, *d.Uid+".json")
		if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// numberPanels gives every panel and row a unique id, in order: Grafana keys panel links,
// view-panel URLs and library panels by it.
func numberPanels(d *dashboard.Dashboard) {
	id := uint32(0)
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			n := id
			p.Panel.Id = &n
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}
