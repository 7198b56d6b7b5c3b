package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/terminal"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// step creates a KubernetesExecution for one action and waits until it ends.
func step(ctx SpecContext, ns, name string, a kubernautv1.ActionStep, mods ...func(*kubernautv1.KubernetesExecution)) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	ke := &kubernautv1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       kubernautv1.KubernetesExecutionSpec{ActionStep: a, Mode: kubernautv1.ExecutionModeExecute, StepName: name, TimeoutSeconds: 120},
	}
	for _, m := range mods {
		m(ke)
	}
	Expect(k8s.Create(ctx, ke)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
		g.Expect(ke.Status.Phase).To(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected),
			"%v", ke.Status.Conditions)
	}).WithContext(ctx).WithTimeout(90 * time.Second).Should(Succeed())
	return ke
}

// succeeded runs a step that must succeed.
func succeeded(ctx SpecContext, ns, name string, a kubernautv1.ActionStep) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	ke := step(ctx, ns, name, a)
	Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
	Expect(ke.Status.Verification.Result).To(Equal("Passed"))
	Expect(ke.Status.Authorization.Allowed).To(BeTrue())
	Expect(ke.Status.DryRun.Result).To(Equal("Succeeded"))
	return ke
}

// narrowRole replaces the rules of an action's ClusterRole until the spec ends, and waits until
// the API server's authorizer refuses the action's ServiceAccount what probe asks (RBAC reads
// roles through an informer); the cleanup restores the rules and waits until it is allowed
// again. The ServiceAccount holds nothing at rest (each step binds its role just in time), so
// while it waits the role is bound in the probe's namespace by a binding of the test's own.
func narrowRole(ctx SpecContext, sa string, rules []rbacv1.PolicyRule, probe authorizationv1.ResourceAttributes) {
	GinkgoHelper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: sa}}
	get(ctx, role)
	orig := role.Rules
	allowed := func(ctx context.Context) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + actionsNamespace + ":" + sa, ResourceAttributes: &probe,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + actionsNamespace, "system:authenticated"}}}
		err := k8s.Create(ctx, sar)
		return sar.Status.Allowed, err
	}
	// probing binds the role in the probe's namespace while f runs.
	probing := func(ctx SpecContext, f func()) {
		GinkgoHelper()
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: probe.Namespace, Name: "probe-" + sa},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: sa},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: actionsNamespace}}}
		Expect(k8s.Create(ctx, rb)).To(Succeed())
		defer func() { Expect(k8s.Delete(ctx, rb)).To(Succeed()) }()
		f()
	}
	// Restored even when this spec fails: the other specs need the action's real role.
	DeferCleanup(func(ctx SpecContext) {
		probing(ctx, func() {
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				if err := k8s.Get(ctx, client.ObjectKeyFromObject(role), role); err != nil {
					return err
				}
				role.Rules = orig
				return k8s.Update(ctx, role)
			})).To(Succeed())
			Eventually(allowed).WithContext(ctx).WithTimeout(10 * time.Second).Should(BeTrue())
		})
	})
	probing(ctx, func() {
		// The authorizer sees the binding with the role as it was, then the narrowed role.
		Eventually(allowed).WithContext(ctx).WithTimeout(10 * time.Second).Should(BeTrue())
		role.Rules = rules
		Expect(k8s.Update(ctx, role)).To(Succeed())
		Eventually(allowed).WithContext(ctx).WithTimeout(10 * time.Second).Should(BeFalse())
	})
}

// optInNode labels a node kubernaut.io/remediate=true: node actions need the node's own opt-in.
func optInNode(ctx SpecContext, name string) {
	GinkgoHelper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(k8s.Patch(ctx, node, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+kubernautv1.OptInLabel+`":"true"}}}`)))).To(Succeed())
}

// undo compensates a finished step and waits until its pre-state is back.
func undo(ctx SpecContext, of *kubernautv1.KubernetesExecution) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	ke := step(ctx, of.Namespace, "undo-"+of.Name, of.Spec.ActionStep, func(ke *kubernautv1.KubernetesExecution) {
		ke.Spec.Mode = kubernautv1.ExecutionModeCompensate
		ke.Spec.Compensates = &kubernautv1.LocalReference{Name: of.Name}
	})
	Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
	return ke
}

