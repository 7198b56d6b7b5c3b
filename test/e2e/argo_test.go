package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/argoexec"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

// argoWorld is one namespace with Argo's real workflow-controller, the executor stand-in, and
// Kubernaut's WorkflowExecution (both engines) and KubernetesExecution controllers.
type argoWorld struct {
	ns   string
	argo *cluster.ArgoController
	exec *argoexec.Executor
}

// argoRecheck is how long the argo engine lets Argo's controller take to act on a resume
// before it nudges the Workflow: 5 s, as Argo's controller here handles an update within its
// 1 s requeue time (see StartArgo); KUBERNAUT_E2E_ARGO_RECHECK overrides it (make
// argo-gate-load sets 1h to measure Argo without the nudge).
func argoRecheck() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("KUBERNAUT_E2E_ARGO_RECHECK")); err == nil {
		return d
	}
	return 5 * time.Second
}

// reportNudges prints how often the argo engine nudged each named Workflow (make
// argo-gate-load counts these lines).
func reportNudges(ctx SpecContext, ns string, names ...string) {
	GinkgoHelper()
	for _, name := range names {
		wf := &wfv1.Workflow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf)).To(Succeed())
		n := wf.Annotations[workflowexecution.NudgesAnnotation]
		if n == "" {
			n = "0"
		}
		GinkgoWriter.Printf("argo-nudges: workflow=%s nudges=%s\n", name, n)
	}
}

func startArgoWorld(ctx SpecContext, prefix string, namespaceSemaphore string) *argoWorld {
	GinkgoHelper()
	return startArgoWorldWith(ctx, prefix, namespaceSemaphore, "", false)
}

// startArgoWorldWith is startArgoWorld with more of Argo's controller configuration and the
// argo engine running plans by reference (WorkflowTemplate + workflowTemplateRef) or inline.
func startArgoWorldWith(ctx SpecContext, prefix string, namespaceSemaphore, argoConfig string, reference bool, mods ...func(*workflowexecution.Reconciler)) *argoWorld {
	GinkgoHelper()
	ns := newNamespace(ctx, prefix)
	Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-workflow"}})).To(Succeed())
	semaphores := map[string]string{"cluster": "20", workflowexecution.DefaultNamespaceSemaphoreKey: "2"}
	if namespaceSemaphore != "" { // else the controller adds the namespace's key from namespace.default
		semaphores["namespace."+ns] = namespaceSemaphore
	}
	Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-semaphores"}, Data: semaphores})).To(Succeed())
	ac, err := env.StartArgoWithConfig(ctx, ns, argoConfig)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			if log, err := os.ReadFile(ac.Log()); err == nil {
				AddReportEntry("workflow-controller log", string(log[max(0, len(log)-30000):]))
			}
			var pods corev1.PodList
			var results wfv1.WorkflowTaskResultList
			var wfs wfv1.WorkflowList
			_ = k8s.List(context.Background(), &pods, client.InNamespace(ns))
			_ = k8s.List(context.Background(), &results, client.InNamespace(ns))
			_ = k8s.List(context.Background(), &wfs, client.InNamespace(ns))
			var lines []string
			// The Workflows as the API server has them: what Argo's log says it saw is compared with this.
			for _, wf := range wfs.Items {
				var nodes []string
				for _, n := range wf.Status.Nodes {
					nodes = append(nodes, fmt.Sprintf("%s=%s", n.Name, n.Phase))
				}
				sort.Strings(nodes)
				var managers []string
				for _, m := range wf.ManagedFields {
					managers = append(managers, fmt.Sprintf("%s %s %s", m.Manager, m.Operation, m.Time))
				}
				lines = append(lines, fmt.Sprintf("workflow %s uid %s rv %s phase %s message %q nodes [%s] managers [%s]", wf.Name, wf.UID, wf.ResourceVersion,
					wf.Status.Phase, wf.Status.Message, strings.Join(nodes, " "), strings.Join(managers, "; ")))
			}
			for _, p := range pods.Items {
				lines = append(lines, fmt.Sprintf("pod %s phase %s rv %s", p.Name, p.Status.Phase, p.ResourceVersion))
			}
			for _, r := range results.Items {
				lines = append(lines, fmt.Sprintf("taskresult %s phase %s labels %v", r.Name, r.Phase, r.Labels))
			}
			AddReportEntry("workflows, pods and task results", strings.Join(lines, "\n"))
		}
		ac.Kill()
	})
	ex := &argoexec.Executor{Client: k8s, Namespace: ns, Interval: 200 * time.Millisecond}
	execCtx, stop := context.WithCancel(context.Background())
	go ex.Run(execCtx)
	DeferCleanup(stop)

	runManager(func(runCtx context.Context, mgr ctrl.Manager) error {
		set, err := templates.Embedded()
		Expect(err).NotTo(HaveOccurred())
		safety := kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", nil)
		we := &workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set, Safety: safety,
			Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 10 * time.Minute, SemaphoreConfigMap: "kubernaut-semaphores"},
			Engines: map[kubernautv1.EngineName]workflowexecution.Engine{
				kubernautv1.EngineArgo:    &workflowexecution.Argo{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Reference: reference, Recheck: argoRecheck()},
				kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set}},
			DefaultEngine: kubernautv1.EngineArgo, WatchWorkflows: true}
		for _, m := range mods {
			m(we)
		}
		Expect(we.SetupWithManager(mgr)).To(Succeed())
		e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr}
		ke := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e, Safety: safety,
			Executors:  map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}},
			Authorizer: authorizer(mgr), Grants: granter(mgr), VerifyInterval: 250 * time.Millisecond,
			Metrics: kubernetesexecution.NewMetrics(prometheus.NewRegistry())}
		Expect(ke.SetupWithManager(mgr)).To(Succeed())
		return nil
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

