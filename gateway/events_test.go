package gateway

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func event(reason, kind, ns, name string, mods ...func(*corev1.Event)) *corev1.Event {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name + ".1"},
		Type:           corev1.EventTypeWarning,
		Reason:         reason,
		Message:        "Back-off restarting failed container web in pod " + name,
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name},
		FirstTimestamp: metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)),
		Count:          3,
	}
	for _, m := range mods {
		m(ev)
	}
	return ev
}

func TestEventSignal(t *testing.T) {
	sig, ok := EventSignal(event("BackOff", "Pod", "shop", "web-1"), DefaultEventReasons)
	if !ok {
		t.Fatal("a BackOff Warning about a pod must become a signal")
	}
	if sig.Target != (kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "web-1"}) || sig.Source != kubernautv1.SignalSourceKubernetesEvent ||
		sig.Name != "BackOff" || sig.Severity != kubernautv1.SeverityWarning || sig.Annotations["count"] != "3" || !sig.Firing {
		t.Errorf("signal %+v", sig)
	}
	again, _ := EventSignal(event("BackOff", "Pod", "shop", "web-1", func(e *corev1.Event) { e.Name = "web-1.2"; e.Count = 9 }), DefaultEventReasons)
	if again.Fingerprint != sig.Fingerprint {
		t.Error("the same reason on the same object must keep its fingerprint, so repeats are counted")
	}
	node, ok := EventSignal(event("NodeNotReady", "Node", "default", "worker-2"), DefaultEventReasons)
	if !ok || node.Target != (kubernautv1.Target{Kind: "Node", Name: "worker-2"}) || node.Severity != kubernautv1.SeverityCritical {
		t.Errorf("node event: %v %+v", ok, node)
	}
	for name, ev := range map[string]*corev1.Event{
		"normal event":     event("BackOff", "Pod", "shop", "web-1", func(e *corev1.Event) { e.Type = corev1.EventTypeNormal }),
		"unwanted reason":  event("Pulled", "Pod", "shop", "web-1"),
		"unknown kind":     event("BackOff", "CronTab", "shop", "x"),
		"bad object name":  event("BackOff", "Pod", "shop", "Web_1"),
		"namespaced, none": event("BackOff", "Pod", "", "web-1"),
	} {
		if sig, ok := EventSignal(ev, DefaultEventReasons); ok {
			t.Errorf("%s: must not become a signal, got %+v", name, sig)
		}
	}
}
