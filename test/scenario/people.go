package scenario

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/test/cluster"
)

// As is a client acting as user (an administrator impersonating them, with the rights of
// system:masters): the API server — and its admission, which stamps who changed what — sees
// user.
func As(cfg *rest.Config, user string) (client.Client, error) {
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:masters"}}
	c, err := client.New(as, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("a client as %s: %w", user, err)
	}
	return c, nil
}

// RollBackBy rolls Deployment name back to the template of its revision 1 with person's
// client, as `kubectl rollout undo` does.
func (e Estate) RollBackBy(ctx context.Context, person client.Client, name string) error {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name}}
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
		return fmt.Errorf("reading Deployment %s/%s: %w", e.Namespace, name, err)
	}
	var sets appsv1.ReplicaSetList
	if err := e.Client.List(ctx, &sets, client.InNamespace(e.Namespace)); err != nil {
		return fmt.Errorf("listing the ReplicaSets of %s: %w", e.Namespace, err)
	}
	var previous *appsv1.ReplicaSet
	for i := range sets.Items {
		if rs := &sets.Items[i]; rs.Annotations["deployment.kubernetes.io/revision"] == "1" && metav1.IsControlledBy(rs, d) {
			previous = rs
		}
	}
	if previous == nil {
		return fmt.Errorf("Deployment %s/%s has no revision 1", e.Namespace, name)
	}
	return update(ctx, person, d, false, func(d *appsv1.Deployment) {
		tmpl := previous.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		d.Spec.Template = *tmpl
	})
}