// outcome is what both engines must agree on: the plan's phase, each step's phase in plan
// order, and the compensations in the order they ran (newest step first). Each list must
// also have started in that order (times have a second's resolution: ties are allowed).
func outcome(we *kubernautv1.WorkflowExecution) []string {
	GinkgoHelper()
	out := []string{string(we.Status.Phase)}
	after := map[string][]string{}
	for _, s := range we.Spec.Steps {
		after[s.Name] = s.DependsOn
	}
	for n, list := range [][]kubernautv1.StepStatus{we.Status.Steps, we.Status.Compensation} {
		for i, s := range list {
			out = append(out, s.Name+"="+string(s.Phase))
			// A step starts after the one before it when it waits for it, and an undo always
			// does (one at a time); independent steps start in any order.
			ordered := n == 1 || i > 0 && slices.Contains(after[s.Name], list[i-1].Name)
			if i > 0 && ordered && s.StartedAt != nil && list[i-1].StartedAt != nil {
				Expect(s.StartedAt.Before(list[i-1].StartedAt)).To(BeFalse(), "%s started before %s", s.Name, list[i-1].Name)
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
		Expect(metav1.IsControlledBy(&step, wf)).To(BeTrue(), "the manifest's owner reference: the Workflow owns its steps")
		Expect(w.exec.CreatedCount("rr-argo-we-scale")).To(Equal(1))
		for _, s := range argo.Status.Steps {
			Expect(s.NodeID).To(Equal(wf.NodeID(wf.Name + "." + s.Name)))
		}

		builtin := waitEnd(ctx, runPlan(ctx, w.ns, "rr-builtin-we", kubernautv1.EngineBuiltin, kubernautv1.ApprovalAuto, t,
			configStep("config", w.ns, map[string]string{"POOL": "30"}), scaleStep("scale", w.ns, "web", 3, "config")))
		Expect(outcome(builtin)).To(Equal(outcome(argo)))
	})
})

