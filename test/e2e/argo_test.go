package e2e

import (
	"context"
	"os"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubernaut/kubernaut/actions-image/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/argoexec"
	"github.com/kubernaut/kubernaut/test/gen"
)

// argoWorld is one namespace with Argo's real workflow-controller, the executor stand-in, and
// Kubernaut's WorkflowExecution (both engines) and KubernetesExecution controllers.
type argoWorld struct {
	ns   string
	argo interface{ Kill() }
	exec *argoexec.Executor
}

func startArgoWorld(ctx SpecContext, prefix string, namespaceSemaphore string) *argoWorld {
	GinkgoHelper()
	ns := newNamespace(ctx, prefix)
	Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-workflow"}})).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-semaphores"},
		Data: map[string]string{"cluster": "20", "namespace." + ns: namespaceSemaphore}})).To(Succeed())
	ac, err := env.StartArgo(ctx, ns)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			if log, err := os.ReadFile(ac.Log()); err == nil {
				AddReportEntry("workflow-controller log", string(log[max(0, len(log)-6000):]))
			}
		}
		ac.Kill()
	})
	ex := &argoexec.Executor{Client: k8s, Namespace: ns, Interval: 200 * time.Millisecond}
	execCtx, stop := context.WithCancel(context.Background())
	go ex.Run(execCtx)
	DeferCleanup(stop)

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: k8s.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	Expect(err).NotTo(HaveOccurred())
	set, err := templates.Embedded()
	Expect(err).NotTo(HaveOccurred())
	safety := kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", nil)
	we := &workflowexecution.Reconciler{Client: mgr.GetClient(), Templates: set, Safety: safety,
		Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 10 * time.Minute, SemaphoreConfigMap: "kubernaut-semaphores"},
		Engines: map[kubernautv1.EngineName]workflowexecution.Engine{
			kubernautv1.EngineArgo:    &workflowexecution.Argo{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()},
			kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set}},
		DefaultEngine: kubernautv1.EngineArgo, WatchWorkflows: true}
	Expect(we.SetupWithManager(mgr)).To(Succeed())
	e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr}
	ke := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e, Safety: safety,
		Executors:  map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{Env: e}},
		Authorizer: &kubernetesexecution.Authorizer{Client: mgr.GetClient(), Namespace: actionsNamespace}, VerifyInterval: 250 * time.Millisecond,
		Metrics: kubernetesexecution.NewMetrics(prometheus.NewRegistry())}
	Expect(ke.SetupWithManager(mgr)).To(Succeed())
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	})
	return &argoWorld{ns: ns, argo: ac, exec: ex}
}

// runPlan creates a WorkflowExecution of steps on one engine and waits for its end.
func runPlan(ctx SpecContext, ns, name string, engine kubernautv1.EngineName, mode kubernautv1.ApprovalMode, t kubernautv1.Target, steps ...kubernautv1.PlanStep) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	we := gen.WorkflowExecution(ns, name, func(w *kubernautv1.WorkflowExecution) {
		w.Spec.ApprovalMode, w.Spec.Engine, w.Spec.Target, w.Spec.Steps = mode, engine, t, steps
	})
	Expect(k8s.Create(ctx, we)).To(Succeed())
	return we
}

func waitEnd(ctx SpecContext, we *kubernautv1.WorkflowExecution) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
		g.Expect(we.Status.Phase).To(BeElementOf(kubernautv1.WorkflowCompleted, kubernautv1.WorkflowFailed, kubernautv1.WorkflowRejected), "%v", we.Status.Conditions)
	}).WithContext(ctx).WithTimeout(120 * time.Second).Should(Succeed())
	return we
}

// outcome is what both engines must agree on: the steps in the order they started, their
// phases, the compensations in their order, and the plan's phase.
func outcome(we *kubernautv1.WorkflowExecution) []string {
	out := []string{string(we.Status.Phase)}
	for _, s := range sortedByStart(we.Status.Steps) {
		out = append(out, s.Name+"="+string(s.Phase))
	}
	for _, s := range sortedByStart(we.Status.Compensation) {
		out = append(out, s.Name+"="+string(s.Phase))
	}
	return out
}

func sortedByStart(in []kubernautv1.StepStatus) []kubernautv1.StepStatus {
	out := append([]kubernautv1.StepStatus{}, in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].StartedAt != nil && (out[i].StartedAt == nil || out[j].StartedAt.Before(out[i].StartedAt)) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

var _ = Describe("Argo's real workflow-controller runs the compiled plans", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("runs a plan to Completed, and the builtin engine gives the same order and outcome", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-ok-", "2")
		available(ctx, deployment(w.ns, "web", 1))
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}})).To(Succeed())
		t := target("Deployment", w.ns, "web")
		argo := waitEnd(ctx, runPlan(ctx, w.ns, "rr-argo-we", kubernautv1.EngineArgo, kubernautv1.ApprovalAuto, t,
			configStep("config", w.ns, map[string]string{"POOL": "20"}), scaleStep("scale", w.ns, "web", 2, "config")))
		Expect(argo.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", argo.Status.Conditions)
		wf := &wfv1.Workflow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rr-argo-we"}, wf)).To(Succeed())
		Expect(wf.Status.Phase).To(Equal(wfv1.WorkflowSucceeded))
		var step kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rr-argo-we-scale"}, &step)).To(Succeed())
		Expect(metav1.IsControlledBy(&step, wf)).To(BeTrue(), "setOwnerReference: the Workflow owns its steps")
		Expect(w.exec.CreatedCount("rr-argo-we-scale")).To(Equal(1))
		for _, s := range argo.Status.Steps {
			Expect(s.NodeID).To(Equal(wf.NodeID(wf.Name + "." + s.Name)))
		}

		builtin := waitEnd(ctx, runPlan(ctx, w.ns, "rr-builtin-we", kubernautv1.EngineBuiltin, kubernautv1.ApprovalAuto, t,
			configStep("config", w.ns, map[string]string{"POOL": "30"}), scaleStep("scale", w.ns, "web", 3, "config")))
		Expect(outcome(builtin)).To(Equal(outcome(argo)))
	})
})
