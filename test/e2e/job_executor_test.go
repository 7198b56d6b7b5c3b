package e2e

import (
	"context"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	"github.com/kubernaut/kubernaut/actions/runner"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
)

// noNode places the action pods where kwok does not run them, so that the test plays the
// actions container (and the kubelet reporting its termination message).
var noNode = map[string]string{"kubernaut.io/e2e": "no-such-node"}

// startJobExecutor runs only the KubernetesExecution controller, with the job executor.
func startJobExecutor(ctx SpecContext) {
	GinkgoHelper()
	runManager(func(runCtx context.Context, mgr ctrl.Manager) error {
		e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr}
		job := kubernetesexecution.Job{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Image: "registry.example.com/kubernaut/actions:e2e",
			Namespace: actionsNamespace, Deadline: 5 * time.Minute, NodeSelector: noNode,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("200m")}}}
		r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e,
			Safety:    kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", nil),
			Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorJob: job}, Default: kubernautv1.ExecutorJob,
			Authorizer: authorizer(mgr), Grants: granter(mgr), VerifyInterval: 250 * time.Millisecond,
			Metrics: kubernetesexecution.NewMetrics(prometheus.NewRegistry())}
		Expect(r.SetupWithManager(mgr)).To(Succeed())
		return nil
	})
}

// playContainer does what the actions container and its kubelet would: it runs the
// container's arguments as the Job's ServiceAccount (impersonated: its RBAC is what is tested)
// and reports the result as the container's termination message.
func playContainer(ctx SpecContext, job *batchv1.Job, exitCode int32) kubernautv1.ActionResult {
	GinkgoHelper()
	spec := job.Spec.Template.Spec
	in, err := runner.Parse(spec.Containers[0].Args, io.Discard)
	Expect(err).NotTo(HaveOccurred())
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + job.Namespace + ":" + spec.ServiceAccountName,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + job.Namespace, "system:authenticated"}}
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	// As the image's main: its retry of a transient failure.
	result, code := runner.Run(ctx, in, actions.Env{Client: c, Kube: cs, Log: GinkgoLogr, Retry: runner.JobRetry})
	if exitCode == 0 {
		Expect(code).To(Equal(runner.ExitOK), result.Message)
	} else {
		result = kubernautv1.ActionResult{Message: "the action failed: simulated by the test"}
	}
	var pod corev1.Pod
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(k8s.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name})).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(1))
		pod = pods.Items[0]
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	now := metav1.Now()
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	// The Job controller writes the pod too (finalizers, conditions): retry on a conflict.
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(&pod), &pod); err != nil {
			return err
		}
		pod.Status.Phase = phase
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "action", Image: spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: map[bool]string{true: "Completed", false: "Error"}[exitCode == 0],
				Message: string(runner.Encode(result)), StartedAt: now, FinishedAt: now}}}}
		return k8s.Status().Update(ctx, &pod)
	}).WithContext(ctx).Should(Succeed())
	return result
}

// configStepInJob creates a ConfigMap (LOG_LEVEL debug) in a new namespace and a step, in the
// actions' namespace, that sets LOG_LEVEL to info.
func configStepInJob(ctx SpecContext, prefix string) (*corev1.ConfigMap, *kubernautv1.KubernetesExecution) {
	GinkgoHelper()
	ns := newNamespace(ctx, prefix)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"LOG_LEVEL": "debug"}}
	Expect(k8s.Create(ctx, cm)).To(Succeed())
	ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, GenerateName: "job-step-"},
		Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, TimeoutSeconds: 120, ActionStep: kubernautv1.ActionStep{
			Action: kubernautv1.ActionUpdateConfig, Target: target("ConfigMap", ns, "settings"),
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"LOG_LEVEL": "info"}}}}}}
	Expect(k8s.Create(ctx, ke)).To(Succeed())
	return cm, ke
}

func waitJob(ctx SpecContext, ke *kubernautv1.KubernetesExecution) *batchv1.Job {
	GinkgoHelper()
	job := &batchv1.Job{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
		g.Expect(ke.Status.JobRef).NotTo(BeNil(), "%v", ke.Status.Conditions)
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ke.Status.JobRef.Namespace, Name: ke.Status.JobRef.Name}, job)).To(Succeed())
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return job
}

func waitDone(ctx SpecContext, ke *kubernautv1.KubernetesExecution) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
		g.Expect(ke.Status.Phase).To(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed), "%v", ke.Status.Conditions)
	}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
}

