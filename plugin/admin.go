package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
)

// SetRemediate opts a namespace in (true: kubernaut.io/remediate=true) or pauses it (false:
// kubernaut.io/remediate=false; alerts about it then end Skipped, OutOfScope — unless Kubernaut
// runs with --cluster-wide, which ignores the label, as the message says).
func (p *Plugin) SetRemediate(ctx context.Context, namespace string, on bool) error {
	value := "false"
	if on {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{kubernautv1.OptInLabel: value}}})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := p.Client.Patch(ctx, ns, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-kubernaut")); err != nil {
		return fmt.Errorf("labelling namespace %s %s=%s: %w", namespace, kubernautv1.OptInLabel, value, err)
	}
	if on {
		fmt.Fprintf(p.Out, "namespace %s: remediated (%s=true)\n", namespace, kubernautv1.OptInLabel)
	} else {
		fmt.Fprintf(p.Out, "namespace %s: paused (%s=false): its alerts end Skipped (OutOfScope), unless Kubernaut runs with --cluster-wide\n", namespace, kubernautv1.OptInLabel)
	}
	return nil
}

// KillSwitch is the kill switch's ConfigMap (killswitch.DefaultName by default).
type KillSwitch struct {
	// Namespace and Name locate the ConfigMap.
	Namespace, Name string
}

// SetKillSwitch turns the kill switch on or off (creating its ConfigMap when there is none) and
// prints the state.
func (p *Plugin) SetKillSwitch(ctx context.Context, ks KillSwitch, on bool) error {
	value := fmt.Sprint(on)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ks.Namespace, Name: ks.Name}}
	patch, err := json.Marshal(map[string]any{"data": map[string]string{killswitch.Key: value}})
	if err != nil {
		return err
	}
	err = p.Client.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-kubernaut"))
	if apierrors.IsNotFound(err) {
		cm.Data = map[string]string{killswitch.Key: value}
		err = p.Client.Create(ctx, cm, client.FieldOwner("kubectl-kubernaut"))
	}
	if err != nil {
		return fmt.Errorf("setting the kill switch (ConfigMap %s/%s, %s=%s): %w", ks.Namespace, ks.Name, killswitch.Key, value, err)
	}
	return p.KillSwitchStatus(ctx, ks)
}

// KillSwitchStatus prints whether the kill switch is on (read as the controllers read it), and
// what is in flight.
func (p *Plugin) KillSwitchStatus(ctx context.Context, ks KillSwitch) error {
	on, err := killswitch.Switch{Reader: p.Client, Namespace: ks.Namespace, Name: ks.Name}.On(ctx)
	if err != nil {
		return err
	}
	items, err := p.List(ctx, ks.Namespace)
	if err != nil {
		return err
	}
	running := 0
	for i := range items {
		if !items[i].Status.Phase.IsFinished() {
			running++
		}
	}
	if on {
		fmt.Fprintf(p.Out, "kill switch ON (ConfigMap %s/%s): new remediations end Skipped and no step starts; %d remediations not finished (steps already executing finish their health check)\n",
			ks.Namespace, ks.Name, running)
	} else {
		fmt.Fprintf(p.Out, "kill switch off (ConfigMap %s/%s); %d remediations not finished\n", ks.Namespace, ks.Name, running)
	}
	return nil
}
