package workflowexecution

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/gen"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func committedTemplates(t *testing.T) templates.Set {
	t.Helper()
	set, err := templates.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

var opts = CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 30 * time.Minute, TTLAfterCompletion: 24 * time.Hour, SemaphoreConfigMap: "kubernaut-semaphores"}

const hash = "3f1c2e0d9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e"

func plan(name string, mode kubernautv1.ApprovalMode, target kubernautv1.Target, steps ...kubernautv1.PlanStep) *kubernautv1.WorkflowExecution {
	return gen.WorkflowExecution("kubernaut-system", name, func(we *kubernautv1.WorkflowExecution) {
		rr := strings.TrimSuffix(name, kubernautv1.WorkflowName(""))
		we.Spec.RemediationRequestRef = kubernautv1.LocalReference{Name: rr}
		we.Spec.AIAnalysisRef = kubernautv1.LocalReference{Name: kubernautv1.AnalysisName(rr)}
		we.Spec.Target, we.Spec.ApprovalMode, we.Spec.Steps = target, mode, steps
	})
}

func step(name string, a kubernautv1.ActionName, t kubernautv1.Target, p *kubernautv1.ActionParameters, deps ...string) kubernautv1.PlanStep {
	return kubernautv1.PlanStep{Name: name, ActionStep: kubernautv1.ActionStep{Action: a, Target: t, Parameters: p}, DependsOn: deps}
}

var (
	checkout = kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "checkout"}
	node     = kubernautv1.Target{Kind: "Node", Name: "worker-3"}
)

// TestGolden compiles one plan per analyzer situation and compares it with testdata/; every
// golden Workflow passed Argo's ValidateWorkflow (Compile refuses otherwise).
func TestGolden(t *testing.T) {
	cwfts := committedTemplates(t)
	for _, tc := range []struct {
		file string
		we   *kubernautv1.WorkflowExecution
	}{
		{"rollback-manual.yaml", plan("rr-5f8a3c2e9b1d4a07-tp2q5b-we", kubernautv1.ApprovalManual, checkout,
			step("rollback", kubernautv1.ActionRollbackDeployment, checkout, &kubernautv1.ActionParameters{RollbackDeployment: &kubernautv1.RollbackDeploymentParameters{}}))},
		{"memory-auto.yaml", plan("rr-0a1b2c3d4e5f6071-tp2q5c-we", kubernautv1.ApprovalAuto, checkout,
			step("raise-memory", kubernautv1.ActionIncreaseMemoryLimit, checkout, &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Container: "app", Percent: 50}}))},
		{"node-manual.yaml", plan("rr-1111222233334444-tp2q5d-we", kubernautv1.ApprovalManual, node,
			step("cordon", kubernautv1.ActionCordonNode, node, nil),
			step("drain", kubernautv1.ActionDrainNode, node, &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 300}}, "cordon"))},
		{"hpa-auto.yaml", plan("rr-9999888877776666-tp2q5e-we", kubernautv1.ApprovalAuto, checkout,
			step("raise-hpa-max", kubernautv1.ActionUpdateHPA, kubernautv1.Target{Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "checkout"},
				&kubernautv1.ActionParameters{UpdateHPA: &kubernautv1.UpdateHPAParameters{MinReplicas: ptr.To[int32](2), MaxReplicas: 6}}))},
	} {
		t.Run(tc.file, func(t *testing.T) {
			wf, err := Compile(tc.we, hash, opts, cwfts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(wf)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./controllers/workflowexecution -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("compiled Workflow differs from %s; got:\n%s", path, got)
			}
		})
	}
}

func TestCompiledShape(t *testing.T) {
	cwfts := committedTemplates(t)
	wf, err := Compile(plan("rr-x-we", kubernautv1.ApprovalManual, node,
		step("cordon", kubernautv1.ActionCordonNode, node, nil),
		step("drain", kubernautv1.ActionDrainNode, node, &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 300}}, "cordon")),
		hash, opts, cwfts)
	if err != nil {
		t.Fatal(err)
	}
	dag := wf.GetTemplateByName(entrypoint).DAG
	deps := map[string]string{}
	for _, task := range dag.Tasks {
		deps[task.Name] = task.Depends
	}
	if deps["cordon"] != "approve.Succeeded" || deps["drain"] != "cordon.Succeeded" || deps[joinTask] != "drain.Succeeded" {
		t.Errorf("dependencies %v: the approval gates the roots, the join waits for the leaves", deps)
	}
	undo := wf.GetTemplateByName(compensation).DAG.Tasks
	if len(undo) != 2 || undo[0].Name != "undo-drain" || undo[1].Name != "undo-cordon" || undo[1].TemplateRef.Template != "compensate-node" {
		t.Errorf("compensation must undo newest first: %+v", undo)
	}
	if wf.Spec.Synchronization.Mutexes[0].Name != "kubernaut.node.cluster.worker-3" || len(wf.Spec.Synchronization.Semaphores) != 2 {
		t.Errorf("synchronization %+v", wf.Spec.Synchronization)
	}
	if wf.Labels[kubernautv1.LabelTargetName] != "worker-3" || wf.Labels[kubernautv1.LabelRemediation] != "rr-x" {
		t.Errorf("labels %v", wf.Labels)
	}
}

