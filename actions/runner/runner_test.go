package runner

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func scale() Invocation {
	replicas := int32(2)
	return Invocation{
		Mode: kubernautv1.ExecutionModeCompensate,
		Step: kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment,
			Target:     kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
			Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 4}}},
		PreState: &kubernautv1.PreState{CapturedAt: metav1.Unix(1700000000, 0), Replicas: &replicas},
	}
}

func TestArgsRoundTrip(t *testing.T) {
	want := scale()
	args, err := want.Args()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(append(args, "--result-file=/tmp/x"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != want.Mode || got.Step.Target != want.Step.Target || got.Step.Parameters.ScaleDeployment.Replicas != 4 ||
		*got.PreState.Replicas != 2 || !got.PreState.CapturedAt.Equal(&want.PreState.CapturedAt) || got.ResultFile != "/tmp/x" {
		t.Errorf("round trip: %+v", got)
	}
}

func TestParseRefusesBadArguments(t *testing.T) {
	good, _ := scale().Args()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no step", []string{"--mode=Execute", good[2]}, "--step is required"},
		{"bad mode", []string{"--mode=Apply", good[1], good[2]}, `--mode "Apply"`},
		{"step not JSON", []string{"--step={action", good[2]}, "--step: not valid JSON"},
		{"unknown field", []string{`--step={"action":"scale_deployment","target":{"kind":"Deployment","name":"w"},"command":"rm"}`, good[2]}, `unknown field "command"`},
		{"action outside the catalog", []string{`--step={"action":"exec_shell","target":{"kind":"Pod","name":"w"}}`, good[2]}, `action "exec_shell" is not in the catalog`},
		{"no target", []string{`--step={"action":"restart_pod"}`, good[2]}, "target.kind and target.name are required"},
		{"no pre-state", []string{good[1]}, "--pre-state is required"},
		{"pre-state not JSON", []string{good[1], "--pre-state=[]"}, "--pre-state: not valid JSON"},
		{"stray argument", []string{good[1], good[2], "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEncodeFitsATerminationMessage(t *testing.T) {
	r := kubernautv1.ActionResult{Success: true, Message: strings.Repeat("é", 3000)}
	for i := 0; i < 50; i++ {
		r.Changed = append(r.Changed, kubernautv1.ChangedObject{Target: kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: strings.Repeat("p", 60)}, Change: "deleted"})
	}
	raw := Encode(r)
	if len(raw) > MaxResultBytes {
		t.Fatalf("%d bytes", len(raw))
	}
	got, err := Decode(string(raw))
	if err != nil || !got.Success || !json.Valid(raw) || !strings.HasPrefix(got.Message, "é") {
		t.Errorf("decoded %+v, %v", got, err)
	}
	small := kubernautv1.ActionResult{Success: true, Message: "scaled", Changed: r.Changed[:1]}
	if got, _ := Decode(string(Encode(small))); len(got.Changed) != 1 || got.Message != "scaled" {
		t.Errorf("a small result must be kept whole: %+v", got)
	}
	if _, err := Decode("OOMKilled"); err == nil {
		t.Error("a message that is not JSON must be refused")
	}
}