// execRecorder plays the kubelet's exec (kwok runs no containers): it records each command.
type execRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (e *execRecorder) Exec(_ context.Context, namespace, pod, container string, command []string) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, fmt.Sprintf("%s/%s/%s: %s", namespace, pod, container, strings.Join(command, " ")))
	return "OK\n", "", nil
}

func (e *execRecorder) in(namespace string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.calls {
		if strings.HasPrefix(c, namespace+"/") {
			out = append(out, c)
		}
	}
	return out
}

// execs records the exec calls of the controllers startControllers runs.
var execs = &execRecorder{}

func target(kind kubernautv1.TargetKind, ns, name string) kubernautv1.Target {
	return kubernautv1.Target{Kind: kind, Namespace: ns, Name: name}
}

func get(ctx SpecContext, obj client.Object) {
	GinkgoHelper()
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
}

func rolledOut(ctx SpecContext, d *appsv1.Deployment) {
	GinkgoHelper()
	must(estateOf(d.Namespace).RolledOut(ctx, d))
}

// hpaOf is an HPA scaling Deployment name between min and max.
func hpaOf(ns, name string, min, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	return estateOf(ns).HPA(name, min, max)
}

// release rolls a Deployment out to a new image (a new revision) and waits for the rollout.
func release(ctx SpecContext, d *appsv1.Deployment, image string) {
	GinkgoHelper()
	must(estateOf(d.Namespace).Release(ctx, d, image))
}

func condition(ke *kubernautv1.KubernetesExecution, typ string) *metav1.Condition {
	return meta.FindStatusCondition(ke.Status.Conditions, typ)
}

