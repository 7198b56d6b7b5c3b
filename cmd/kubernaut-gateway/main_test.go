package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestBadInvocations: what `kubernaut gateway` refuses, kubernaut-gateway refuses the same way.
func TestBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no authentication", []string{"--kubeconfig", "/dev/null"}, "--gateway-token-file or --gateway-token-review is required"},
		{"unreadable token file", []string{"--gateway-token-file", "/nonexistent/tokens", "--kubeconfig", "/dev/null"}, "reading bearer tokens from /nonexistent/tokens"},
		{"an argument", []string{"--gateway-token-file", "/dev/null", "serve"}, `takes no arguments, got ["serve"]`},
		{"a controller's flag", []string{"--engine", "argo"}, "flag provided but not defined: -engine"},
		{"storm members", []string{"--gateway-token-review", "--storm-max-members", "0"}, "--storm-max-members must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want it to contain %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestLinksNoController keeps the gateway's binary free of what only the controllers need:
// the policy engine, Argo's client, the actions that change workloads.
func TestLinksNoController(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/kubernaut/kubernaut/controllers", "github.com/kubernaut/kubernaut/actions",
			"github.com/kubernaut/kubernaut/rego", "github.com/argoproj/", "github.com/open-policy-agent/"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("kubernaut-gateway links %s", pkg)
			}
		}
	}
}

// TestTheManifestRunsIt: manifests/base/gateway.yaml runs this binary with flags it accepts.
func TestTheManifestRunsIt(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "manifests", "base", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, doc := range strings.Split(string(raw), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		found = true
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Command) != 1 || c.Command[0] != "/kubernaut-gateway" {
			t.Errorf("the gateway runs %q, want /kubernaut-gateway", c.Command)
		}
		if _, err := parse(c.Args, io.Discard); err != nil {
			t.Errorf("the manifest's flags %q: %v", c.Args, err)
		}
	}
	if !found {
		t.Fatal("no Deployment in manifests/base/gateway.yaml")
	}
}
