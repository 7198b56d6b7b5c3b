package remediationprocessing

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func template(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
}

// TestBackends reads the workloads behind a Service as restart_service selects them: by pod
// template, in the Service's namespace, with a rollout told apart from mere unreadiness.
func TestBackends(t *testing.T) {
	front := map[string]string{"tier": "front"}
	objs := []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front"}, Spec: corev1.ServiceSpec{Selector: front}},
		// Two of three ready, nothing rolling out: unready, not rolling.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: template(front)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}},
		// A new spec not yet observed: rolling out.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Template: template(front)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cache"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Template: template(map[string]string{"tier": "front", "app": "cache"})},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r1"}},
		// Not selected: other labels, or another namespace.
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "batch"}, Spec: appsv1.DeploymentSpec{Template: template(map[string]string{"tier": "back"})}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web"}, Spec: appsv1.DeploymentSpec{Template: template(front)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: front}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "batch-1", Labels: map[string]string{"tier": "back"}}},
	}
	e := &Enricher{Reader: fake.NewClientBuilder().WithObjects(objs...).Build(), LookupTimeout: time.Second}
	got, err := e.Enrich(context.Background(), kubernautv1.Target{Kind: kubernautv1.TargetKindService, Namespace: "shop", Name: "front"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Deployment/shop/api 2/2 rolling=true", "Deployment/shop/web 2/3 rolling=false", "StatefulSet/shop/cache 1/1 rolling=false"}
	var have []string
	for _, b := range got.Backends {
		have = append(have, fmt.Sprintf("%s %d/%d rolling=%t", b.Target, b.ReadyReplicas, b.Replicas, b.RolloutInProgress))
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Errorf("backends %v, want %v", have, want)
	}
	if len(got.Pods) != 1 || got.Pods[0].Name != "web-1" {
		t.Errorf("pods %v, want the one the Service selects", got.Pods)
	}
}

// TestBackendsBounded keeps ten and says that more were left out.
func TestBackendsBounded(t *testing.T) {
	front := map[string]string{"tier": "front"}
	objs := []client.Object{&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "front"}, Spec: corev1.ServiceSpec{Selector: front}}}
	for i := range 12 {
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("w%02d", i)}, Spec: appsv1.DeploymentSpec{Template: template(front)}})
	}
	e := &Enricher{Reader: fake.NewClientBuilder().WithObjects(objs...).Build(), LookupTimeout: time.Second}
	got, err := e.Enrich(context.Background(), kubernautv1.Target{Kind: kubernautv1.TargetKindService, Namespace: "shop", Name: "front"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Backends) != maxBackends {
		t.Errorf("%d backends, want %d", len(got.Backends), maxBackends)
	}
	found := false
	for _, f := range got.FailedDetections {
		found = found || (f.Detection == "backends" && f.Error == "Service shop/front selects 12 workloads; the first 10 are recorded")
	}
	if !found {
		t.Errorf("failed detections %v do not say what was left out", got.FailedDetections)
	}
}
