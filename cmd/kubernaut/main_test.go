package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubernaut/kubernaut/test/cluster"
)

func TestBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"serve"}, `unknown command "serve"`},
		{"unknown flag", []string{"gateway", "--listen", ":1"}, "flag provided but not defined: -listen"},
		{"stray argument", []string{"controller", "extra"}, `kubernaut controller takes no arguments, got ["extra"]`},
		{"bad duration", []string{"gateway", "--gateway-request-timeout", "soon"}, `invalid value "soon" for flag -gateway-request-timeout`},
		{"non-positive timeout", []string{"local", "--gateway-request-timeout", "0s"}, "--gateway-request-timeout must be positive"},
		{"leader lease shorter than its renewal", []string{"controller", "--leader-elect-lease-duration", "5s"}, "leader election needs 0 < --leader-elect-retry-period (2s) < --leader-elect-renew-deadline (10s) < --leader-elect-lease-duration (5s)"},
		{"unknown analyzer", []string{"controller", "--analyzer", "oracle"}, `--analyzer "oracle": want rules or holmesgpt`},
		{"holmesgpt without a URL", []string{"controller", "--analyzer", "holmesgpt"}, "--analyzer holmesgpt needs --holmesgpt-url"},
		{"thresholds upside down", []string{"controller", "--auto-approve-threshold", "0.5", "--reject-threshold", "0.8"}, "thresholds must satisfy"},
		{"no token file", []string{"gateway"}, "--gateway-token-file or --gateway-token-review is required"},
		{"profiles beside the webhooks", []string{"gateway", "--gateway-token-file", "/dev/null", "--gateway-profiling"}, "--gateway-profiling needs --gateway-metrics-bind-address"},
		{"unreadable token file", []string{"gateway", "--gateway-token-file", "/nonexistent/tokens", "--kubeconfig", "/dev/null"}, "reading bearer tokens from /nonexistent/tokens"},
		{"token file without a token", []string{"gateway", "--gateway-token-file", "/dev/null"}, "bearer token file /dev/null holds no token"},
		{"a node selector without a value", []string{"controller", "--job-node-selector", "pool"}, `--job-node-selector "pool": want key=value`},
		{"a Slack URL file that is not there", []string{"controller", "--notify-slack-url-file", "/nonexistent/slack-url"}, `--notify-slack-url-file: stat /nonexistent/slack-url: no such file or directory`},
		{"a notification interval too short", []string{"controller", "--notify-interval", "10ms"}, `--notify-interval 10ms: want at least 1s`},
		{"a toleration with an unknown effect", []string{"controller", "--job-tolerations", "dedicated=actions:NoRun"}, `--job-tolerations "dedicated=actions:NoRun": effect "NoRun"`},
		{"unreadable kubeconfig", []string{"controller", "--kubeconfig", "/nonexistent/kubeconfig"}, `kubeconfig "/nonexistent/kubeconfig"`},
		{"a Job request above its limit", []string{"controller", "--job-cpu-request", "1", "--job-cpu-limit", "500m"}, "--job-cpu-request (1) is above --job-cpu-limit (500m)"},
		{"a Job quantity that is not one", []string{"controller", "--job-memory-limit", "lots"}, `invalid value "lots" for flag -job-memory-limit`},
		{"no Job memory", []string{"controller", "--job-memory-request", "0"}, `invalid value "0" for flag -job-memory-request: must be positive`},
		{"learning from no samples", []string{"controller", "--learning-min-samples", "0"}, "--learning-min-samples must be at least 1, got 0"},
		{"learning that gains more than it may", []string{"controller", "--learning-max-gain", "0.6"}, "--learning-max-gain (0.6) must be within [0, 0.5]"},
		{"a storm of no members", []string{"gateway", "--storm-max-members", "0", "--gateway-token-review"}, "--storm-max-members must be at least 1, got 0"},
		{"a backtest without Prometheus", []string{"backtest"}, "--prometheus-url is required"},
		{"a backtest of no days", []string{"backtest", "--prometheus-url", "http://127.0.0.1:9", "--since", "0d"}, `--since "0d": want a positive number of days`},
		{"a backtest in no format", []string{"backtest", "--prometheus-url", "http://127.0.0.1:9", "-o", "svg"}, `-o "svg": want table or json`},
		{"a trust agreement above one", []string{"controller", "--trust-agreement", "1.5"}, "--trust-agreement must be in (0, 1], got 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tc.args, io.Discard, &stderr)
			if err == nil {
				t.Fatalf("run(%q) succeeded, want an error containing %q", tc.args, tc.want)
			}
			if got := err.Error() + stderr.String(); !strings.Contains(got, tc.want) {
				t.Fatalf("run(%q) = %q, want it to contain %q", tc.args, got, tc.want)
			}
		})
	}
}