var _ = Describe("The job executor on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		startJobExecutor(ctx)
		DeferCleanup(healthy)
	})

	It("runs the step in a restricted Job as the action's own ServiceAccount and reads the result from the termination message", func(ctx SpecContext) {
		cm, ke := configStepInJob(ctx, "job-ok-")
		job := waitJob(ctx, ke)

		Expect(ke.Status.Executor).To(Equal(kubernautv1.ExecutorJob))
		Expect(ke.Status.PreState.ConfigData).To(HaveKeyWithValue("LOG_LEVEL", "debug"), "recorded before the Job was created")
		Expect(metav1.IsControlledBy(job, ke)).To(BeTrue())
		Expect(*job.Spec.BackoffLimit).To(Equal(int32(0)))
		Expect(*job.Spec.ActiveDeadlineSeconds).To(Equal(int64(300)))
		Expect(job.Spec.TTLSecondsAfterFinished).NotTo(BeNil())
		pod := job.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal(catalog.ServiceAccountName(kubernautv1.ActionUpdateConfig)))
		Expect(pod.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal("registry.example.com/kubernaut/actions:e2e"))
		Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
		Expect(c.TerminationMessagePath).To(Equal("/dev/termination-log"))
		Expect(c.TerminationMessagePolicy).To(Equal(corev1.TerminationMessageReadFile))
		get(ctx, cm)
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("debug"), "nothing changed before the container ran")

		result := playContainer(ctx, job, 0)
		waitDone(ctx, ke)
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		Expect(ke.Status.Result.Message).To(Equal(result.Message))
		Expect(ke.Status.Result.Changed).To(ConsistOf(HaveField("Change", "set LOG_LEVEL")))
		get(ctx, cm)
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("info"), "changed by the action's own ServiceAccount")
	})

	It("makes the change once when the API server answers 500, 429 and a conflict to the container's first writes", func(ctx SpecContext) {
		cm, ke := configStepInJob(ctx, "job-faults-")
		f := &faults{answers: []metav1.Status{
			{Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable, Message: "injected: the API server is restarting"},
			{Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests, Message: "injected: slow down"},
			{Code: http.StatusConflict, Reason: metav1.StatusReasonConflict, Message: "injected: the object has been modified"},
		}}
		get(ctx, cm)
		before := cm.DeepCopy()
		cm.Labels = map[string]string{"kubernaut.io/faulty": "true"}
		Expect(k8s.Patch(ctx, cm, client.MergeFrom(before))).To(Succeed())
		injectFaults(ctx, cm.Namespace, f)

		playContainer(ctx, waitJob(ctx, ke), 0)
		waitDone(ctx, ke)
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", ke.Status.Conditions)
		refused, admitted := f.counts()
		Expect([]int{refused, admitted}).To(Equal([]int{3, 1}), "three transient refusals, then one change on the world")
		get(ctx, cm)
		Expect(cm.Data["LOG_LEVEL"]).To(Equal("info"))
	})

	It("maps a failed container to a failed step with the action's reason", func(ctx SpecContext) {
		_, ke := configStepInJob(ctx, "job-fail-")
		playContainer(ctx, waitJob(ctx, ke), 1)
		waitDone(ctx, ke)
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionFailed))
		Expect(condition(ke, kubernautv1.ExecutedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonActionFailed),
			HaveField("Message", ContainSubstring("failed: simulated by the test"))))
	})
})

var _ = Describe("custom_script on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		runManager(func(runCtx context.Context, mgr ctrl.Manager) error {
			// The operator turned custom scripts on for one image, in the policy and in the actions.
			e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr, CustomScriptImages: []string{"registry.example.com/fix-cache:1.2"},
				ScriptNamespace: actionsNamespace}
			safety := kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies",
				map[string]any{"allowCustomScript": true, "customScriptImages": []string{"registry.example.com/fix-cache:1.2"}})
			r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e, Safety: safety,
				Executors:  map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}},
				Authorizer: authorizer(mgr), Grants: granter(mgr), VerifyInterval: 250 * time.Millisecond}
			Expect(r.SetupWithManager(mgr)).To(Succeed())
			return nil
		})
		DeferCleanup(healthy)
	})

	It("runs an allow-listed image in a restricted Job of its own, in Kubernaut's namespace, and waits for it; refuses any other image", func(ctx SpecContext) {
		ns := newNamespace(ctx, "act-script-")
		available(ctx, deployment(ns, "web", 1))
		script := func(image string) kubernautv1.ActionStep {
			return kubernautv1.ActionStep{Action: kubernautv1.ActionCustomScript, Target: target("Deployment", ns, "web"),
				Parameters: &kubernautv1.ActionParameters{CustomScript: &kubernautv1.CustomScriptParameters{Image: image, Args: []string{"--flush"}}}}
		}
		ke := succeeded(ctx, ns, "script", script("registry.example.com/fix-cache:1.2"))
		var jobs batchv1.JobList
		Expect(k8s.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty(), "no script runs in the target's namespace")
		Expect(k8s.List(ctx, &jobs, client.InNamespace(actionsNamespace), client.MatchingFields{"metadata.name": ke.Status.Result.Changed[0].Change[len("script Job "):]})).To(Succeed())
		Expect(jobs.Items).To(HaveLen(1))
		job := jobs.Items[0]
		Expect(job.Spec.Template.Spec.Containers[0]).To(And(HaveField("Image", "registry.example.com/fix-cache:1.2"), HaveField("Args", []string{"--flush"})))
		Expect(*job.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		Expect(job.Spec.Template.Spec.Containers[0].Resources).To(Equal(actions.ScriptResources), "a script cannot starve its neighbours")
		Expect(*job.Spec.Template.Spec.AutomountServiceAccountToken).To(BeFalse(), "a script gets no API credentials")
		Expect(ke.Status.Verification.Message).To(ContainSubstring("completed"))

		ke = step(ctx, ns, "other", script("registry.example.com/anything:latest"))
		Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(ke, kubernautv1.ValidatedCondition).Message).To(ContainSubstring(`spec.parameters.customScript.image: image "registry.example.com/anything:latest" is not on the allow-list`))
	})
})
