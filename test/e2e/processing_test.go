package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/rules"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// startControllers runs the orchestrator (cluster-wide) and the processing controller
// against the full control plane until the spec ends.
func startControllers(ctx SpecContext) {
	GinkgoHelper()
	runManager(func(runCtx context.Context, mgr ctrl.Manager) error {
		cfg := remediationrequest.DefaultConfig()
		cfg.ClusterWide = true
		rr := &remediationrequest.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Config: cfg,
			Events: mgr.GetEventRecorder("kubernaut-remediationrequest"), Metrics: remediationrequest.NewMetrics(prometheus.NewRegistry())}
		Expect(rr.SetupWithManager(runCtx, mgr)).To(Succeed())
		rp := &remediationprocessing.Reconciler{
			Client:     mgr.GetClient(),
			Enricher:   &remediationprocessing.Enricher{Reader: mgr.GetAPIReader(), Logs: remediationprocessing.ClientLogs{Client: clientset}, LookupTimeout: 5 * time.Second},
			Classifier: remediationprocessing.NewClassifier(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies"),
			Events:     mgr.GetEventRecorder("kubernaut-remediationprocessing"),
			Metrics:    remediationprocessing.NewMetrics(prometheus.NewRegistry()),
		}
		Expect(rp.SetupWithManager(mgr)).To(Succeed())
		rb := rules.New()
		aia := &aianalysis.Reconciler{
			Client: mgr.GetClient(), Analyzers: map[kubernautv1.AnalyzerName]aianalysis.Analyzer{kubernautv1.AnalyzerRules: rb},
			Default: kubernautv1.AnalyzerRules, Fallback: rb, Timeout: 10 * time.Second,
			Validator: &aianalysis.Validator{Client: mgr.GetClient(), MaxSteps: 5},
			Approver:  aianalysis.NewApprover(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", 0.9, 0.7),
		}
		Expect(aia.SetupWithManager(mgr)).To(Succeed())
		set, err := templates.Embedded()
		Expect(err).NotTo(HaveOccurred())
		safety := kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", nil)
		actionsEnv := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr, EvictionRetryDelay: 500 * time.Millisecond, Exec: execs}
		we := &workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set, Actions: &actionsEnv, Grants: granter(mgr),
			Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow"}, Safety: safety,
			Engines: map[kubernautv1.EngineName]workflowexecution.Engine{kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set}}}
		Expect(we.SetupWithManager(mgr)).To(Succeed())
		ke := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: actionsEnv, Safety: safety,
			Executors:  map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}},
			Authorizer: authorizer(mgr), Grants: granter(mgr), VerifyInterval: 250 * time.Millisecond,
			Events: mgr.GetEventRecorder("kubernaut-kubernetesexecution")}
		Expect(ke.SetupWithManager(mgr)).To(Succeed())
		return nil
	})
}

func newNamespace(ctx SpecContext, prefix string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func deployment(ns, name string, replicas int32, mods ...func(*appsv1.Deployment)) *appsv1.Deployment {
	return scenario.Estate{Namespace: ns}.Deployment(name, replicas, mods...)
}

// estateOf is the estate of a namespace, on the suite's cluster.
func estateOf(ns string) scenario.Estate { return scenario.Estate{Client: k8s, Namespace: ns} }

// available creates a Deployment and waits until kube-controller-manager and kwok made it
// Available; it returns its pods.
func available(ctx SpecContext, d *appsv1.Deployment) []corev1.Pod {
	GinkgoHelper()
	return must(estateOf(d.Namespace).Run(ctx, d))
}

// crash writes a pod's status as a kubelet would for a container that keeps dying.
func crash(ctx SpecContext, pod *corev1.Pod, lastReason string, exitCode int32) {
	GinkgoHelper()
	Expect(scenario.Crash(ctx, k8s, pod, lastReason, exitCode)).To(Succeed())
}

// process creates a RemediationProcessing for target and waits for it to finish.
func process(ctx SpecContext, ns string, alert string, severity kubernautv1.Severity, target kubernautv1.Target) *kubernautv1.RemediationProcessing {
	GinkgoHelper()
	rp := gen.RemediationProcessing(ns, "rp-"+string(target.Kind)[:3], func(rp *kubernautv1.RemediationProcessing) {
		rp.GenerateName, rp.Name = "rp-", ""
		rp.Spec.Target = target
		rp.Spec.Signal.Name, rp.Spec.Signal.Severity = alert, severity
		rp.Spec.Signal.StartsAt = metav1.NewTime(time.Now().Truncate(time.Second))
	})
	Expect(k8s.Create(ctx, rp)).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rp), rp)).To(Succeed())
		g.Expect(rp.Status.Phase).To(BeElementOf(kubernautv1.ProcessingCompleted, kubernautv1.ProcessingFailed))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return rp
}

