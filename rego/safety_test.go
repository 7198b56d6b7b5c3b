package rego

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

func TestSafetyVerdict(t *testing.T) {
	s := NewSafety(nil, "", "", map[string]any{"protectedNamespaces": []string{"payments"}})
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	step := kubernautv1.PlanStep{Name: "scale", ActionStep: kubernautv1.ActionStep{
		Action: kubernautv1.ActionScaleDeployment, Target: kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
		Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 4}}}}
	v, err := s.Evaluate(context.Background(), step, SafetyContext{Environment: "staging", Current: map[string]int64{"replicas": 3}}, now)
	if err != nil || !v.Allowed || v.Policy != "safety.rego (embedded)" || !v.EvaluatedAt.Time.Equal(now) {
		t.Fatalf("verdict %+v, %v", v, err)
	}
	step.Target.Namespace = "payments"
	step.Parameters.ScaleDeployment.Replicas = 9
	v, err = s.Evaluate(context.Background(), step, SafetyContext{Environment: "production", Current: map[string]int64{"replicas": 3},
		GitOps: &kubernautv1.GitOpsOwnership{Tool: "flux", Owner: "apps/payments"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"namespace payments is protected: Kubernaut never changes it",
		"payments/web is managed by flux (apps/payments): the next sync would revert the change",
		"scaling payments/web from 3 to 9 replicas changes it by more than a factor of 2",
	}
	if v.Allowed || len(v.Violations) != len(want) {
		t.Fatalf("verdict %+v", v)
	}
	for i := range want {
		if v.Violations[i] != want[i] {
			t.Errorf("violation %d = %q, want %q", i, v.Violations[i], want[i])
		}
	}
}

// The safety policy fails closed: a step is never allowed because the policy could not say.
func TestSafetyFailsClosed(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	step := kubernautv1.PlanStep{Name: "scale", ActionStep: kubernautv1.ActionStep{
		Action: kubernautv1.ActionScaleDeployment, Target: kubernautv1.Target{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
		Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 0}}}}
	sc := SafetyContext{Environment: "production", Current: map[string]int64{"replicas": 2}}
	override := func(src string) *Safety {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: "kubernaut-policies", ResourceVersion: "7"},
			Data: map[string]string{"safety.rego": src}}
		return NewSafety(fake.NewClientBuilder().WithObjects(cm).Build(), "kubernaut-system", "kubernaut-policies", nil)
	}
	for name, tc := range map[string]struct {
		safety *Safety
		want   string
	}{
		"an override whose package is misspelt defines no deny": {
			override("package kubernaut.saftey\n\ndeny contains \"never\" if false\n"),
			"the safety policy (configmap kubernaut-system/kubernaut-policies@7) does not define data.kubernaut.safety.deny",
		},
		"an override with no deny rule": {
			override("package kubernaut.safety\n\nallow := true\n"),
			"does not define data.kubernaut.safety.deny",
		},
		"a freeze window the policy cannot parse": {
			NewSafety(nil, "", "", map[string]any{"freezeWindows": []any{map[string]any{"name": "xmas", "start": "24 Dec 2026", "end": "2026-12-27T00:00:00Z"}}}),
			`time.parse_rfc3339_ns: parsing time "24 Dec 2026"`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := tc.safety.Evaluate(context.Background(), step, sc, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verdict %+v, error %v; want an error containing %q", v, err, tc.want)
			}
			if v.Allowed {
				t.Fatal("allowed")
			}
			if !terminal.Is(err) {
				t.Fatalf("%v: a broken policy is not terminal: it would be retried for ever", err)
			}
		})
	}
	// A policy that cannot be read now may be readable in a moment: retried, never allowed.
	for name, safety := range map[string]*Safety{
		"reading policy override": NewSafety(fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return apierrors.NewServiceUnavailable("the API server is restarting")
			}}).Build(), "kubernaut-system", "kubernaut-policies", nil),
		"reading node worker-1": NewSafety(fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
			Get: func(_ context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*corev1.Node); ok {
					return apierrors.NewTooManyRequests("slow down", 1)
				}
				return c.Get(context.Background(), key, obj, opts...)
			}}).Build(), "kubernaut-system", "kubernaut-policies", nil),
	} {
		t.Run(name, func(t *testing.T) {
			cordon := kubernautv1.PlanStep{Name: "cordon", ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionCordonNode, Target: kubernautv1.Target{Kind: "Node", Name: "worker-1"}}}
			v, err := safety.Evaluate(context.Background(), cordon, sc, now)
			if err == nil || v.Allowed || terminal.Is(err) || !strings.Contains(err.Error(), name) {
				t.Fatalf("verdict %+v, error %v; want a transient error %s", v, err, name)
			}
		})
	}
	// An override that keeps the package and defines deny, even with no rule firing, is defined.
	v, err := override("package kubernaut.safety\n\ndeny contains \"no\" if false\n").Evaluate(context.Background(), step, sc, now)
	if err != nil || !v.Allowed {
		t.Fatalf("verdict %+v, %v", v, err)
	}
}

