package monitoring

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"

	"github.com/kubernaut/kubernaut/gateway"
)

// receiversFor routes an alert's labels through the example's route tree as Alertmanager's
// dispatcher does and returns the receivers it reaches.
func receiversFor(root *dispatch.Route, ls model.LabelSet) []string {
	var out []string
	for _, r := range root.Match(ls) {
		out = append(out, r.RouteOpts.Receiver)
	}
	sort.Strings(out)
	return out
}

// The Alertmanager example loads in Alertmanager's own config loader, sends Kubernaut the
// workload alerts (with the bearer token from a file, resolved notifications, every alert of
// a group) while on-call still gets everything, and never sends Kubernaut its own alerts.
func TestAlertmanagerExample(t *testing.T) {
	path := filepath.Join(monitoringDir, "alertmanager.yml")
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("Alertmanager refuses %s: %v", path, err)
	}
	var kubernaut *config.Receiver
	for i := range cfg.Receivers {
		if cfg.Receivers[i].Name == "kubernaut" {
			kubernaut = &cfg.Receivers[i]
		}
	}
	if kubernaut == nil || len(kubernaut.WebhookConfigs) != 1 {
		t.Fatalf("no kubernaut receiver with one webhook in %s", path)
	}
	wh := kubernaut.WebhookConfigs[0]
	if u := string(wh.URL); !strings.HasSuffix(u, gateway.AlertmanagerPath) || !strings.Contains(u, "kubernaut-gateway.kubernaut-system.svc:8090") {
		t.Errorf("webhook URL %q, want the gateway Service's %s", u, gateway.AlertmanagerPath)
	}
	if !wh.SendResolved() || wh.MaxAlerts != 0 {
		t.Errorf("send_resolved %v, max_alerts %d: want resolved notifications and every alert", wh.SendResolved(), wh.MaxAlerts)
	}
	auth := wh.HTTPConfig.Authorization
	if auth == nil || auth.Type != "Bearer" || auth.CredentialsFile == "" || auth.Credentials != "" {
		t.Errorf("authorization %+v, want a bearer token read from a file", auth)
	}

	root := dispatch.NewRoute(cfg.Route, nil)
	for _, tc := range []struct {
		labels model.LabelSet
		want   string
	}{
		{model.LabelSet{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop", "pod": "web-1"}, "kubernaut oncall"},
		{model.LabelSet{"alertname": "KubeDeploymentReplicasMismatch", "severity": "critical", "namespace": "shop", "deployment": "web"}, "kubernaut oncall"},
		{model.LabelSet{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop", "kubernaut": "false"}, "oncall"},
		{model.LabelSet{"alertname": "KubePodCrashLooping", "severity": "info", "namespace": "shop"}, "oncall"},
		{model.LabelSet{"alertname": "KubernautCompensationFailed", "severity": "critical", "namespace": "kubernaut-system"}, "oncall"},
		{model.LabelSet{"alertname": "KubernautGatewayDown", "severity": "critical"}, "oncall"},
		{model.LabelSet{"alertname": "Watchdog", "severity": "none"}, "oncall"},
	} {
		if got := strings.Join(receiversFor(root, tc.labels), " "); got != tc.want {
			t.Errorf("%v reaches %q, want %q", tc.labels, got, tc.want)
		}
	}
}

// The loader used above refuses what Alertmanager refuses (so the test above can fail): a
// webhook route to a receiver that does not exist, a token both inline and from a file.
func TestAlertmanagerLoaderRefusesBrokenExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]string{
		"unknown receiver": strings.Replace(string(raw), "  - receiver: kubernaut\n", "  - receiver: kubernaut-typo\n", 1),
		"two credentials":  strings.Replace(string(raw), "        type: Bearer\n", "        type: Bearer\n        credentials: inline\n", 1),
	} {
		if broken == string(raw) {
			t.Fatalf("%s: the example changed; this test's edit no longer applies", name)
		}
		if _, err := config.Load(broken); err == nil {
			t.Errorf("%s: Alertmanager's loader accepted it", name)
		}
	}
}