var _ = Describe("The actions on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		startControllers(ctx)
		DeferCleanup(healthy)
	})

	It("scale_deployment scales through the scale subresource, verifies the rollout, and its inverse restores the replicas", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-scale-")
		d := deployment(ns, "web", 2)
		available(ctx, d)
		ke := succeeded(ctx, ns, "scale", kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: target("Deployment", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 4}}})
		Expect(*ke.Status.PreState.Replicas).To(Equal(int32(2)))
		Expect(ke.Status.DryRun.Diff).To(ContainSubstring("+  replicas: 4"))
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(4)))
		Expect(d.Status.AvailableReplicas).To(Equal(int32(4)), "verified only once the rollout was complete")

		u := undo(ctx, ke)
		Expect(u.Status.Verification.Message).To(ContainSubstring("back to 2 replicas"))
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
	})

	It("scale_deployment is refused while an HPA owns the replicas, before anything changes", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-hpa-owned-")
		available(ctx, deployment(ns, "web", 2))
		Expect(k8s.Create(ctx, hpaOf(ns, "web", 2, 5))).To(Succeed())
		ke := step(ctx, ns, "scale", kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: target("Deployment", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 4}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring("HorizontalPodAutoscaler " + ns + "/web owns the replicas"))
		Expect(ke.Status.PreState).To(BeNil(), "nothing was about to change")
	})

	It("restart_deployment restarts as kubectl rollout restart does and waits for the rollout", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-restart-")
		d := deployment(ns, "web", 2)
		old := available(ctx, d)
		ke := succeeded(ctx, ns, "restart", kubernautv1.ActionStep{Action: kubernautv1.ActionRestartDeployment, Target: target("Deployment", ns, "web")})
		get(ctx, d)
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(actions.RestartedAtAnnotation, ke.Status.PreState.CapturedAt.Format(time.RFC3339)))
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				Expect(p.Name).NotTo(BeElementOf(old[0].Name, old[1].Name), "the pods were replaced")
			}
		}
		// It has no inverse: its compensation has nothing to restore.
		u := undo(ctx, ke)
		Expect(condition(u, kubernautv1.ExecutedCondition).Reason).To(Equal(kubernautv1.ReasonNothingToUndo))
	})

	It("restart_deployment restarts StatefulSets and DaemonSets too, by kubectl's rollout rules", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-restart-sts-")
		labels := map[string]string{"app": "db"}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/db:1"}}}}
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl, ServiceName: "db"}}
		Expect(k8s.Create(ctx, sts)).To(Succeed())
		agent := map[string]string{"app": "agent"}
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"}, Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: agent},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: agent}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "shop/agent:1"}}}}}}
		Expect(k8s.Create(ctx, ds)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sts), sts)).To(Succeed())
			g.Expect(sts.Status.ReadyReplicas).To(Equal(int32(2)))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.Status.NumberReady).To(Equal(int32(2)), "one pod on each kwok node")
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		// kubectl's StatusViewers: a StatefulSet with the API server's default partition of 0
		// reports a "partitioned roll out"; a DaemonSet "successfully rolled out".
		for t, want := range map[kubernautv1.Target]string{
			target("StatefulSet", ns, "db"):  "partitioned roll out complete: 2 new pods have been updated",
			target("DaemonSet", ns, "agent"): `daemon set "agent" successfully rolled out`,
		} {
			ke := succeeded(ctx, ns, "restart-"+strings.ToLower(string(t.Kind)), kubernautv1.ActionStep{Action: kubernautv1.ActionRestartDeployment, Target: t})
			Expect(ke.Status.Verification.Message).To(ContainSubstring(want), "%s", t.Kind)
		}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sts), sts)).To(Succeed())
		Expect(sts.Spec.Template.Annotations).To(HaveKey(actions.RestartedAtAnnotation))
	})

	It("restart_service restarts every workload behind the Service's selector", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-svc-")
		available(ctx, deployment(ns, "web", 1))
		available(ctx, deployment(ns, "other", 1))
		Expect(k8s.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})).To(Succeed())
		ke := succeeded(ctx, ns, "restart-svc", kubernautv1.ActionStep{Action: kubernautv1.ActionRestartService, Target: target("Service", ns, "web")})
		Expect(ke.Status.Result.Changed).To(ConsistOf(HaveField("Target", target("Deployment", ns, "web"))))
		other := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other"}}
		get(ctx, other)
		Expect(other.Spec.Template.Annotations).NotTo(HaveKey(actions.RestartedAtAnnotation), "not behind the Service")
	})

	It("rollback_deployment restores the previous revision's template as kubectl rollout undo, and its inverse the newer one", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-rollback-")
		d := deployment(ns, "web", 1)
		available(ctx, d)
		release(ctx, d, "shop/web:2.0")
		ke := succeeded(ctx, ns, "rollback", kubernautv1.ActionStep{Action: kubernautv1.ActionRollbackDeployment, Target: target("Deployment", ns, "web")})
		get(ctx, d)
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("shop/web:1.0"))
		Expect(*ke.Status.PreState.Revision).To(Equal(int64(2)))
		Expect(ke.Status.DryRun.Diff).To(And(ContainSubstring("-      - image: shop/web:2.0"), ContainSubstring("+      - image: shop/web:1.0")))

		undo(ctx, ke)
		get(ctx, d)
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("shop/web:2.0"))
	})

	It("rollback_deployment goes back only to a revision that served within --max-rollback-age", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-rollback-age-")
		d := deployment(ns, "web", 1)
		available(ctx, d)
		release(ctx, d, "shop/web:2.0")
		impl, err := actions.For(kubernautv1.ActionRollbackDeployment)
		Expect(err).NotTo(HaveOccurred())
		step := kubernautv1.ActionStep{Action: kubernautv1.ActionRollbackDeployment, Target: target("Deployment", ns, "web")}
		// Eight days on, revision 1 last served (until revision 2 replaced it) eight days ago.
		later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
		e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr, MaxRollbackAge: 7 * 24 * time.Hour, Now: later}
		_, err = impl.Capture(ctx, e, step)
		Expect(err).To(MatchError(And(ContainSubstring("spec.parameters.rollbackDeployment.toRevision: revision 1 of Deployment/"+ns+"/web last served 192h0m0s ago"),
			ContainSubstring("a rollback goes back only to a revision that served within the last 168h0m0s"))))
		Expect(terminal.Is(err)).To(BeTrue(), "a refusal is terminal")
		e.Now = nil
		pre, err := impl.Capture(ctx, e, step)
		Expect(err).NotTo(HaveOccurred(), "today, revision 1 served a moment ago")
		Expect(pre.TargetReplicaSet).NotTo(BeEmpty())
	})

	It("rollback_deployment without history is rejected with kubectl's reason", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-nohist-")
		available(ctx, deployment(ns, "web", 1))
		ke := step(ctx, ns, "rollback", kubernautv1.ActionStep{Action: kubernautv1.ActionRollbackDeployment, Target: target("Deployment", ns, "web")})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring("no rollout history found"))
	})

	It("increase_memory_limit raises the limit by the percentage within its cap, and its inverse restores it", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-mem-")
		d := deployment(ns, "web", 1, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
		})
		available(ctx, d)
		ke := succeeded(ctx, ns, "memory", kubernautv1.ActionStep{Action: kubernautv1.ActionIncreaseMemoryLimit, Target: target("Deployment", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Percent: 100, MaxLimit: ptr.To(resource.MustParse("768Mi"))}}})
		get(ctx, d)
		got := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		Expect(got.String()).To(Equal("768Mi"), "doubled, capped at maxLimit")
		undo(ctx, ke)
		get(ctx, d)
		got = d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		Expect(got.String()).To(Equal("512Mi"))
	})

	It("refuses bad parameters naming the field, before anything changes", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-badparam-")
		d := deployment(ns, "web", 1)
		available(ctx, d)
		ke := step(ctx, ns, "memory", kubernautv1.ActionStep{Action: kubernautv1.ActionIncreaseMemoryLimit, Target: target("Deployment", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Container: "sidecar", Percent: 50}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonInvalidParameters),
			HaveField("Message", ContainSubstring(`spec.parameters.increaseMemoryLimit.container: Deployment/`+ns+`/web has no container "sidecar"`))))
	})

	It("update_config patches the keys, and its inverse puts back the old values and removes the new keys", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-cm-")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "debug", "POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		ke := succeeded(ctx, ns, "config", kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: target("ConfigMap", ns, "settings"),
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{
				Data: map[string]string{"LOG_LEVEL": "info", "NEW": "1"}, RemoveKeys: []string{"POOL"}}}})
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"LOG_LEVEL": "info", "NEW": "1"}))
		Expect(ke.Status.PreState.ConfigData).To(Equal(map[string]string{"LOG_LEVEL": "debug", "POOL": "10"}))
		undo(ctx, ke)
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"LOG_LEVEL": "debug", "POOL": "10"}))
	})

	It("update_hpa sets the bounds, and its inverse restores them", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-hpa-")
		available(ctx, deployment(ns, "web", 2))
		hpa := hpaOf(ns, "web", 2, 4)
		Expect(k8s.Create(ctx, hpa)).To(Succeed())
		ke := succeeded(ctx, ns, "hpa", kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateHPA, Target: target("HorizontalPodAutoscaler", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{UpdateHPA: &kubernautv1.UpdateHPAParameters{MaxReplicas: 8}}})
		get(ctx, hpa)
		Expect(hpa.Spec.MaxReplicas).To(Equal(int32(8)))
		Expect(*ke.Status.PreState.MaxReplicas).To(Equal(int32(4)))
		undo(ctx, ke)
		get(ctx, hpa)
		Expect(hpa.Spec.MaxReplicas).To(Equal(int32(4)))
		Expect(*hpa.Spec.MinReplicas).To(Equal(int32(2)))
	})

	It("restart_pod deletes a pod its controller replaces, and refuses a pod without a controller", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-pod-")
		pods := available(ctx, deployment(ns, "web", 2))
		ke := succeeded(ctx, ns, "pod", kubernautv1.ActionStep{Action: kubernautv1.ActionRestartPod, Target: target("Pod", ns, pods[0].Name)})
		Expect(ke.Status.PreState.UID).To(Equal(string(pods[0].UID)))
		Expect(ke.Status.Verification.Message).To(ContainSubstring("2/2 ready"))

		bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bare"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/bare:1"}}}}
		Expect(k8s.Create(ctx, bare)).To(Succeed())
		ke = step(ctx, ns, "bare", kubernautv1.ActionStep{Action: kubernautv1.ActionDeletePod, Target: target("Pod", ns, "bare")})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring("has no controller"))
		get(ctx, bare)
		Expect(k8s.Delete(ctx, bare, client.GracePeriodSeconds(0))).To(Succeed())
	})

	It("clear_cache runs the command the workload declares, in each ready pod, and nothing else", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-cache-")
		pods := available(ctx, deployment(ns, "web", 2, func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{actions.ClearCacheAnnotation: `["redis-cli","FLUSHALL"]`}
		}))
		succeeded(ctx, ns, "cache", kubernautv1.ActionStep{Action: kubernautv1.ActionClearCache, Target: target("Deployment", ns, "web")})
		Expect(execs.in(ns)).To(ConsistOf(ns+"/"+pods[0].Name+"/app: redis-cli FLUSHALL", ns+"/"+pods[1].Name+"/app: redis-cli FLUSHALL"))

		available(ctx, deployment(ns, "plain", 1))
		ke := step(ctx, ns, "plain", kubernautv1.ActionStep{Action: kubernautv1.ActionClearCache, Target: target("Deployment", ns, "plain")})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring("metadata.annotations[kubernaut.io/clear-cache-command]: Deployment/" + ns + "/plain declares no cache-clearing command"))

		available(ctx, deployment(ns, "shell", 1, func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{actions.ClearCacheAnnotation: "rm -rf /cache"}
		}))
		ke = step(ctx, ns, "shell", kubernautv1.ActionStep{Action: kubernautv1.ActionClearCache, Target: target("Deployment", ns, "shell")})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring("must be a non-empty JSON array of strings"))
		Expect(execs.in(ns)).To(HaveLen(2), "no command ran for the refused steps")
	})

	It("a step the safety policy refuses is rejected before any mutation", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-policy-")
		d := deployment(ns, "web", 2)
		available(ctx, d)
		ke := step(ctx, ns, "scale", kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: target("Deployment", ns, "web"),
			Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 900}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Reason).To(Equal(kubernautv1.ReasonPolicyDenied))
		Expect(ke.Status.PolicyDecision.Allowed).To(BeFalse())
		Expect(ke.Status.DryRun).To(BeNil(), "refused before the dry run")
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
	})

	It("a step whose action's ServiceAccount lacks a permission is rejected as Unauthorized, naming it, before any mutation", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-rbac-")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "debug"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		// The operator narrowed update_config's role: it may still read ConfigMaps, not patch them.
		sa := catalog.ServiceAccountName(kubernautv1.ActionUpdateConfig)
		narrowRole(ctx, sa, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
			authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Resource: "configmaps"})

		ke := step(ctx, ns, "config", kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: target("ConfigMap", ns, "settings"),
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"LOG_LEVEL": "info"}}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonUnauthorized),
			HaveField("Message", "ServiceAccount "+actionsNamespace+"/"+sa+" may not: patch configmaps in "+ns)))
		Expect(ke.Status.Authorization).To(Equal(&kubernautv1.AuthorizationResult{ServiceAccount: actionsNamespace + "/" + sa, Denied: []string{"patch configmaps in " + ns}}))
		Expect(ke.Status.DryRun).To(BeNil(), "refused before the dry run")
		Expect(ke.Status.PreState).To(BeNil(), "refused before anything could change")
		get(ctx, cm)
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("debug"))
	})

	It("a dry run validates and records the diff, and mutates nothing", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-dry-")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "debug"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		ke := step(ctx, ns, "config", kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: target("ConfigMap", ns, "settings"),
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"LOG_LEVEL": "info"}}}},
			func(ke *kubernautv1.KubernetesExecution) { ke.Spec.DryRun = true })
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded))
		Expect(condition(ke, kubernautv1.ExecutedCondition).Reason).To(Equal(kubernautv1.ReasonDryRun))
		Expect(ke.Status.DryRun.Diff).To(And(ContainSubstring("-  LOG_LEVEL: debug"), ContainSubstring("+  LOG_LEVEL: info")))
		get(ctx, cm)
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("debug"))
		// A compensation of a dry run has nothing to undo.
		u := undo(ctx, ke)
		Expect(condition(u, kubernautv1.ExecutedCondition).Reason).To(Equal(kubernautv1.ReasonNothingToUndo))
	})

	It("cordon_node cordons and its inverse uncordons; uncordon_node uncordons and its inverse cordons again", func(ctx SpecContext) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kwok-node-1"}}
		optInNode(ctx, node.Name)
		ke := succeeded(ctx, "default", "cordon-"+node.Name, kubernautv1.ActionStep{Action: kubernautv1.ActionCordonNode, Target: kubernautv1.Target{Kind: "Node", Name: node.Name}})
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeTrue())
		Expect(*ke.Status.PreState.Unschedulable).To(BeFalse())
		undo(ctx, ke)
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeFalse())

		// uncordon_node on a cordoned node, and its undo cordons it again.
		Expect(k8s.Patch(ctx, node, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"unschedulable":true}}`)))).To(Succeed())
		un := succeeded(ctx, "default", "uncordon-"+node.Name, kubernautv1.ActionStep{Action: kubernautv1.ActionUncordonNode, Target: kubernautv1.Target{Kind: "Node", Name: node.Name}})
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeFalse())
		Expect(un.Status.Verification.Message).To(ContainSubstring("schedulable and Ready"))
		undo(ctx, un)
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeTrue(), "restored to its pre-state: cordoned")
		Expect(k8s.Patch(ctx, node, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"unschedulable":false}}`)))).To(Succeed())
		for _, k := range []*kubernautv1.KubernetesExecution{ke, un} {
			Expect(k8s.Delete(ctx, k)).To(Succeed())
		}
	})

	It("refuses node actions on a node that has not opted in, and a drain that would evict pods of protected namespaces", func(ctx SpecContext) {
		// Bare nodes: the policy refuses before anything would need a kubelet.
		for _, name := range []string{"not-opted-in", "runs-kube-system"} {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
			if name == "runs-kube-system" {
				n.Labels[kubernautv1.OptInLabel] = "true"
			}
			Expect(k8s.Create(ctx, n)).To(Succeed())
			DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, n))).To(Succeed()) })
		}
		ke := step(ctx, "default", "cordon-not-opted-in", kubernautv1.ActionStep{Action: kubernautv1.ActionCordonNode, Target: kubernautv1.Target{Kind: "Node", Name: "not-opted-in"}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonPolicyDenied),
			HaveField("Message", ContainSubstring("node not-opted-in has not opted in (label kubernaut.io/remediate=true on the Node)"))))

		dns := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", GenerateName: "coredns-"},
			Spec: corev1.PodSpec{NodeName: "runs-kube-system", Containers: []corev1.Container{{Name: "dns", Image: "registry.k8s.io/coredns:e2e"}}}}
		Expect(k8s.Create(ctx, dns)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, dns, client.GracePeriodSeconds(0)))).To(Succeed())
		})
		ke = step(ctx, "default", "drain-runs-kube-system", kubernautv1.ActionStep{Action: kubernautv1.ActionDrainNode, Target: kubernautv1.Target{Kind: "Node", Name: "runs-kube-system"},
			Parameters: &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 10}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring(
			"draining node runs-kube-system would evict 1 pod(s) of protected namespaces (kube-system/" + dns.Name + ")"))
		get(ctx, dns)
		Expect(dns.DeletionTimestamp).To(BeNil())
	})

	It("drain_node waits on a PodDisruptionBudget that forbids the eviction, then fails with the reason; the undo uncordons", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-drain-")
		// A node of its own: what other specs leave running on the shared nodes (an Argo step's
		// pod with its emptyDir, say) would make the drain refuse before it starts.
		nodeName := "drain-node"
		Expect(scenario.NewNode(ctx, k8s, nodeName)).To(Succeed())
		optInNode(ctx, nodeName)
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}))).To(Succeed())
		})
		d := deployment(ns, "web", 1, func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeName = nodeName })
		available(ctx, d)
		Expect(k8s.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}})).To(Succeed())
		Eventually(func(g Gomega) {
			var pdb policyv1.PodDisruptionBudget
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &pdb)).To(Succeed())
			g.Expect(pdb.Status.ObservedGeneration).To(Equal(pdb.Generation))
			g.Expect(pdb.Status.ExpectedPods).To(Equal(int32(1)))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		ke := step(ctx, ns, "drain", kubernautv1.ActionStep{Action: kubernautv1.ActionDrainNode, Target: kubernautv1.Target{Kind: "Node", Name: nodeName},
			Parameters: &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 10}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionFailed), "%v", ke.Status.Conditions)
		Expect(condition(ke, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("draining node " + nodeName))
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeTrue(), "cordoned before the evictions")
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(HaveLen(1), "the budget kept the pod")

		undo(ctx, ke)
		get(ctx, node)
		Expect(node.Spec.Unschedulable).To(BeFalse())
	})

	It("drain_node on a NotReady node does not wait for pods no kubelet will ever finish, past their grace period", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-drain-dead-")
		// A node no kwok manages: nothing acts as its kubelet, as on a node that died. Its pods
		// stay Terminating once evicted.
		nodeName := "dead-node"
		dead := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{"kubernetes.io/hostname": nodeName, kubernautv1.OptInLabel: "true"}}}
		Expect(k8s.Create(ctx, dead)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}))).To(Succeed())
		})
		room := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("10")}
		Eventually(func() error { // the node controller writes the new node too
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(dead), dead); err != nil {
				return err
			}
			dead.Status.Capacity, dead.Status.Allocatable = room, room
			dead.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown",
				Message: "Kubelet stopped posting node status.", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
			return k8s.Status().Update(ctx, dead)
		}).WithContext(ctx).Should(Succeed())
		// The scheduler puts the pod there (it tolerates the node's not-ready taints, not the
		// cordon), so that its replacement, once the node is cordoned, has nowhere to go.
		d := deployment(ns, "web", 1, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": nodeName}
			d.Spec.Template.Spec.Tolerations = []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists}}
			d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To(int64(2))
		})
		Expect(k8s.Create(ctx, d)).To(Succeed())
		var pods corev1.PodList
		Eventually(func(g Gomega) {
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(1))
			g.Expect(pods.Items[0].Spec.NodeName).To(Equal(nodeName))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		stuck := pods.Items[0].Name

		ke := step(ctx, ns, "drain", kubernautv1.ActionStep{Action: kubernautv1.ActionDrainNode, Target: kubernautv1.Target{Kind: "Node", Name: nodeName},
			Parameters: &kubernautv1.ActionParameters{DrainNode: &kubernautv1.DrainNodeParameters{TimeoutSeconds: 30}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		Expect(condition(ke, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("the node is not ready"))
		get(ctx, dead)
		Expect(dead.Spec.Unschedulable).To(BeTrue())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: stuck}}
		get(ctx, pod)
		Expect(pod.DeletionTimestamp).NotTo(BeNil(), "evicted, and left Terminating: no kubelet confirms it")
	})
})