// The settings the ConfigMap may tune are exactly the policy's defaults.
func TestSafetySettingsAreThePolicyDefaults(t *testing.T) {
	src, err := Embedded("safety.rego")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rego.New(rego.Query("data.kubernaut.safety.defaults"), rego.Module("safety.rego", src)).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	var keys []string
	for k := range rs[0].Expressions[0].Value.(map[string]any) {
		keys = append(keys, k)
	}
	if !slices.Equal(slices.Sorted(slices.Values(keys)), slices.Sorted(slices.Values(SafetySettings))) {
		t.Fatalf("the policy's defaults %v, SafetySettings %v", keys, SafetySettings)
	}
}

// The policy ConfigMap's safetyConfig tunes the settings, and a bad one fails closed.
func TestSafetyConfigFromTheConfigMap(t *testing.T) {
	now := time.Date(2026, 12, 24, 12, 0, 0, 0, time.UTC)
	step := kubernautv1.PlanStep{Name: "scale", ActionStep: kubernautv1.ActionStep{
		Action: kubernautv1.ActionScaleDeployment, Target: kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
		Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 0}}}}
	sc := SafetyContext{Environment: kubernautv1.EnvironmentUnknown, Current: map[string]int64{"replicas": 2}}
	with := func(config string) *Safety {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: "kubernaut-policies", ResourceVersion: "9"},
			Data: map[string]string{SafetyConfigKey: config}}
		return NewSafety(fake.NewClientBuilder().WithObjects(cm).Build(), "kubernaut-system", "kubernaut-policies", nil)
	}
	v, err := NewSafety(nil, "", "", nil).Evaluate(context.Background(), step, sc, now)
	if err != nil || v.Allowed {
		t.Fatalf("an unknown environment is production by default: %+v %v", v, err)
	}
	v, err = with("unknownEnvironment: staging\n").Evaluate(context.Background(), step, sc, now)
	if err != nil || !v.Allowed || v.Policy != "safety.rego (embedded, safetyConfig@9)" {
		t.Fatalf("the operator says unknown is staging: %+v %v", v, err)
	}
	v, err = with("unknownEnvironment: staging\nfreezeWindows:\n- {name: xmas, start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z'}\n").Evaluate(context.Background(), step, sc, now)
	if err != nil || v.Allowed || !slices.Equal(v.Violations, []string{"change freeze xmas until 2026-12-27T00:00:00Z"}) {
		t.Fatalf("a freeze window from the ConfigMap: %+v %v", v, err)
	}
	for config, want := range map[string]string{
		"freezeWindow: []\n":         `unknown setting "freezeWindow"`,
		"- a list\n":                 "is not a YAML object",
		"unknownEnvironment: moon\n": "unknownEnvironment moon is not production, staging or development",
		"maxReplicas: [1\n":          "is not a YAML object",
	} {
		v, err := with(config).Evaluate(context.Background(), step, sc, now)
		if err == nil || !strings.Contains(err.Error(), want) || v.Allowed {
			t.Errorf("safetyConfig %q: %+v, %v; want an error containing %q", config, v, err, want)
		}
	}
}
