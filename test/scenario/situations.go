package scenario

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// Estate is one namespace's workloads on a cluster whose pods kwok runs.
type Estate struct {
	// Client talks to the cluster as an administrator.
	Client client.Client
	// Namespace holds the workloads.
	Namespace string
	// Timeout bounds each wait for the cluster (60 s when zero).
	Timeout time.Duration
}

// NewEstate creates a namespace named prefix plus a random suffix, opted in to remediation,
// with its environment label (production, staging, development), and returns its estate.
func NewEstate(ctx context.Context, c client.Client, prefix, environment string) (Estate, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: map[string]string{kubernautv1.OptInLabel: "true", "environment": environment}}}
	if err := c.Create(ctx, ns); err != nil {
		return Estate{}, fmt.Errorf("creating a namespace %s…: %w", prefix, err)
	}
	return Estate{Client: c, Namespace: ns.Name}, nil
}

func (e Estate) wait(ctx context.Context, what string, done func(ctx context.Context) (bool, error)) error {
	timeout := e.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := done(ctx)
		if err != nil {
			last = err
		}
		return ok, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("waiting for %s in %s: %w (last error: %v)", what, e.Namespace, err, last)
		}
		return fmt.Errorf("waiting for %s in %s: %w", what, e.Namespace, err)
	}
	return nil
}

// Deployment is a Deployment of image shop/<name>:1.0 with one container "app".
func (e Estate) Deployment(name string, replicas int32, mods ...func(*appsv1.Deployment)) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/" + name + ":1.0"}}},
			},
		},
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

// Run creates the Deployment and waits until it is Available with every pod Ready; it
// returns the pods.
func (e Estate) Run(ctx context.Context, d *appsv1.Deployment) ([]corev1.Pod, error) {
	if err := e.Client.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return e.RolledOut(ctx, d)
}

// RolledOut waits until the Deployment's newest revision runs every replica, Ready, and
// nothing else runs; it returns the pods.
func (e Estate) RolledOut(ctx context.Context, d *appsv1.Deployment) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := e.wait(ctx, "Deployment "+d.Name+" rolled out", func(ctx context.Context) (bool, error) {
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err
		}
		want := *d.Spec.Replicas
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.Replicas != want || s.AvailableReplicas != want {
			return false, nil
		}
		var list corev1.PodList
		if err := e.Client.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
			if !ready(&p) || p.Spec.Containers[0].Image != d.Spec.Template.Spec.Containers[0].Image {
				return false, nil
			}
			pods = append(pods, p)
		}
		return len(pods) == int(want), nil
	})
	return pods, err
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Release rolls the Deployment out to a new image (a new revision) and waits for its pods.
func (e Estate) Release(ctx context.Context, d *appsv1.Deployment, image string) ([]corev1.Pod, error) {
	if err := update(ctx, e.Client, d, false, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }); err != nil {
		return nil, err
	}
	return e.RolledOut(ctx, d)
}

// update reads obj again, changes it (its status with status) and writes it back, retrying on
// conflicts: the controllers and kwok write the same objects. obj holds what was written.
func update[T client.Object](ctx context.Context, c client.Client, obj T, status bool, mutate func(T)) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		if status {
			return c.Status().Update(ctx, obj)
		}
		return c.Update(ctx, obj)
	})
	if err != nil {
		return fmt.Errorf("updating %T %s (status %t): %w", obj, client.ObjectKeyFromObject(obj), status, err)
	}
	return nil
}

// updateNode is update for node name.
func updateNode(ctx context.Context, c client.Client, name string, status bool, mutate func(*corev1.Node)) error {
	return update(ctx, c, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, status, mutate)
}

// Crash writes the status of a pod whose container keeps dying: CrashLoopBackOff after six
// restarts, last terminated with reason and exit code (Error 1, OOMKilled 137).
func Crash(ctx context.Context, c client.Client, pod *corev1.Pod, reason string, exitCode int32) error {
	now := metav1.Now()
	return update(ctx, c, pod, true, func(p *corev1.Pod) {
		// Running, so that kwok's pod-ready stage (it picks Pending pods) leaves it alone.
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image, Ready: false, RestartCount: 6,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: reason, ExitCode: exitCode, StartedAt: now, FinishedAt: now}},
		}}
	})
}

// Wedge writes the status of a pod whose container runs but never passes its readiness probe.
func Wedge(ctx context.Context, c client.Client, pod *corev1.Pod) error {
	now := metav1.Now()
	return update(ctx, c, pod, true, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
			Message: "containers with unready status: [app]", LastTransitionTime: now}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image, Ready: false, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now.Add(-time.Hour))}},
		}}
	})
}