var _ = Describe("An action executed again from the same pre-state (a crash after the mutation, before the status)", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("makes no second change", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-again-")
		d := deployment(ns, "web", 2, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
		})
		available(ctx, d)
		release(ctx, d, "shop/web:2.0")
		e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr}
		web := target("Deployment", ns, "web")
		for _, s := range []kubernautv1.ActionStep{
			{Action: kubernautv1.ActionRestartDeployment, Target: web},
			{Action: kubernautv1.ActionRollbackDeployment, Target: web},
			{Action: kubernautv1.ActionIncreaseMemoryLimit, Target: web, Parameters: &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Percent: 50}}},
			{Action: kubernautv1.ActionScaleDeployment, Target: web, Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 3}}},
		} {
			impl, err := actions.For(s.Action)
			Expect(err).NotTo(HaveOccurred())
			pre, err := impl.Capture(ctx, e, s)
			Expect(err).NotTo(HaveOccurred(), "%s", s.Action)
			first, err := impl.Execute(ctx, e, s, pre, false)
			Expect(err).NotTo(HaveOccurred(), "%s", s.Action)
			Expect(first.Changed).NotTo(BeEmpty(), "%s changed something the first time", s.Action)
			get(ctx, d)
			generation, template := d.Generation, d.Spec.Template.DeepCopy()
			again, err := impl.Execute(ctx, e, s, pre, false)
			Expect(err).NotTo(HaveOccurred(), "%s", s.Action)
			Expect(again.Changed).To(BeEmpty(), "%s: %s", s.Action, again.Message)
			Expect(again.Message).To(ContainSubstring("already"), "%s", s.Action)
			get(ctx, d)
			Expect(d.Generation).To(Equal(generation), "%s: no second change", s.Action)
			Expect(d.Spec.Template).To(Equal(*template))
			rolledOut(ctx, d)
		}

		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "web"})).To(Succeed())
		var name string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				name = p.Name
			}
		}
		pod := target("Pod", ns, name)
		impl, _ := actions.For(kubernautv1.ActionDeletePod)
		s := kubernautv1.ActionStep{Action: kubernautv1.ActionDeletePod, Target: pod}
		pre, err := impl.Capture(ctx, e, s)
		Expect(err).NotTo(HaveOccurred())
		_, err = impl.Execute(ctx, e, s, pre, false)
		Expect(err).NotTo(HaveOccurred())
		again, err := impl.Execute(ctx, e, s, pre, false)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Changed).To(BeEmpty(), "the UID precondition spares whatever has the name now: %s", again.Message)
	})
})
