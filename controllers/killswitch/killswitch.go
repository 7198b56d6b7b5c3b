// Package killswitch reads Kubernaut's kill switch: the key killSwitch of a ConfigMap which,
// set to "true", stops new remediations, plans about to execute and steps about to run. The
// orchestrator and the KubernetesExecution controller both read it, straight from the API
// server, so that flipping it takes effect at the next decision of either.
package killswitch

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Key is the ConfigMap key of the kill switch.
const Key = "killSwitch"

// DefaultName is the kill switch's ConfigMap unless configured otherwise (manifests/base's
// kubernaut-config, in Kubernaut's namespace).
const DefaultName = "kubernaut-config"

// Switch locates the kill-switch ConfigMap.
type Switch struct {
	// Reader reads the ConfigMap (the API server, not a cache: the switch must bite at once).
	Reader client.Reader
	// Namespace and Name locate the ConfigMap.
	Namespace, Name string
}

// On reports whether the kill switch is on; a missing ConfigMap means off.
func (s Switch) On(ctx context.Context) (bool, error) {
	var cm corev1.ConfigMap
	err := s.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Name}, &cm)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the kill switch %s/%s: %w", s.Namespace, s.Name, err)
	}
	return cm.Data[Key] == "true", nil
}

// String names the switch for messages.
func (s Switch) String() string {
	return fmt.Sprintf("ConfigMap %s/%s, %s=true", s.Namespace, s.Name, Key)
}
