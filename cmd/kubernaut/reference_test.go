package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateReference = flag.Bool("update", false, "rewrite docs/configuration.md from the flags")

// referencePath is the configuration reference, generated from the commands' own flags.
var referencePath = filepath.Join("..", "..", "docs", "configuration.md")

// TestConfigurationReference keeps docs/configuration.md the flags' own help: every flag of
// every command with its default. `make generate` rewrites it (-update); a flag added without
// it fails here.
func TestConfigurationReference(t *testing.T) {
	// Defaults read from the environment are shown by name, not by this machine's values.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("POD_NAME", "$POD_NAME")
	var b strings.Builder
	b.WriteString(referenceHeader)
	for _, c := range []struct {
		name                string
		controller, gateway bool
		what                string
	}{
		{"controller", true, false, "The controllers of the chain (in the cluster: `manifests/base/controller.yaml`)"},
		{"gateway", false, true, "The Alertmanager webhook gateway (`manifests/base/gateway.yaml`)"},
		{"local", true, true, "Both in one process (`make demo`, `make dev-cluster`, the end-to-end tests)"},
	} {
		var help bytes.Buffer
		if _, err := parseOptions(c.name, []string{"-h"}, &help, c.controller, c.gateway); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("kubernaut %s -h: %v, want the help", c.name, err)
		}
		b.WriteString("\n## `kubernaut " + c.name + "`\n\n" + c.what + ". `kubernaut " + c.name + " -h` prints the same.\n\n```\n")
		b.WriteString(strings.TrimPrefix(help.String(), "Usage of kubernaut "+c.name+":\n"))
		b.WriteString("```\n")
	}
	b.WriteString(referenceConfigMaps)
	want := b.String()
	if *updateReference {
		if err := os.WriteFile(referencePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not the flags' reference any more: run 'make generate' and commit it", referencePath)
	}
}

const referenceHeader = `# Configuration reference

Generated from the commands' own flags by ` + "`make generate`" + ` (` + "`cmd/kubernaut/reference_test.go`" + `,
which fails ` + "`make test`" + ` when a flag changes without this file). Flags are read in ` + "`cmd/`" + ` only;
the ConfigMaps below are re-read while Kubernaut runs.
`

const referenceConfigMaps = `
## ConfigMaps (namespace ` + "`kubernaut-system`" + `, ` + "`manifests/base/configmaps.yaml`" + `)

| ConfigMap | key | meaning |
|---|---|---|
| ` + "`kubernaut-config`" + ` (` + "`--kill-switch-configmap`" + `) | ` + "`killSwitch`" + ` | ` + "`\"true\"`" + ` stops new remediations (Skipped) and every step not yet validated (Rejected); read before each step |
| ` + "`kubernaut-policies`" + ` (` + "`--policy-configmap`" + `) | ` + "`classification.rego`" + `, ` + "`approval.rego`" + `, ` + "`safety.rego`" + `, ` + "`promotion.rego`" + ` | replace the embedded policy of that name (re-read on every evaluation; one that does not compile fails the evaluation, it never falls back silently) |
| ` + "`kubernaut-policies`" + ` | ` + "`autoApproveThreshold`" + `, ` + "`rejectThreshold`" + ` | override ` + "`--auto-approve-threshold`" + ` and ` + "`--reject-threshold`" + ` at every approval decision (a confidence in [0, 1], auto ≥ reject; anything else fails the analysis, naming the key); the decision records the ConfigMap's version |
| ` + "`kubernaut-policies`" + ` | ` + "`safetyConfig`" + ` | a YAML object of the safety policy's settings (freezeWindows, allowCustomScript, customScriptImages, unknownEnvironment, …; docs/workflow.md), re-read at every evaluation; an unknown key or a value the policy cannot take refuses every step, naming it |
| ` + "`kubernaut-semaphores`" + ` (` + "`--semaphore-configmap`" + `) | ` + "`cluster`" + `, ` + "`namespace.<ns>`" + `, ` + "`namespace.default`" + `, ` + "`namespace.cluster-scoped`" + ` | the blast radius: plans running at once in the cluster and per target namespace, enforced by Argo's controller (argo engine) or by the builtin engine itself; a namespace without its own key takes ` + "`namespace.default`" + ` (2 when unset; the argo engine writes the key, since Argo fails a Workflow whose key is missing) |
`