// labels of an alert on the objects of this estate, with the usual kube-state-metrics labels.
func (e Estate) labels(alertname, severity string, kv ...string) map[string]string {
	l := map[string]string{"alertname": alertname, "severity": severity, "namespace": e.Namespace,
		"job": "kube-state-metrics", "service": "kube-state-metrics"}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// CrashLoopAfterRollout runs Deployment name at 1.0, releases 2.0 whose pod then crash-loops,
// and returns KubePodCrashLooping for that pod.
func (e Estate) CrashLoopAfterRollout(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	d := e.Deployment(name, 1)
	if _, err := e.Run(ctx, d); err != nil {
		return gateway.WebhookAlert{}, err
	}
	pods, err := e.Release(ctx, d, "shop/"+name+":2.0")
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return e.CrashLooping(ctx, &pods[0], "critical", "Error", 1)
}

// CrashLooping makes pod's container "app" crash-loop (its last exit: reason, exitCode) and
// returns kube-prometheus' KubePodCrashLooping for it.
func (e Estate) CrashLooping(ctx context.Context, pod *corev1.Pod, severity, reason string, exitCode int32) (gateway.WebhookAlert, error) {
	if err := Crash(ctx, e.Client, pod, reason, exitCode); err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(e.labels("KubePodCrashLooping", severity, "pod", pod.Name, "container", "app", "reason", "CrashLoopBackOff"),
		map[string]string{"summary": "Pod is crash looping.",
			"description": fmt.Sprintf("Pod %s/%s (app) is in waiting state (reason: \"CrashLoopBackOff\").", e.Namespace, pod.Name),
			"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"}, time.Now()), nil
}

// OOMKilled runs Deployment name with a 128Mi memory limit whose container is then killed for
// memory, and returns KubePodCrashLooping for its pod (kube-prometheus has no OOM alert of its
// own; the container's last state says OOMKilled).
func (e Estate) OOMKilled(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	d := e.Deployment(name, 1, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}
	})
	pods, err := e.Run(ctx, d)
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return e.CrashLooping(ctx, &pods[0], "warning", "OOMKilled", 137)
}

// HPAAtMax runs Deployment name at 2 replicas under an HPA (1–2) that wants more, and returns
// KubeHpaMaxedOut.
func (e Estate) HPAAtMax(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	if _, err := e.Run(ctx, e.Deployment(name, 2)); err != nil {
		return gateway.WebhookAlert{}, err
	}
	hpa := e.HPA(name, 1, 2)
	if err := e.Client.Create(ctx, hpa); err != nil {
		return gateway.WebhookAlert{}, fmt.Errorf("creating HPA %s: %w", name, err)
	}
	err := update(ctx, e.Client, hpa, true, func(hpa *autoscalingv2.HorizontalPodAutoscaler) {
		hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas = 2, 2
		hpa.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue,
			Reason: "TooManyReplicas", Message: "the desired replica count is more than the maximum replica count", LastTransitionTime: metav1.Now()}}
	})
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(e.labels("KubeHpaMaxedOut", "warning", "horizontalpodautoscaler", name),
		map[string]string{"summary": "HPA is running at max replicas",
			"description": fmt.Sprintf("HPA %s/%s has been running at max replicas for longer than 15 minutes.", e.Namespace, name)}, time.Now()), nil
}

// HPA is an HPA scaling Deployment name between min and max replicas.
func (e Estate) HPA(name string, min, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To(min), MaxReplicas: max,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name}}}
}

// BrokenPreviousRevision runs Deployment name at revision 2 (shop/<name>:2.0) whose revision 1
// can run on no node: rolling back never becomes healthy, and its 3-second progress deadline
// says so. It returns revision 2's pods.
func (e Estate) BrokenPreviousRevision(ctx context.Context, name string) ([]corev1.Pod, error) {
	d := e.Deployment(name, 1, func(d *appsv1.Deployment) {
		d.Spec.ProgressDeadlineSeconds = ptr.To[int32](3)
		d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernaut.io/no-such-node": "true"}
	})
	if err := e.Client.Create(ctx, d); err != nil {
		return nil, fmt.Errorf("creating Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	err := update(ctx, e.Client, d, false, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.NodeSelector = nil
		d.Spec.Template.Spec.Containers[0].Image = "shop/" + name + ":2.0"
	})
	if err != nil {
		return nil, err
	}
	return e.RolledOut(ctx, d)
}

// StuckPod runs Deployment name at 3 replicas, one of which then runs but never turns Ready,
// and returns KubePodNotReady for it.
func (e Estate) StuckPod(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	pods, err := e.Run(ctx, e.Deployment(name, 3))
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	if err := Wedge(ctx, e.Client, &pods[0]); err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(e.labels("KubePodNotReady", "warning", "pod", pods[0].Name),
		map[string]string{"summary": "Pod has been in a non-ready state for more than 15 minutes.",
			"description": fmt.Sprintf("Pod %s/%s has been in a non-ready state for longer than 15 minutes.", e.Namespace, pods[0].Name)}, time.Now()), nil
}