var _ = Describe("Argo's real workflow-controller with templateReferencing: Secure", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("runs plans by reference (gate, approval and compensation included) and refuses inline Workflows", func(ctx SpecContext) {
		// No key for the namespace in the semaphore ConfigMap: Argo would fail the Workflow
		// ("failed to initialize semaphore"); the controller adds it from namespace.default.
		w := startArgoWorldWith(ctx, "argo-secure-", "", "workflowRestrictions:\n  templateReferencing: Secure\n", true)
		available(ctx, deployment(w.ns, "web", 2))
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}})).To(Succeed())
		t := target("Deployment", w.ns, "web")

		// A manual plan: Argo holds it at the gate, the annotation approves, the controller resumes.
		we := runPlan(ctx, w.ns, "rr-secure-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, t, scaleStep("scale", w.ns, "web", 3))
		atGate(ctx, w.ns, "rr-secure-we")
		approveByAnnotation(ctx, we)
		we = waitEnd(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "web"}}
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(3)))

		wf := &wfv1.Workflow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rr-secure-we"}, wf)).To(Succeed())
		Expect(wf.Spec).To(Equal(wfv1.WorkflowSpec{WorkflowTemplateRef: &wfv1.WorkflowTemplateRef{Name: "rr-secure-we"}}), "the Workflow only references its plan")
		Expect(wf.Status.StoredWorkflowSpec).NotTo(BeNil(), "Argo ran the referenced template's spec")
		tmpl := &wfv1.WorkflowTemplate{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rr-secure-we"}, tmpl)).To(Succeed())
		Expect(metav1.IsControlledBy(tmpl, we)).To(BeTrue(), "the plan's WorkflowTemplate goes with its WorkflowExecution")
		Expect(tmpl.Annotations).To(HaveKeyWithValue("kubernaut.io/plan-hash", we.Status.Plan.Hash))
		sem := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "kubernaut-semaphores"}}
		get(ctx, sem)
		Expect(sem.Data).To(HaveKeyWithValue("namespace."+w.ns, "2"), "the namespace's semaphore key, from namespace.default")

		// A failing step (an HPA owns the replica count, as in the undo spec above): the exit
		// hook's compensation runs by reference too.
		Expect(k8s.Create(ctx, hpaOf(w.ns, "web", 2, 5))).To(Succeed())
		failed := waitEnd(ctx, runPlan(ctx, w.ns, "rr-secure-undo-we", kubernautv1.EngineArgo, kubernautv1.ApprovalAuto, t,
			configStep("pool", w.ns, map[string]string{"POOL": "20"}),
			scaleStep("scale", w.ns, "web", 4, "pool")))
		Expect(failed.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", failed.Status.Conditions)
		Expect(outcome(failed)).To(Equal([]string{"Failed", "pool=Succeeded", "scale=Failed", "undo-scale=Succeeded", "undo-pool=Succeeded"}))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}}
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "10"}), "the change undone")

		// The restriction is in force: an inline Workflow (what the engine creates without
		// --argo-workflow-template-ref) ends in Error at once.
		inline := &wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "inline"},
			Spec: wfv1.WorkflowSpec{Entrypoint: "wait", Templates: []wfv1.Template{{Name: "wait", Suspend: &wfv1.SuspendTemplate{}}}}}
		Expect(k8s.Create(ctx, inline)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(inline), inline)).To(Succeed())
			g.Expect(inline.Status.Phase).To(Equal(wfv1.WorkflowError))
			g.Expect(inline.Status.Message).To(ContainSubstring("workflowTemplateRef"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	})
})

// approveByAnnotation waits until the plan awaits approval and approves its hash as
// `kubectl annotate` would, by as many people as its quorum needs.
func approveByAnnotation(ctx SpecContext, we *kubernautv1.WorkflowExecution) {
	GinkgoHelper()
	got, err := cluster.ApprovePlan(ctx, env.Config, client.ObjectKeyFromObject(we))
	Expect(err).NotTo(HaveOccurred())
	got.DeepCopyInto(we)
}

// atGate waits until Argo's controller holds the Workflow at its approval gate (the suspend
// node Running, the blast-radius locks taken).
func atGate(ctx SpecContext, ns, name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		wf := &wfv1.Workflow{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf)).To(Succeed())
		g.Expect(wf.Status.Nodes.FindByName(name + ".approve")).To(HaveField("Phase", wfv1.NodeRunning))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

// heldBack checks that Argo's controller keeps a Workflow from starting its step for a few
// seconds: it waits for a lock.
func heldBack(ctx SpecContext, ns, name, step, lock string) {
	GinkgoHelper()
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &wfv1.Workflow{})
	}).WithContext(ctx).Should(Succeed())
	Consistently(func(g Gomega) {
		wf := &wfv1.Workflow{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf)).To(Succeed())
		g.Expect(wf.Status.Nodes.FindByName(name+"."+step)).To(BeNil(), "waits for %s", lock)
		g.Expect(wf.Status.Phase).To(BeElementOf(wfv1.WorkflowPending, wfv1.WorkflowUnknown), "waits for %s", lock)
	}).WithContext(ctx).WithTimeout(4 * time.Second).Should(Succeed())
}

// resumeGate marks a Workflow's approval gate Succeeded the way `argo resume` does (the node's
// phase and finish time, by update: Workflows have no status subresource), as the argo CLI.
func resumeGate(ctx SpecContext, ns, name string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		wf := &wfv1.Workflow{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf)).To(Succeed())
		n := wf.Status.Nodes.FindByName(name + ".approve")
		g.Expect(n).NotTo(BeNil())
		g.Expect(n.IsActiveSuspendNode()).To(BeTrue())
		n.Phase, n.FinishedAt = wfv1.NodeSucceeded, metav1.Now()
		wf.Status.Nodes.Set(n.ID, *n)
		g.Expect(k8s.Update(ctx, wf, client.FieldOwner("argo"))).To(Succeed())
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