func detections(rp *kubernautv1.RemediationProcessing) []string {
	var out []string
	for _, f := range rp.Status.Enrichment.FailedDetections {
		out = append(out, f.Detection)
	}
	return out
}

var _ = Describe("RemediationProcessing on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		startControllers(ctx)
		DeferCleanup(healthy)
	})

	It("enriches and classifies a crash-looping pod of a Deployment", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-prod-")
		pods := available(ctx, deployment(ns, "checkout", 2))
		crash(ctx, &pods[0], "Error", 1)

		rp := process(ctx, ns, "KubePodCrashLooping", kubernautv1.SeverityCritical, kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: pods[0].Name})
		Expect(rp.Status.Phase).To(Equal(kubernautv1.ProcessingCompleted), "%v", rp.Status.Conditions)
		e := rp.Status.Enrichment
		Expect(e.OwnerChain).To(HaveLen(3))
		Expect(e.OwnerChain[1].Kind).To(Equal(kubernautv1.TargetKindReplicaSet))
		Expect(e.OwnerChain[2]).To(Equal(kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "checkout"}))
		Expect(e.Workload.Target.Name).To(Equal("checkout"))
		Expect(*e.Workload.Replicas).To(Equal(int32(2)))
		Expect(e.Pods).To(HaveLen(2))
		Expect(e.Pods[0].Name).To(Equal(pods[0].Name), "the target pod comes first")
		Expect(e.Pods[0].Containers[0]).To(And(HaveField("Reason", "CrashLoopBackOff"), HaveField("RestartCount", int32(6)), HaveField("LastTerminationReason", "Error")))
		Expect(e.Node).NotTo(BeNil())
		Expect(e.Node.Name).To(HavePrefix("kwok-node-"))
		Expect(e.Rollouts).To(HaveLen(1))
		Expect(e.Rollouts[0].Revision).To(Equal(int64(1)))
		// kwok runs no kubelet: the log lookup fails, and says so.
		Expect(detections(rp)).To(ContainElement("logs"))
		c := rp.Status.Classification
		Expect(c.SignalType).To(Equal("crashloop"))
		Expect(c.Environment).To(Equal(kubernautv1.EnvironmentProduction))
		Expect(c.Priority).To(Equal(kubernautv1.Priority("P0")))
	})

	It("classifies an OOM-killed container as oom", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-staging-")
		pods := available(ctx, deployment(ns, "cart", 1))
		crash(ctx, &pods[0], "OOMKilled", 137)
		rp := process(ctx, ns, "KubePodCrashLooping", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: pods[0].Name})
		Expect(rp.Status.Enrichment.Pods[0].Containers[0].LastTerminationReason).To(Equal("OOMKilled"))
		Expect(rp.Status.Classification.SignalType).To(Equal("oom"))
		Expect(rp.Status.Classification.Environment).To(Equal(kubernautv1.EnvironmentStaging))
	})

	It("records a NotReady node's conditions and classifies it as a node problem", func(ctx SpecContext) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "worker-"}}
		Expect(k8s.Create(ctx, node)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, node))).To(Succeed()) })
		// Written as a kubelet that lost its node would; kube-controller-manager's node
		// controllers update the node too, so re-read on conflict.
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return err
			}
			node.Status.Conditions = []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: metav1.Now()},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", LastTransitionTime: metav1.Now()},
			}
			return k8s.Status().Update(ctx, node)
		}).WithContext(ctx).Should(Succeed())
		ns := newNamespace(ctx, "ops-")
		rp := process(ctx, ns, "KubeNodeNotReady", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "Node", Name: node.Name})
		Expect(rp.Status.Enrichment.Node.Conditions).To(ContainElement(And(HaveField("Type", "Ready"), HaveField("Status", "Unknown"))))
		Expect(rp.Status.Classification.SignalType).To(Equal("node"))
	})

	It("records a Deployment below its replicas with unschedulable pods", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-")
		d := deployment(ns, "search", 3, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "nvme"}
		})
		Expect(k8s.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(3))
			for _, p := range pods.Items {
				g.Expect(p.Status.Conditions).To(ContainElement(HaveField("Reason", "Unschedulable")))
			}
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		rp := process(ctx, ns, "KubeDeploymentReplicasMismatch", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "search"})
		Expect(rp.Status.Enrichment.Workload.AvailableReplicas).To(BeZero())
		Expect(rp.Status.Enrichment.Pods).To(HaveEach(HaveField("Reason", "Unschedulable")))
		Expect(rp.Status.Classification.SignalType).To(Equal("replica-mismatch"))
	})

	It("follows an HPA at its maximum to its Deployment", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-")
		available(ctx, deployment(ns, "api", 2))
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 2,
			},
		}
		Expect(k8s.Create(ctx, hpa)).To(Succeed())
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(hpa), hpa); err != nil {
				return err
			}
			hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas = 2, 2
			hpa.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas", LastTransitionTime: metav1.Now()}}
			return k8s.Status().Update(ctx, hpa)
		}).WithContext(ctx).Should(Succeed())
		rp := process(ctx, ns, "KubeHpaMaxedOut", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "HorizontalPodAutoscaler", Namespace: ns, Name: "api"})
		Expect(rp.Status.Enrichment.Workload.Target.Name).To(Equal("api"))
		Expect(rp.Status.Enrichment.HPA).NotTo(BeNil())
		Expect(rp.Status.Enrichment.HPA.MaxReplicas).To(Equal(int32(2)))
		Expect(rp.Status.Classification.SignalType).To(Equal("hpa-maxed"))
	})

	It("lists a Deployment's revisions after a rollout, newest first", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-")
		d := deployment(ns, "web", 1)
		available(ctx, d)
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = "shop/web:2.0"
			return k8s.Update(ctx, d)
		}).WithContext(ctx).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Annotations["deployment.kubernetes.io/revision"]).To(Equal("2"))
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		rp := process(ctx, ns, "KubePodCrashLooping", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"})
		r := rp.Status.Enrichment.Rollouts
		Expect(r).To(HaveLen(2))
		Expect(r[0].Revision).To(Equal(int64(2)))
		Expect(r[0].Images).To(Equal([]string{"shop/web:2.0"}))
		Expect(r[1].Images).To(Equal([]string{"shop/web:1.0"}))
	})

	It("fails a processing whose target does not exist, saying so", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-")
		rp := process(ctx, ns, "KubePodCrashLooping", kubernautv1.SeverityWarning, kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: "gone"})
		Expect(rp.Status.Phase).To(Equal(kubernautv1.ProcessingFailed))
		Expect(meta.FindStatusCondition(rp.Status.Conditions, kubernautv1.EnrichedCondition).Reason).To(Equal(kubernautv1.ReasonTargetNotFound))
	})

	It("records a lookup its RBAC denies as a failed detection", func(ctx SpecContext) {
		ns := newNamespace(ctx, "shop-")
		pods := available(ctx, deployment(ns, "billing", 1))
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "enricher"}})).To(Succeed())
		Expect(k8s.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-events"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: []string{"get", "list"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: []string{"get", "list"}},
			},
		})).To(Succeed())
		Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "enricher"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-events"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "enricher"}},
		})).To(Succeed())
		limited := rest.CopyConfig(env.Config)
		limited.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":enricher"}
		reader, err := client.New(limited, client.Options{Scheme: k8s.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		lcs, err := kubernetes.NewForConfig(limited)
		Expect(err).NotTo(HaveOccurred())
		en := &remediationprocessing.Enricher{Reader: reader, Logs: remediationprocessing.ClientLogs{Client: lcs}, LookupTimeout: 5 * time.Second}

		var e *kubernautv1.Enrichment
		Eventually(func() error {
			e, err = en.Enrich(ctx, kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: pods[0].Name})
			return err
		}).WithContext(ctx).Should(Succeed())
		var got []kubernautv1.FailedDetection
		for _, f := range e.FailedDetections {
			if f.Detection == "events" || f.Detection == "node" || f.Detection == "hpa" || f.Detection == "pdb" {
				got = append(got, f)
			}
		}
		Expect(got).To(ContainElement(And(HaveField("Detection", "events"), HaveField("Error", ContainSubstring("forbidden")))))
		Expect(got).To(ContainElement(And(HaveField("Detection", "node"), HaveField("Error", ContainSubstring("forbidden")))))
		Expect(e.Workload).NotTo(BeNil(), "what it may read is still gathered")
	})

	It("takes a crash loop after a rollout to a rollback plan approved by its hash in production", func(ctx SpecContext) {
		ns := newNamespace(ctx, "payments-prod-")
		d := deployment(ns, "ledger", 1)
		available(ctx, d)
		Eventually(func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = "shop/ledger:2.0"
			return k8s.Update(ctx, d)
		}).WithContext(ctx).Should(Succeed())
		var pods []corev1.Pod
		Eventually(func(g Gomega) {
			var list corev1.PodList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			pods = nil
			for _, p := range list.Items {
				if p.Spec.Containers[0].Image == "shop/ledger:2.0" && p.DeletionTimestamp == nil {
					pods = append(pods, p)
				}
			}
			g.Expect(pods).To(HaveLen(1))
			g.Expect(pods[0].Status.Phase).To(Equal(corev1.PodRunning), "kwok has run the new pod")
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Status.UpdatedReplicas).To(Equal(int32(1)))
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		crash(ctx, &pods[0], "Error", 2)
		pods = append([]corev1.Pod{{}}, pods...)
		rr := gen.RemediationRequest(ns, "rr-e2e", func(r *kubernautv1.RemediationRequest) {
			r.Spec.Target = kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: pods[1].Name}
			r.Spec.Signal.StartsAt = metav1.NewTime(time.Now().Truncate(time.Second))
		})
		Expect(k8s.Create(ctx, rr)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr)).To(Succeed())
			g.Expect(rr.Status.Phase).To(Equal(kubernautv1.RemediationPhaseAwaitingApproval), rr.Status.Message)
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(rr.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}))
		Expect(rr.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalManual))
		Expect(rr.Status.RootCause).To(ContainSubstring("revision 2 of Deployment/" + ns + "/ledger crashes on start"))
		var aia kubernautv1.AIAnalysis
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-e2e-aia"}, &aia)).To(Succeed())
		Expect(aia.Spec.Classification.SignalType).To(Equal("crashloop"))
		Expect(aia.Spec.Enrichment.Workload.Target.Name).To(Equal("ledger"))
		var we kubernautv1.WorkflowExecution
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-e2e-we"}, &we)).To(Succeed())
			g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		}).WithContext(ctx).Should(Succeed())
		Expect(we.Spec.Steps[0].Target).To(Equal(kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "ledger"}))
		Expect(we.Status.Plan.Steps[0].Policy.Allowed).To(BeTrue())
		Expect(we.Status.Plan.Steps[0].DryRun).To(And(HaveField("Result", "Succeeded"), HaveField("Diff", ContainSubstring("+      - image: shop/ledger:1.0"))),
			"the approver sees the change before approving it")

		_, err := cluster.ApprovePlan(ctx, env.Config, client.ObjectKeyFromObject(&we))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr)).To(Succeed())
			g.Expect(rr.Status.Phase).To(Equal(kubernautv1.RemediationPhaseCompleted), rr.Status.Message)
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("shop/ledger:1.0"), "rolled back to the previous revision's template")
		Expect(d.Status.UpdatedReplicas).To(Equal(int32(1)))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&we), &we)).To(Succeed())
		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted))
		Expect(we.Status.Steps).To(ConsistOf(And(HaveField("Name", "rollback"), HaveField("Phase", kubernautv1.StepSucceeded),
			HaveField("KubernetesExecutionRef.Name", "rr-e2e-we-rollback"))))
		var step kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-e2e-we-rollback"}, &step)).To(Succeed())
		Expect(step.Status.PreState.TargetReplicaSet).NotTo(BeEmpty())
		Expect(step.Status.DryRun.Diff).To(ContainSubstring("shop/ledger:1.0"))
		Expect(metav1.IsControlledBy(&step, &we)).To(BeTrue(), "the builtin engine owns its steps by the WorkflowExecution")
	})
})