// WedgedBehindService runs a Service name selecting the pods labelled tier=name of three
// Deployments <name>-a, <name>-b (two replicas each) and <name>-c (one); one pod of each of
// the first two then runs but never turns Ready. It waits until their Deployments count it and
// returns an alert on the Service, as a blackbox or endpoints rule names it.
func (e Estate) WedgedBehindService(ctx context.Context, name string) (gateway.WebhookAlert, error) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"tier": name}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if err := e.Client.Create(ctx, svc); err != nil {
		return gateway.WebhookAlert{}, fmt.Errorf("creating Service %s: %w", name, err)
	}
	tier := func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = name }
	for _, w := range []struct {
		suffix   string
		replicas int32
		wedge    bool
	}{{"a", 2, true}, {"b", 2, true}, {"c", 1, false}} {
		d := e.Deployment(name+"-"+w.suffix, w.replicas, tier)
		pods, err := e.Run(ctx, d)
		if err != nil {
			return gateway.WebhookAlert{}, err
		}
		if !w.wedge {
			continue
		}
		if err := Wedge(ctx, e.Client, &pods[0]); err != nil {
			return gateway.WebhookAlert{}, err
		}
		err = e.wait(ctx, "Deployment "+d.Name+" counts its wedged pod", func(ctx context.Context) (bool, error) {
			if err := e.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return false, err
			}
			return d.Status.ReadyReplicas == w.replicas-1, nil
		})
		if err != nil {
			return gateway.WebhookAlert{}, err
		}
	}
	return Alert(e.labels("ServiceEndpointsNotReady", "warning", "service", name),
		map[string]string{"summary": "Endpoints of a Service are not ready.",
			"description": fmt.Sprintf("Service %s/%s has endpoints that have not been ready for 10 minutes.", e.Namespace, name)}, time.Now()), nil
}

// Guarded puts a PodDisruptionBudget on Deployment name that allows one pod down at a time.
func (e Estate) Guarded(ctx context.Context, name string) error {
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}}}
	if err := e.Client.Create(ctx, pdb); err != nil {
		return fmt.Errorf("creating PodDisruptionBudget %s: %w", name, err)
	}
	return nil
}

// NodeDown writes a node's status as the node lifecycle controller does once its kubelet
// stopped posting (Ready Unknown), opts the node in to remediation, and returns
// KubeNodeNotReady. The node's cluster.KubeletStoppedLabel keeps kwok from marking it Ready
// again (the local control plane's kwok honours it).
func NodeDown(ctx context.Context, c client.Client, name string) (gateway.WebhookAlert, error) {
	err := updateNode(ctx, c, name, false, func(n *corev1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[kubernautv1.OptInLabel] = "true"
		n.Labels[cluster.KubeletStoppedLabel] = "true"
	})
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	err = updateNode(ctx, c, name, true, func(n *corev1.Node) {
		for i, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				n.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
					Message: "Kubelet stopped posting node status.", LastHeartbeatTime: cond.LastHeartbeatTime, LastTransitionTime: metav1.Now()}
			}
		}
	})
	if err != nil {
		return gateway.WebhookAlert{}, err
	}
	return Alert(map[string]string{"alertname": "KubeNodeNotReady", "severity": "warning", "node": name,
		"condition": "Ready", "status": "unknown", "job": "kube-state-metrics", "service": "kube-state-metrics"},
		map[string]string{"summary": "Node is not ready.", "description": fmt.Sprintf("%s has been unready for more than 15 minutes.", name),
			"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodenotready"}, time.Now()), nil
}

// NewNode creates kwok node name and waits until kwok made it Ready (60 s at most).
func NewNode(ctx context.Context, c client.Client, name string) error {
	node := cluster.KwokNode(name)
	if err := c.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", name, err)
	}
	return Estate{Client: c}.wait(ctx, "node "+name+" Ready", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue && !node.Spec.Unschedulable, nil
			}
		}
		return false, nil
	})
}

// PodsOnNode creates kwok node name (Ready) and runs Deployment d with its pods on it: the
// other nodes are cordoned while the pods are scheduled, and uncordoned after. d prefers the
// node, so that pods evicted from it may run elsewhere. It returns the pods.
func (e Estate) PodsOnNode(ctx context.Context, name string, d *appsv1.Deployment) ([]corev1.Pod, error) {
	if err := NewNode(ctx, e.Client, name); err != nil {
		return nil, err
	}
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{name}}}}}}}}
	var nodes corev1.NodeList
	if err := e.Client.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	var others []string
	for _, n := range nodes.Items {
		if n.Name != name && !n.Spec.Unschedulable {
			others = append(others, n.Name)
		}
	}
	setUnschedulable := func(on bool) error {
		for _, n := range others {
			if err := updateNode(ctx, e.Client, n, false, func(n *corev1.Node) { n.Spec.Unschedulable = on }); err != nil {
				return err
			}
		}
		return nil
	}
	if err := setUnschedulable(true); err != nil {
		return nil, err
	}
	pods, err := e.Run(ctx, d)
	if uerr := setUnschedulable(false); err == nil {
		err = uerr
	}
	return pods, err
}
