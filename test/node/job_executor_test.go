package node

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// startJobExecutor runs the KubernetesExecution controller with the job executor: each step a
// Job of the actions image on the real node, as its action's ServiceAccount, under a grant.
func startJobExecutor() {
	GinkgoHelper()
	stop, err := cluster.RunManager(env.Config, ctrl.Options{Scheme: k8s.Scheme()}, func(_ context.Context, mgr ctrl.Manager) error {
		e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr, ScriptNamespace: actionsNamespace, MemorySoak: 10 * time.Second}
		var spec corev1.PodSpec
		onRealNode(&spec)
		job := kubernetesexecution.Job{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Image: ActionsImage,
			Namespace: actionsNamespace, Deadline: 2 * time.Minute, NodeSelector: spec.NodeSelector, Tolerations: spec.Tolerations,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("500m")}}}
		r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e,
			Safety:    kubernautrego.NewSafety(mgr.GetAPIReader(), actionsNamespace, "kubernaut-policies", nil),
			Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorJob: job}, Default: kubernautv1.ExecutorJob,
			Authorizer:     &kubernetesexecution.Authorizer{Client: mgr.GetClient(), Namespace: actionsNamespace},
			Grants:         &grants.Granter{Client: k8s, Namespace: actionsNamespace, Config: env.Config, Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()},
			VerifyInterval: 500 * time.Millisecond, Metrics: kubernetesexecution.NewMetrics(prometheus.NewRegistry())}
		return r.SetupWithManager(mgr)
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(stop()).To(Succeed()) })
}

// workloadDeployment is a Deployment of the test workload on the real node.
func workloadDeployment(ns, name string, replicas int32, args ...string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{Name: "app", Image: cluster.WorkloadImage, Args: args,
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}}}}}
	onRealNode(&d.Spec.Template.Spec)
	return d
}

// available waits until the Deployment has rolled out.
func available(ctx SpecContext, d *appsv1.Deployment) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas))
	}).WithContext(ctx).WithTimeout(90 * time.Second).Should(Succeed())
}

var _ = Describe("The job executor on the real node", func() {
	BeforeEach(func() {
		startJobExecutor()
		DeferCleanup(healthy)
	})

	It("runs the actions image as a real container with its action's token, and reads its result", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-job-")
		d := workloadDeployment(ns, "web", 1, "serve")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)
		var before corev1.PodList
		Expect(k8s.List(ctx, &before, client.InNamespace(ns))).To(Succeed())

		ke := runStep(ctx, ns, "restart", kubernautv1.ActionStep{Action: kubernautv1.ActionRestartDeployment,
			Target: kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		Expect(ke.Status.Executor).To(Equal(kubernautv1.ExecutorJob))
		Expect(ke.Status.Result.Message).To(ContainSubstring("restarted"))

		// The world: the Job's container really ran on the real node and exited 0, and the
		// workload's pods were really replaced.
		job := &batchv1.Job{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ke.Status.JobRef.Namespace, Name: ke.Status.JobRef.Name}, job)).To(Succeed())
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		Expect(pods.Items[0].Spec.NodeName).To(Equal(cluster.RealNodeName))
		Expect(pods.Items[0].Status.ContainerStatuses[0].State.Terminated).To(HaveField("ExitCode", int32(0)))
		out, err := kubectl(ctx, "logs", "-n", job.Namespace, pods.Items[0].Name)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("kubernaut-actions:"))
		available(ctx, d)
		// Replaced: the old pod goes. The Deployment is available again as soon as the new pod
		// is ready, while the real kubelet may still be stopping the old one (its container's
		// grace period): wait for it to be gone rather than list once (a list right after
		// failed a run, 2026-12-07, with the old pod still terminating).
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(&before.Items[0]), &corev1.Pod{}))
		}).WithContext(ctx).WithTimeout(90*time.Second).Should(BeTrue(), "the pod was replaced")
	})
})

// runStep creates a step and waits until it ends.
func runStep(ctx SpecContext, ns, name string, a kubernautv1.ActionStep) *kubernautv1.KubernetesExecution {
	GinkgoHelper()
	ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, StepName: name, TimeoutSeconds: 240, ActionStep: a}}
	Expect(k8s.Create(ctx, ke)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
		g.Expect(ke.Status.Phase).To(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected))
	}).WithContext(ctx).WithTimeout(3*time.Minute).Should(Succeed(), "%v", ke.Status.Conditions)
	return ke
}

var _ = Describe("Actions on real workloads, by the actions image on the real node", func() {
	BeforeEach(func() {
		startJobExecutor()
		DeferCleanup(healthy)
	})

	It("clear_cache runs the workload's declared command in each Ready pod through a real exec", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-cache-")
		d := workloadDeployment(ns, "cache", 2, "serve")
		d.Annotations = map[string]string{actions.ClearCacheAnnotation: `["/workload","clear-cache"]`}
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)
		ke := runStep(ctx, ns, "clear", kubernautv1.ActionStep{Action: kubernautv1.ActionClearCache,
			Target: kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "cache"}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		Expect(ke.Status.Result.Message).To(ContainSubstring("cleared the cache of 2 pods"))
		// The world: each pod's container really ran the command.
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		for _, p := range pods.Items {
			out, err := kubectl(ctx, "exec", "-n", ns, p.Name, "--", "/workload", "cat", "/tmp/cleared")
			Expect(err).NotTo(HaveOccurred(), "pod %s: %s", p.Name, out)
			Expect(out).To(MatchRegexp(`^\d{4}-\d\d-\d\dT`))
		}
	})

	It("delete_pod replaces a pod really stuck not ready while its siblings serve", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-stuck-")
		d := servingDeployment(ns, "api")
		d.Spec.Replicas = ptr.To[int32](3)
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		stuck := pods.Items[0]
		out, err := kubectl(ctx, "exec", "-n", ns, stuck.Name, "--", "/workload", "wedge")
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Status.ReadyReplicas).To(Equal(int32(2)), "the kubelet's probe sees the wedge")
		}).WithContext(ctx).Should(Succeed())

		ke := runStep(ctx, ns, "replace", kubernautv1.ActionStep{Action: kubernautv1.ActionDeletePod,
			Target: kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: stuck.Name}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		available(ctx, d)
		Expect(d.Status.ReadyReplicas).To(Equal(int32(3)))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&stuck), &corev1.Pod{})).NotTo(Succeed(), "the stuck pod is gone")
	})

	It("increase_memory_limit is not verified while the raised limit still gets the container OOM-killed", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-oom-again-")
		// 120 MiB under 64 MiB; raised by 50 % to 96 MiB it is still killed.
		d := workloadDeployment(ns, "hog", 1, "serve", "--alloc-mib", "120")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		ke := runStep(ctx, ns, "raise", kubernautv1.ActionStep{Action: kubernautv1.ActionIncreaseMemoryLimit,
			Target:     kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "hog"},
			Parameters: &kubernautv1.ActionParameters{IncreaseMemoryLimit: &kubernautv1.IncreaseMemoryLimitParameters{Container: "app", Percent: 50}}})
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionFailed), "%v", ke.Status.Conditions)
		Expect(ke.Status.Verification.Message).To(ContainSubstring("was OOM-killed again at the raised limit"))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()).To(Equal("96Mi"), "the step changed it; its plan's undo restores it")
	})
})