// TestLocalServesHealthReadinessAndMetrics runs `kubernaut local` against a real API server
// and checks every endpoint of both parts.
func TestLocalServesHealthReadinessAndMetrics(t *testing.T) {
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	env, err := cluster.Start(context.Background(), cluster.Options{CRDDirs: []string{filepath.Join(root, "manifests", "crd", "bases")}})
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	t.Cleanup(env.Stop)
	kubeconfig := env.Kubeconfig

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# rotated monthly\nsecret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"local", "--kubeconfig", kubeconfig,
			"--metrics-bind-address", addrs[0], "--health-probe-bind-address", addrs[1],
			"--gateway-bind-address", addrs[2], "--gateway-metrics-bind-address", addrs[3], "--gateway-token-file", tokens}, io.Discard, io.Discard)
	}()

	for _, u := range []struct{ url, body string }{
		{"http://" + addrs[1] + "/healthz", "ok"},
		{"http://" + addrs[1] + "/readyz", "ok"},
		{"http://" + addrs[0] + "/metrics", "controller_runtime_"},
		// The inventory (registered as the process registers it, reporting while it leads).
		{"http://" + addrs[0] + "/metrics", `kubernaut_remediations{phase="AwaitingApproval"} 0`},
		{"http://" + addrs[2] + "/healthz", "ok"},
		{"http://" + addrs[2] + "/readyz", "ok"},
		{"http://" + addrs[3] + "/metrics", "kubernaut_gateway_pending_duplicates"},
	} {
		if err := poll(ctx, u.url, u.body); err != nil {
			cancel()
			select {
			case runErr := <-done:
				t.Fatalf("%v; kubernaut local had ended: %v", err, runErr)
			default:
				t.Fatal(err)
			}
		}
	}

	if resp, err := http.Get("http://" + addrs[2] + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the gateway's /metrics beside its webhooks with --gateway-metrics-bind-address: %v %v, want 404", resp, err)
	} else {
		_ = resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kubernaut local ended with an error after cancellation: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kubernaut local did not stop within 30s of cancellation")
	}
}

// poll GETs url until it answers 200 with a body containing want, or 30 s pass.
func poll(ctx context.Context, url, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return nil
			}
			last = fmt.Sprintf("%s: %.200s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s never answered 200 with %q; last answer: %s", url, want, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Addr().String())
		defer func() { _ = l.Close() }()
	}
	return out
}

// The tuning flags reach what they tune.
func TestTuningFlags(t *testing.T) {
	o, err := parseOptions("local", []string{"--job-cpu-request", "100m", "--job-memory-limit", "1Gi", "--learning-min-samples", "5",
		"--learning-max-gain", "0.1", "--learning-max-loss", "0.2", "--storm-max-members", "50", "--gateway-token-review"}, io.Discard, true, true)
	if err != nil {
		t.Fatal(err)
	}
	r := o.execution.jobResources()
	if cpu, mem := r.Requests[corev1.ResourceCPU], r.Limits[corev1.ResourceMemory]; cpu.String() != "100m" || mem.String() != "1Gi" {
		t.Errorf("Job resources %v", r)
	}
	if cpu, mem := r.Limits[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory]; cpu.String() != "500m" || mem.String() != "64Mi" {
		t.Errorf("Job resources %v: the defaults are 500m and 64Mi", r)
	}
	if a := o.analysis; a.learningMinSamples != 5 || a.learningMaxGain != 0.1 || a.learningMaxLoss != 0.2 {
		t.Errorf("learning %d %v %v", a.learningMinSamples, a.learningMaxGain, a.learningMaxLoss)
	}
	if o.gateway.Recorder.MaxStormMembers != 50 {
		t.Errorf("storm members %d", o.gateway.Recorder.MaxStormMembers)
	}
}

func TestJobPlacement(t *testing.T) {
	p, err := parseJobPlacement("kubernaut.io/real-node=true, pool=actions", "kubernaut.io/real-node:NoSchedule,dedicated=actions,any")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"kubernaut.io/real-node": "true", "pool": "actions"}; !reflect.DeepEqual(p.nodeSelector, want) {
		t.Errorf("node selector %v, want %v", p.nodeSelector, want)
	}
	want := []corev1.Toleration{
		{Key: "kubernaut.io/real-node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "actions"},
		{Key: "any", Operator: corev1.TolerationOpExists},
	}
	if !reflect.DeepEqual(p.tolerations, want) {
		t.Errorf("tolerations %+v, want %+v", p.tolerations, want)
	}
}
