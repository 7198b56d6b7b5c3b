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
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

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
	ac, err := env.StartArgoWithExecutor(ctx, ns, cluster.ArgoOnRealNode, cluster.ArgoExecutorImage)
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
		we := &workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set, Safety: safety,
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

// grantArgoResume lets user read and update the Workflows in Kubernaut's namespace, as
// `argo resume` needs.
func grantArgoResume(ctx SpecContext, user string) {
	GinkgoHelper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "argo-resume"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}, Verbs: []string{"get", "list", "watch", "update", "patch"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: "argo-resume-" + user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
	for _, o := range []client.Object{role, binding} {
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, o))).To(Succeed())
	}
}

// runPlan creates the plan, unless it exists, and waits until it ends.
func runPlan(ctx SpecContext, we *kubernautv1.WorkflowExecution) {
	GinkgoHelper()
	if we.UID == "" {
		Expect(k8s.Create(ctx, we)).To(Succeed())
	}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
		g.Expect(we.Status.Phase).To(BeElementOf(kubernautv1.WorkflowCompleted, kubernautv1.WorkflowFailed, kubernautv1.WorkflowRejected))
	}).WithContext(ctx).WithTimeout(4*time.Minute).Should(Succeed(), func() string { return fmt.Sprintf("%v", we.Status.Conditions) })
}

var _ = Describe("Argo's real controller and executor on the real node", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("waits at its gate until a person runs the real `argo resume`, then runs the plan's resource templates with the real argoexec, each step a Job of the actions image, to Completed", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-argo-")
		startProduction(ctx)
		d := workloadDeployment(ns, "web", 1, "serve")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)
		// alice may resume Workflows where the plans live, and approve where this one acts
		// (cluster.InstallApprovers).
		grantArgoResume(ctx, "alice")

		t := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}
		we := gen.WorkflowExecution(actionsNamespace, "rr-scale-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.ApprovalMode, w.Spec.Engine, w.Spec.Target = kubernautv1.ApprovalManual, kubernautv1.EngineArgo, t
			w.Spec.Steps = []kubernautv1.PlanStep{{Name: "scale", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: t,
				Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 2}}}}}
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		Eventually(func(g Gomega) {
			wf := &wfv1.Workflow{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: we.Name}, wf)).To(Succeed())
			g.Expect(wf.Status.Nodes.FindByName(we.Name + ".approve")).To(HaveField("Phase", wfv1.NodeRunning))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), "Argo holds the plan at its gate")
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(actionsNamespace), client.MatchingLabels{kubernautv1.LabelWorkflowExecution: we.Name})).To(Succeed())
		Expect(steps.Items).To(BeEmpty(), "nothing runs before the approval")
		out, err := argo(ctx, "resume", we.Name, "-n", actionsNamespace, "--as", "alice")
		Expect(err).NotTo(HaveOccurred(), out)
		runPlan(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
		Expect(we.Status.Approval.DecidedBy).To(Equal("argo resume by user alice"), "admission stamped who the API server authenticated")

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

// refuseRealScaling makes the API server refuse, in namespace ns, every change of a
// Deployment's scale that is not a dry run: the plan's validation (dry runs) passes, the
// action's container fails when it really writes.
func refuseRealScaling(ctx SpecContext, ns string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "node-no-real-scaling-" + ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"*"}, Resources: []string{"deployments", "deployments/scale"}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "request.dryRun", Message: "the test refuses real scaling here"}}}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}}}
	Expect(k8s.Create(ctx, policy)).To(Succeed())
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(k8s.Delete(ctx, binding)).To(Succeed())
		Expect(k8s.Delete(ctx, policy)).To(Succeed())
	})
	// Enforced once a real write is refused.
	probe := workloadDeployment(ns, "probe", 0, "serve")
	Expect(k8s.Create(ctx, probe)).To(Succeed())
	Eventually(func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(probe), probe); err != nil {
			return err
		}
		probe.Spec.Replicas = ptr.To[int32](0)
		probe.Labels = map[string]string{"probe": time.Now().Format("150405.000000")}
		return k8s.Update(ctx, probe)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("the test refuses real scaling here")))
}

var _ = Describe("A step that fails in its container on the real node", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("fails the plan and undoes the steps before it, newest first: the pre-state is back", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-undo-")
		startProduction(ctx)
		d := workloadDeployment(ns, "web", 1, "serve")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		refuseRealScaling(ctx, ns)

		web := kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}
		we := gen.WorkflowExecution(actionsNamespace, "rr-undo-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.ApprovalMode, w.Spec.Engine, w.Spec.Target = kubernautv1.ApprovalAuto, kubernautv1.EngineArgo, web
			w.Spec.Steps = []kubernautv1.PlanStep{
				{Name: "config", ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig,
					Target:     kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
					Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}},
				{Name: "scale", DependsOn: []string{"config"}, ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionScaleDeployment, Target: web,
					Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 2}}}},
			}
		})
		runPlan(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", we.Status.Conditions)

		// The scale step failed in its container, after its dry run passed.
		scale := &kubernautv1.KubernetesExecution{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: "rr-undo-we-scale"}, scale)).To(Succeed())
		Expect(scale.Status.DryRun.Result).To(Equal("Succeeded"))
		Expect(scale.Status.Phase).To(Equal(kubernautv1.ExecutionFailed))
		Expect(condition(scale, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("the test refuses real scaling here"))
		Expect(we.Status.Compensation).NotTo(BeEmpty())
		// The world: the ConfigMap holds its value from before the plan, the Deployment its scale.
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "10"}))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(*d.Spec.Replicas).To(Equal(int32(1)))
	})
})

// condition returns a step's condition of type typ.
func condition(ke *kubernautv1.KubernetesExecution, typ string) *metav1.Condition {
	GinkgoHelper()
	c := apimeta.FindStatusCondition(ke.Status.Conditions, typ)
	Expect(c).NotTo(BeNil(), "condition %s of %s: %v", typ, ke.Name, ke.Status.Conditions)
	return c
}
