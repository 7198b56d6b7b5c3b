package node

import (
	"context"
	"fmt"
	"os"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions-image/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

// argoOnRealNode places Argo's pods on the real node (the controller's workflowDefaults).
const argoOnRealNode = `workflowDefaults:
  spec:
    nodeSelector: {"` + cluster.RealNodeLabel + `": "true"}
    tolerations: [{key: "` + cluster.RealNodeLabel + `", operator: Exists, effect: NoSchedule}]
`

// installWorkflowRBAC creates, once, the Argo Workflows' ServiceAccount in Kubernaut's
// namespace with exactly manifests/base/rbac-workflow.yaml's Role (admission lets only it create
// steps), and the blast-radius semaphores.
func installWorkflowRBAC(ctx SpecContext) {
	GinkgoHelper()
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "kubernaut-workflow"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "kubernaut-workflow"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflowtaskresults"}, Verbs: []string{"create", "patch"}},
			{APIGroups: []string{"kubernaut.io"}, Resources: []string{"kubernetesexecutions"}, Verbs: []string{"create", "get"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "kubernaut-workflow"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "kubernaut-workflow"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "kubernaut-workflow", Namespace: actionsNamespace}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "kubernaut-semaphores"},
			Data: map[string]string{"cluster": "20", workflowexecution.DefaultNamespaceSemaphoreKey: "2"}},
	} {
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, o))).To(Succeed())
	}
}

// startProduction runs, in Kubernaut's namespace, what the production overlay ships: Argo's
// real workflow-controller whose pods run the real argoexec on the real node, the argo
// engine, and the job executor running the actions image there, each step under its grant.
func startProduction(ctx SpecContext) {
	GinkgoHelper()
	installWorkflowRBAC(ctx)
	ns := actionsNamespace
	ac, err := env.StartArgoWithExecutor(ctx, ns, argoOnRealNode, cluster.ArgoExecutorImage)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			if log, err := os.ReadFile(ac.Log()); err == nil {
				AddReportEntry("workflow-controller log", string(log[max(0, len(log)-20000):]))
			}
		}
		ac.Kill()
	})
	stop, err := cluster.RunManager(env.Config, ctrl.Options{Scheme: k8s.Scheme()}, func(_ context.Context, mgr ctrl.Manager) error {
		set, err := templates.Embedded()
		if err != nil {
			return err
		}
		safety := kubernautrego.NewSafety(mgr.GetAPIReader(), actionsNamespace, "kubernaut-policies", nil)
		we := &workflowexecution.Reconciler{Client: mgr.GetClient(), Templates: set, Safety: safety,
			Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 10 * time.Minute, SemaphoreConfigMap: "kubernaut-semaphores"},
			Engines: map[kubernautv1.EngineName]workflowexecution.Engine{
				kubernautv1.EngineArgo: &workflowexecution.Argo{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recheck: 5 * time.Second}},
			DefaultEngine: kubernautv1.EngineArgo, WatchWorkflows: true}
		if err := we.SetupWithManager(mgr); err != nil {
			return err
		}
		var spec corev1.PodSpec
		onRealNode(&spec)
		job := kubernetesexecution.Job{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Image: ActionsImage,
			Namespace: actionsNamespace, Deadline: 2 * time.Minute, NodeSelector: spec.NodeSelector, Tolerations: spec.Tolerations}
		ke := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Safety: safety,
			Env:       actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr, ScriptNamespace: actionsNamespace},
			Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorJob: job}, Default: kubernautv1.ExecutorJob,
			Authorizer:     &kubernetesexecution.Authorizer{Client: mgr.GetClient(), Namespace: actionsNamespace},
			Grants:         &grants.Granter{Client: k8s, Namespace: actionsNamespace, Config: env.Config, Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()},
			VerifyInterval: 500 * time.Millisecond, Metrics: kubernetesexecution.NewMetrics(prometheus.NewRegistry())}
		return ke.SetupWithManager(mgr)
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(stop()).To(Succeed()) })
}

var _ = Describe("Argo's real controller and executor on the real node", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("runs a plan's resource templates with the real argoexec, each step a Job of the actions image, to Completed", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-argo-")
		startProduction(ctx)
		d := workloadDeployment(ns, "web", 1, "serve")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)

		t := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}
		we := gen.WorkflowExecution(actionsNamespace, "rr-scale-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.ApprovalMode, w.Spec.Engine, w.Spec.Target = kubernautv1.ApprovalAuto, kubernautv1.EngineArgo, t
			w.Spec.Steps = []kubernautv1.PlanStep{{Name: "scale", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: t,
				Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 2}}}}}
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
			g.Expect(we.Status.Phase).To(BeElementOf(kubernautv1.WorkflowCompleted, kubernautv1.WorkflowFailed, kubernautv1.WorkflowRejected))
		}).WithContext(ctx).WithTimeout(4*time.Minute).Should(Succeed(), func() string { return fmt.Sprintf("%v", we.Status.Conditions) })
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)

		// The world: Argo's Workflow Succeeded, its resource-template pod ran argoexec on the
		// real node, the step's Job ran the actions image there, and two pods serve.
		wf := &wfv1.Workflow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: "rr-scale-we"}, wf)).To(Succeed())
		Expect(wf.Status.Phase).To(Equal(wfv1.WorkflowSucceeded))
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(actionsNamespace), client.MatchingLabels{"workflows.argoproj.io/workflow": "rr-scale-we"})).To(Succeed())
		Expect(pods.Items).NotTo(BeEmpty())
		for _, p := range pods.Items {
			Expect(p.Spec.NodeName).To(Equal(cluster.RealNodeName))
			Expect(p.Status.Phase).To(Equal(corev1.PodSucceeded), "%s: %v", p.Name, p.Status.ContainerStatuses)
		}
		step := &kubernautv1.KubernetesExecution{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: "rr-scale-we-scale"}, step)).To(Succeed())
		Expect(metav1.IsControlledBy(step, wf)).To(BeTrue(), "argoexec created the step with the manifest's owner reference")
		Expect(step.Status.Executor).To(Equal(kubernautv1.ExecutorJob))
		d.Spec.Replicas = new(int32)
		*d.Spec.Replicas = 2
		available(ctx, d)
	})
})