var _ = Describe("Argo's real workflow-controller: approvals, compensation, blast radius, restarts", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("waits at the gate until `argo resume`, or until the annotation makes the controller resume it", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-gate-", "2")
		available(ctx, deployment(w.ns, "web", 1))
		t := target("Deployment", w.ns, "web")
		we := runPlan(ctx, w.ns, "rr-resume-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, t, scaleStep("scale", w.ns, "web", 2))
		atGate(ctx, w.ns, "rr-resume-we")
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(w.ns))).To(Succeed())
		Expect(steps.Items).To(BeEmpty(), "nothing runs before the approval")
		// Where Argo's users look, with the real argo CLI: the plan's Workflow by its labels,
		// waiting, and what a person approves in its description.
		Eventually(func() (string, error) {
			return env.Tool(ctx, "argo", "list", "-n", w.ns, "-l", kubernautv1.LabelTargetName+"=web,"+kubernautv1.LabelWorkflowExecution+"=rr-resume-we", "--running")
		}).WithContext(ctx).Should(ContainSubstring("rr-resume-we"))
		out, err := env.Tool(ctx, "argo", "get", "rr-resume-we", "-n", w.ns, "-o", "json")
		Expect(err).NotTo(HaveOccurred(), out)
		var got wfv1.Workflow
		Expect(json.Unmarshal([]byte(out), &got)).To(Succeed(), out)
		get(ctx, we)
		Expect(got.Annotations["workflows.argoproj.io/description"]).To(And(ContainSubstring("Plan hash `"+we.Status.Plan.Hash+"`"),
			ContainSubstring("`scale_deployment` on Deployment/"+w.ns+"/web — policy: allowed; dry run "), ContainSubstring("`argo resume rr-resume-we -n "+w.ns+"`")))
		gate := got.Status.Nodes.FindByName("rr-resume-we.approve")
		Expect(gate).NotTo(BeNil(), out)
		Expect(gate.Inputs.GetParameterByName("summary").Value.String()).To(Equal(got.Annotations["workflows.argoproj.io/description"]),
			"the gate's node shows what is approved")
		Expect(got.Annotations).To(HaveKeyWithValue("workflows.argoproj.io/title", "scale_deployment on Deployment/"+w.ns+"/web ("+we.Spec.AlertName+")"))
		// The real `argo resume`.
		out, err = env.Tool(ctx, "argo", "resume", "rr-resume-we", "-n", w.ns)
		Expect(err).NotTo(HaveOccurred(), out)
		we = waitEnd(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
		// Argo's CRD keeps status atomic in managedFields, so who wrote the resume is known only
		// until Argo's controller writes status again (the integration test pins that case); the
		// Argo server's actor labels name SSO users.
		Expect(we.Status.Approval.DecidedBy).To(HavePrefix("argo resume"))

		other := runPlan(ctx, w.ns, "rr-annotate-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, t, scaleStep("scale", w.ns, "web", 1))
		approveByAnnotation(ctx, other)
		other = waitEnd(ctx, other)
		Expect(other.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", other.Status.Conditions)
		wf := &wfv1.Workflow{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rr-annotate-we"}, wf)).To(Succeed())
		Expect(wf.Status.Nodes.FindByName("rr-annotate-we.approve").Message).To(HavePrefix("Resumed by kubernaut: plan " + other.Status.Plan.Hash))
		reportNudges(ctx, w.ns, "rr-resume-we", "rr-annotate-we")
	})

	It("undoes the completed steps newest first when a step fails, as the builtin engine does", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-undo-", "2")
		available(ctx, deployment(w.ns, "web", 2))
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"POOL": "10", "MODE": "a"}})).To(Succeed())
		Expect(k8s.Create(ctx, hpaOf(w.ns, "web", 2, 5))).To(Succeed())
		t := target("Deployment", w.ns, "web")
		plan := func(name string, engine kubernautv1.EngineName) *kubernautv1.WorkflowExecution {
			return waitEnd(ctx, runPlan(ctx, w.ns, name, engine, kubernautv1.ApprovalAuto, t,
				configStep("pool", w.ns, map[string]string{"POOL": "20"}),
				configStep("mode", w.ns, map[string]string{"MODE": "b"}, "pool"),
				scaleStep("scale", w.ns, "web", 4, "mode")))
		}
		argo := plan("rr-argo-undo-we", kubernautv1.EngineArgo)
		Expect(argo.Status.Phase).To(Equal(kubernautv1.WorkflowFailed), "%v", argo.Status.Conditions)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}}
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "10", "MODE": "a"}), "both changes undone by the exit hook")
		Expect(outcome(argo)).To(Equal([]string{"Failed", "pool=Succeeded", "mode=Succeeded", "scale=Failed",
			"undo-scale=Succeeded", "undo-mode=Succeeded", "undo-pool=Succeeded"}))

		builtin := plan("rr-builtin-undo-we", kubernautv1.EngineBuiltin)
		Expect(outcome(builtin)).To(Equal(outcome(argo)))
	})

	It("passes the step's parameter values byte for byte, as the builtin engine does: Argo evaluates nothing the analyzer wrote", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-literal-", "2")
		available(ctx, deployment(w.ns, "web", 1))
		t := target("Deployment", w.ns, "web")
		// Argo's controller expands {{…}} and evaluates {{=expr}} in task arguments.
		hostile := map[string]string{"MODE": "{{=sprig.upper('x')}}", "SA": "{{workflow.serviceAccountName}}",
			"BIG": "{{=len(sprig.repeat(30000000,'x'))}}", "EDGE": `}}{{ "{" \{{`}
		for _, engine := range []kubernautv1.EngineName{kubernautv1.EngineArgo, kubernautv1.EngineBuiltin} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}, Data: map[string]string{"MODE": "a"}}
			Expect(k8s.Create(ctx, cm)).To(Succeed())
			we := waitEnd(ctx, runPlan(ctx, w.ns, kubernautv1.WorkflowName("rr-literal-"+string(engine)), engine, kubernautv1.ApprovalAuto, t, configStep("config", w.ns, hostile)))
			Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%s: %v", engine, we.Status.Conditions)
			get(ctx, cm)
			Expect(cm.Data).To(Equal(hostile), "%s: the ConfigMap holds the approved text", engine)
			Expect(k8s.Delete(ctx, cm)).To(Succeed())
		}
	})

	It("keeps a second remediation of the same Deployment waiting on the mutex", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-mutex-", "5")
		available(ctx, deployment(w.ns, "web", 1))
		t := target("Deployment", w.ns, "web")
		first := runPlan(ctx, w.ns, "rr-first-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, t, scaleStep("scale", w.ns, "web", 2))
		atGate(ctx, w.ns, "rr-first-we")
		second := runPlan(ctx, w.ns, "rr-second-we", kubernautv1.EngineArgo, kubernautv1.ApprovalAuto, t, scaleStep("scale", w.ns, "web", 2))
		heldBack(ctx, w.ns, "rr-second-we", "scale", "the mutex kubernaut.deployment."+w.ns+".web")
		resumeGate(ctx, w.ns, "rr-first-we")
		Expect(waitEnd(ctx, first).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted))
		Expect(waitEnd(ctx, second).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "runs once the first released the mutex")
	})

	It("holds the namespace semaphore at its limit: a remediation of another object waits for a slot", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-sem-", "1")
		available(ctx, deployment(w.ns, "web", 1))
		available(ctx, deployment(w.ns, "api", 1))
		first := runPlan(ctx, w.ns, "rr-web-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, target("Deployment", w.ns, "web"), scaleStep("scale", w.ns, "web", 2))
		atGate(ctx, w.ns, "rr-web-we")
		second := runPlan(ctx, w.ns, "rr-api-we", kubernautv1.EngineArgo, kubernautv1.ApprovalAuto, target("Deployment", w.ns, "api"), scaleStep("scale", w.ns, "api", 2))
		heldBack(ctx, w.ns, "rr-api-we", "scale", "a slot of the semaphore namespace."+w.ns+" (another object)")
		resumeGate(ctx, w.ns, "rr-web-we")
		Expect(waitEnd(ctx, first).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted))
		Expect(waitEnd(ctx, second).Status.Phase).To(Equal(kubernautv1.WorkflowCompleted))
	})

	It("ends a remediation once when Argo's controller is killed mid-Workflow and restarted", func(ctx SpecContext) {
		w := startArgoWorld(ctx, "argo-restart-", "2")
		available(ctx, deployment(w.ns, "web", 1))
		t := target("Deployment", w.ns, "web")
		we := runPlan(ctx, w.ns, "rr-restart-we", kubernautv1.EngineArgo, kubernautv1.ApprovalManual, t, scaleStep("scale", w.ns, "web", 2))
		atGate(ctx, w.ns, "rr-restart-we")
		ac := w.argo
		ac.Kill()
		resumeGate(ctx, w.ns, "rr-restart-we")
		Expect(ac.Start(ctx)).To(Succeed())
		we = waitEnd(ctx, we)
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
		Expect(w.exec.CreatedCount("rr-restart-we-scale")).To(Equal(1), "the step was created once")
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "web"}}
		get(ctx, d)
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))
	})
})