func TestCompileRefuses(t *testing.T) {
	cwfts := committedTemplates(t)
	long := strings.Repeat("a", 64)
	for name, tc := range map[string]struct {
		we   *kubernautv1.WorkflowExecution
		want string
	}{
		"a cycle": {plan("rr-c-we", kubernautv1.ApprovalAuto, checkout,
			step("a", kubernautv1.ActionRestartDeployment, checkout, nil, "b"), step("b", kubernautv1.ActionRestartDeployment, checkout, nil, "a")),
			"cycle: a → b → a"},
		"an unknown dependency": {plan("rr-d-we", kubernautv1.ApprovalAuto, checkout,
			step("a", kubernautv1.ActionRestartDeployment, checkout, nil, "ghost")), `depends on unknown step "ghost"`},
		"an action outside the catalog": {plan("rr-e-we", kubernautv1.ApprovalAuto, checkout,
			step("a", "exec_shell", checkout, nil)), `"exec_shell" is not in the catalog`},
		"a name too long for Argo": {plan(long, kubernautv1.ApprovalAuto, checkout,
			step("a", kubernautv1.ActionRestartDeployment, checkout, nil)), "longer than the 63 characters"},
	} {
		if _, err := Compile(tc.we, hash, opts, cwfts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
	// Argo's validator runs too: without the templates a reference cannot resolve.
	if _, err := Compile(plan("rr-f-we", kubernautv1.ApprovalAuto, checkout, step("a", kubernautv1.ActionRestartDeployment, checkout, nil)),
		hash, opts, templates.Set{}); err == nil || !strings.Contains(err.Error(), "Argo refuses") {
		t.Errorf("want Argo's refusal, got %v", err)
	}
}

// TestUndoOrderIsTheExitHooksOrder keeps the engines' compensation lists in the order the
// compiled exit hook undoes the steps, also for a plan that lists a step before the one it
// depends on.
func TestUndoOrderIsTheExitHooksOrder(t *testing.T) {
	hpa := kubernautv1.Target{Kind: "HorizontalPodAutoscaler", Namespace: "shop", Name: "checkout"}
	we := plan("rr-order-we", kubernautv1.ApprovalAuto, checkout,
		step("raise-hpa", kubernautv1.ActionUpdateHPA, hpa, &kubernautv1.ActionParameters{UpdateHPA: &kubernautv1.UpdateHPAParameters{MaxReplicas: 8}}, "memory"),
		step("memory", kubernautv1.ActionIncreaseMemoryLimit, checkout, &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Percent: 50}}),
		step("restart", kubernautv1.ActionRestartDeployment, checkout, nil, "raise-hpa"))
	wf, err := Compile(we, strings.Repeat("a", 64), CompileOptions{}, committedTemplates(t))
	if err != nil {
		t.Fatal(err)
	}
	var hook []string
	for _, task := range wf.GetTemplateByName(compensation).DAG.Tasks {
		hook = append(hook, task.Name)
	}
	var got []string
	for _, s := range undoOrder(we.Spec.Steps) {
		got = append(got, "undo-"+s.Name)
	}
	want := []string{"undo-restart", "undo-raise-hpa", "undo-memory"}
	if strings.Join(hook, ",") != strings.Join(want, ",") || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("exit hook %v, undoOrder %v, want %v", hook, got, want)
	}
}

// Argo expands `{{…}}` and evaluates `{{=expr}}` in task arguments: the compiled arguments hold
// none, and the manifest Argo renders decodes to exactly the approved parameters.
func TestParametersReachArgoLiterally(t *testing.T) {
	cm := kubernautv1.Target{Kind: "ConfigMap", Namespace: "shop", Name: "settings"}
	hostile := map[string]string{
		"MODE": "{{=sprig.upper('x')}}", "SA": "{{workflow.serviceAccountName}}", "BIG": "{{=len(sprig.repeat(30000000,'x'))}}",
		"EDGE": `}}{{ "{" \"{{\" \\{{`, "PLAIN": "a{b}c",
	}
	params := &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: hostile}}
	// A manual plan: the gate's summary quotes the alert's name and the dry run's diff.
	we := plan("rr-x-we", kubernautv1.ApprovalManual, cm, step("config", kubernautv1.ActionUpdateConfig, cm, params))
	we.Spec.AlertName = "{{workflow.serviceAccountName}}"
	we.Status.Plan = &kubernautv1.Plan{Hash: hash, Steps: []kubernautv1.PlannedStep{{Name: "config", Action: kubernautv1.ActionUpdateConfig, Target: cm,
		Policy: kubernautv1.PolicyVerdict{Allowed: true}, DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "+  MODE: {{=sprig.upper('x')}}\n"}}}}
	wf, err := Compile(we, hash, opts, committedTemplates(t))
	if err != nil {
		t.Fatal(err)
	}
	summary := ""
	for _, task := range wf.GetTemplateByName(entrypoint).DAG.Tasks {
		if task.Name == approveTask {
			summary = task.Arguments.GetParameterByName("summary").Value.String()
		}
		for _, p := range task.Arguments.Parameters {
			if strings.Contains(p.Value.String(), "{{") {
				t.Errorf("task %s argument %s = %s: Argo would expand it", task.Name, p.Name, p.Value)
			}
			if task.Name != "config" || p.Name != "parameters" {
				continue
			}
			// As the template renders it: `parameters: {{inputs.parameters.parameters}}` in YAML.
			var got struct {
				Parameters kubernautv1.ActionParameters `json:"parameters"`
			}
			if err := yaml.Unmarshal([]byte("parameters: "+p.Value.String()+"\n"), &got); err != nil {
				t.Fatalf("the rendered manifest does not decode: %v", err)
			}
			if !reflect.DeepEqual(got.Parameters.UpdateConfig.Data, hostile) {
				t.Errorf("decoded %q, want %q", got.Parameters.UpdateConfig.Data, hostile)
			}
		}
	}
	if !strings.Contains(summary, "MODE: { {=sprig.upper('x')}}") || !strings.Contains(summary, "Plan hash `"+hash+"`") {
		t.Errorf("the gate's summary does not show the plan as a person reads it:\n%s", summary)
	}
}
