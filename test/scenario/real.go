package scenario

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/gateway"
)

// RealEstate makes situations happen for real on a real node (test/cluster's RealNode): its
// workloads run the workload image (test/node/workload), and the kubelet, the kernel and the
// readiness probes do what the kwok Estate's helpers only write.
type RealEstate struct {
	Estate
	// Image is the workload image, imported into the node's containerd.
	Image string
	// NodeLabel is the label (value "true") and NoSchedule taint key of the real node.
	NodeLabel string
	// Kubectl runs kubectl against the cluster with these arguments (exec into a pod).
	Kubectl []string
}

// Deployment makes a Deployment of the workload image on the real node, running args, with a
// 64 MiB memory limit and a readiness probe on /ready; it does not wait.
func (e RealEstate) Deployment(ctx context.Context, name string, replicas int32, args ...string) (*appsv1.Deployment, error) {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1),
					NodeSelector: map[string]string{e.NodeLabel: "true"},
					Tolerations:  []corev1.Toleration{{Key: e.NodeLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{Name: "app", Image: e.Image, ImagePullPolicy: corev1.PullNever, Args: args,
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}}}}}}}
	if err := e.Client.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating Deployment %s/%s: %w", e.Namespace, name, err)
	}
	return d, nil
}

// available waits until the Deployment has rolled out and its pods are Ready.
func (e RealEstate) available(ctx context.Context, d *appsv1.Deployment) error {
	return e.wait(ctx, "Deployment "+d.Name+" available", func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err
		}
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.UpdatedReplicas == *d.Spec.Replicas &&
			s.AvailableReplicas == *d.Spec.Replicas && s.Replicas == *d.Spec.Replicas, nil
	})
}

// pods lists the Deployment's pods, not being deleted.
func (e RealEstate) pods(ctx context.Context, app string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := e.Client.List(ctx, &list, client.InNamespace(e.Namespace), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil }), nil
}

// CrashLoopAfterRollout serves from revision 1, then rolls out a revision 2 whose container
// crashes on start, for real; it returns once a pod of revision 2 restarted twice, with the
// alert kube-state-metrics raises for it.
func (e RealEstate) CrashLoopAfterRollout(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	d, err := e.Deployment(ctx, name, 1, "serve")
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	if err := e.available(ctx, d); err != nil {
		return gateway.WebhookAlert{}, err
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Args = []string{"crash"}
		return e.Client.Update(ctx, d)
	}); err != nil {
		return gateway.WebhookAlert{}, fmt.Errorf("rolling out a crashing revision of %s: %w", name, err)
	}
	pod, err := e.podWhere(ctx, name, "a pod of the new revision restarting twice", func(p corev1.Pod) bool {
		return slices.Equal(p.Spec.Containers[0].Args, []string{"crash"}) &&
			len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
	})
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": e.Namespace,
		"pod": pod.Name, "container": "app", "reason": "CrashLoopBackOff", "job": "kube-state-metrics", "service": "kube-state-metrics"},
		map[string]string{"summary": "Pod is crash looping.",
			"description": fmt.Sprintf("Pod %s/%s (app) is in waiting state (reason: \"CrashLoopBackOff\").", e.Namespace, pod.Name)}, time.Now()), nil
}

// OOMKilled runs a container that allocates 80 MiB under its 64 MiB limit: the kernel kills
// it, and the kubelet restarts it, for real. It returns once a container was OOMKilled.
func (e RealEstate) OOMKilled(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	if _, err := e.Deployment(ctx, name, 1, "serve", "--alloc-mib", "80"); err != nil {
		return gateway.WebhookAlert{}, err
	}
	pod, err := e.podWhere(ctx, name, "a container OOMKilled", func(p corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		return last != nil && last.Reason == "OOMKilled"
	})
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": e.Namespace,
		"pod": pod.Name, "container": "app", "reason": "CrashLoopBackOff", "job": "kube-state-metrics", "service": "kube-state-metrics"},
		map[string]string{"summary": "Pod is crash looping."}, time.Now()), nil
}

// StuckPod serves from three pods, then wedges one (its /ready answers 503 from then on,
// through a real exec): the kubelet's probe takes it out of service while its siblings serve.
func (e RealEstate) StuckPod(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	d, err := e.Deployment(ctx, name, 3, "serve")
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	if err := e.available(ctx, d); err != nil {
		return gateway.WebhookAlert{}, err
	}
	pods, err := e.pods(ctx, name)
	if err != nil || len(pods) == 0 {
		return gateway.WebhookAlert{}, fmt.Errorf("listing the pods of %s: %v", name, err)
	}
	stuck := pods[0]
	args := append(slices.Clone(e.Kubectl), "exec", "-n", e.Namespace, stuck.Name, "--", "/workload", "wedge")
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		return gateway.WebhookAlert{}, fmt.Errorf("wedging pod %s: %w: %s", stuck.Name, err, out)
	}
	if err := e.wait(ctx, "the kubelet's probe to see the wedge", func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2, nil
	}); err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(map[string]string{"alertname": "KubePodNotReady", "severity": "warning", "namespace": e.Namespace, "pod": stuck.Name},
		map[string]string{"summary": "Pod has been in a non-ready state for more than 15 minutes."}, time.Now()), nil
}

// podWhere waits for a pod of the Deployment for which ok holds.
func (e RealEstate) podWhere(ctx context.Context, app, what string, ok func(corev1.Pod) bool) (corev1.Pod, error) {
	var found corev1.Pod
	err := e.wait(ctx, what, func(ctx context.Context) (bool, error) {
		pods, err := e.pods(ctx, app)
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if ok(p) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}

// Describe says what the Deployment's pods are doing: for each, its readiness, restarts, the
// container's arguments, its memory limit and how its last instance ended.
func (e RealEstate) Describe(ctx context.Context, app string) string {
	pods, err := e.pods(ctx, app)
	if err != nil {
		return "cannot list its pods: " + err.Error()
	}
	var out []string
	for _, p := range pods {
		ready, restarts, last := "not ready", int32(0), ""
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = "ready"
			}
		}
		if len(p.Status.ContainerStatuses) == 1 {
			cs := p.Status.ContainerStatuses[0]
			restarts = cs.RestartCount
			if t := cs.LastTerminationState.Terminated; t != nil {
				last = fmt.Sprintf(", last ended %s (exit %d)", t.Reason, t.ExitCode)
			}
		}
		c := p.Spec.Containers[0]
		out = append(out, fmt.Sprintf("%s %s, %d restarts, args %q, limit %s%s", p.Name, ready, restarts,
			strings.Join(c.Args, " "), c.Resources.Limits.Memory(), last))
	}
	if len(out) == 0 {
		return "no pods"
	}
	return strings.Join(out, "; ")
}
