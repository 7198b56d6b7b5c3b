package actions

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TestDiffLeavesOutWhoChangedIt: admission stamps kubernaut.io/changed-by on a dry run as on
// the change itself; the diff shows what the action changes, not that stamp, and a change
// that is only the stamp is no change.
func TestDiffLeavesOutWhoChangedIt(t *testing.T) {
	deployment := func(image, changedBy string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", ResourceVersion: "7",
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "3"}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}}}
		if changedBy != "" {
			d.Annotations[kubernautv1.ChangedByAnnotation] = changedBy
		}
		return d
	}
	before := deployment("web:1", "2026-12-07T10:00:00Z alice")
	after := deployment("web:0", "2026-12-07T12:00:00Z system:serviceaccount:kubernaut-system:kubernaut-actions\n2026-12-07T10:00:00Z alice")
	got := diff("Deployment shop/web", before, after)
	if !strings.Contains(got, "-      - image: web:1") || !strings.Contains(got, "+      - image: web:0") {
		t.Errorf("the image's change is not in the diff:\n%s", got)
	}
	if strings.Contains(got, "changed-by") || strings.Contains(got, "alice") {
		t.Errorf("the diff shows admission's stamp:\n%s", got)
	}
	if r := render(before); !strings.Contains(r, "deployment.kubernetes.io/revision") || strings.Contains(r, "changed-by") {
		t.Errorf("rendered for the diff:\n%s", r)
	}
	if got := diff("Deployment shop/web", before, deployment("web:1", "2026-12-07T12:00:00Z bob")); got != "" {
		t.Errorf("a change of the stamp alone is a change:\n%s", got)
	}
	if before.Annotations[kubernautv1.ChangedByAnnotation] == "" {
		t.Error("diff changed the object it was given")
	}
	noneLeft := deployment("web:1", "2026-12-07T12:00:00Z bob")
	delete(noneLeft.Annotations, "deployment.kubernetes.io/revision")
	if strings.Contains(deletion("Deployment shop/web", noneLeft), "annotations") {
		t.Errorf("an annotations map left empty is shown:\n%s", deletion("Deployment shop/web", noneLeft))
	}
}
