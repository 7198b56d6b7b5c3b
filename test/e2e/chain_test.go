package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/holmes"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// The whole chain, as it runs in production: kubernaut's own binary (`kubernaut local`,
// flags and wiring included), real-shaped Alertmanager notifications posted to its gateway
// with the bearer token, and the state of the cluster asserted at the end.

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// kubernautBinary builds kubernaut once per suite run.
func kubernautBinary(ctx context.Context) string {
	GinkgoHelper()
	binaryOnce.Do(func() {
		// In the cluster's folder, which goes with the cluster at the end of the suite.
		binaryPath, binaryErr = cluster.BuildKubernaut(ctx, env.Dir)
	})
	Expect(binaryErr).NotTo(HaveOccurred())
	return binaryPath
}

// chain is kubernaut running beside the control plane, and the Alertmanager that notifies it.
type chain struct {
	proc   *cluster.Kubernaut
	sender scenario.Sender
}

// startChain starts `kubernaut local` with the flags every chain spec shares and extra ones,
// until the container's specs ended (its AfterEach calls report for a failed spec).
func startChain(ctx SpecContext, name string, args ...string) *chain {
	GinkgoHelper()
	// Without the learning loop (its own integration tests cover it): the failure specs make
	// rollbacks fail on purpose, and the learned confidence of rollback_deployment would then
	// drop for every later spec — below the rejection threshold, as one run showed.
	base := []string{"--learning-window=0", "--verify-interval=250ms", "--eviction-retry-delay=500ms", "--timeout-approval=20s", "--memory-soak=1s",
		"--actions-namespace=" + actionsNamespace, "--gateway-namespace=" + actionsNamespace}
	proc, err := env.StartKubernaut(ctx, cluster.KubernautOptions{Binary: kubernautBinary(ctx), Name: name, Args: append(base, args...)})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(proc.Stop)
	return &chain{proc: proc, sender: scenario.Sender{URL: proc.GatewayURL, Token: proc.Token}}
}

// report adds the process' log tail to a failed spec.
func (c *chain) report() {
	if c != nil && CurrentSpecReport().Failed() {
		AddReportEntry("kubernaut log", c.proc.LogTail(80))
	}
}

// fire delivers one notification of the alerts, as Alertmanager does, and returns the names
// of the RemediationRequests the gateway derives for them.
func (c *chain) fire(ctx context.Context, alerts ...gateway.WebhookAlert) []string {
	GinkgoHelper()
	Expect(c.sender.Deliver(ctx, scenario.Notification(alerts...))).To(Succeed())
	var names []string
	for _, a := range alerts {
		names = append(names, gateway.RRName(a.Fingerprint, a.StartsAt))
	}
	return names
}

// reaches waits until the remediation is in phase and returns it.
func reaches(ctx context.Context, name string, phase kubernautv1.RemediationPhase) *kubernautv1.RemediationRequest {
	GinkgoHelper()
	var rr kubernautv1.RemediationRequest
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: name}, &rr)).To(Succeed())
		g.Expect(rr.Status.Phase).To(Equal(phase), "message: %s", rr.Status.Message)
	}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	return &rr
}

// approvePlan approves the remediation's plan by its hash, as people with kubectl annotate:
// as many as its quorum needs.
func approvePlan(ctx context.Context, rrName string) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	we := planned(ctx, rrName)
	we, err := cluster.ApprovePlan(ctx, env.Config, client.ObjectKeyFromObject(we))
	Expect(err).NotTo(HaveOccurred())
	return we
}

// planned waits until the remediation's plan is planned (validated, dry-run) and waits at its
// approval gate.
func planned(ctx context.Context, rrName string) *kubernautv1.WorkflowExecution {
	GinkgoHelper()
	we := &kubernautv1.WorkflowExecution{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.WorkflowName(rrName)}, we)).To(Succeed())
		g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		g.Expect(we.Status.Plan).NotTo(BeNil())
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return we
}

// steps lists the KubernetesExecutions of a remediation's plan by name.
func steps(ctx context.Context, rrName string) map[string]kubernautv1.KubernetesExecution {
	GinkgoHelper()
	var list kubernautv1.KubernetesExecutionList
	Expect(k8s.List(ctx, &list, client.InNamespace(actionsNamespace))).To(Succeed())
	out := map[string]kubernautv1.KubernetesExecution{}
	for _, ke := range list.Items {
		if name, ok := strings.CutPrefix(ke.Name, rrName+"-we-"); ok {
			out[name] = ke
		}
	}
	return out
}

func newEstate(ctx SpecContext, prefix, environment string) scenario.Estate {
	GinkgoHelper()
	e, err := scenario.NewEstate(ctx, k8s, prefix, environment)
	Expect(err).NotTo(HaveOccurred())
	return e
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

func deploymentIn(ctx context.Context, e scenario.Estate, name string) *appsv1.Deployment {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: name}, d)).To(Succeed())
	return d
}

// imageOf is the image Deployment name of the estate runs.
func imageOf(ctx context.Context, e scenario.Estate, name string) string {
	GinkgoHelper()
	return deploymentIn(ctx, e, name).Spec.Template.Spec.Containers[0].Image
}

// withdrawn waits until the remediation's plan is gone (its WorkflowExecution deleted).
func withdrawn(ctx context.Context, rr string) {
	GinkgoHelper()
	Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.WorkflowName(rr)}, &kubernautv1.WorkflowExecution{}))
	}).WithContext(ctx).Should(BeTrue(), "the plan of %s is withdrawn", rr)
}

// nothingRan checks that remediation rr ran no step and Deployment name still runs the
// crashing release 2.0 the situation made.
func nothingRan(ctx context.Context, rr string, e scenario.Estate, name string) {
	GinkgoHelper()
	Expect(steps(ctx, rr)).To(BeEmpty())
	Expect(imageOf(ctx, e, name)).To(Equal("shop/"+name+":2.0"), "nothing changed")
}

var _ = Describe("The whole chain through kubernaut's binary: six situations", Ordered, func() {
	var c *chain
	BeforeAll(func(ctx SpecContext) { c = startChain(ctx, "kubernaut-situations") }, NodeTimeout(3*time.Minute))
	AfterEach(func() { c.report() })

	It("rolls back a release that crash-loops, automatically in staging", func(ctx SpecContext) {
		e := newEstate(ctx, "shop-staging-", "staging")
		alert := must(e.CrashLoopAfterRollout(ctx, "cart"))
		rr := c.fire(ctx, alert)[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(got.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}))
		Expect(got.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalAuto))
		Expect(got.Status.RootCause).To(ContainSubstring("crashes on start"))
		Expect(imageOf(ctx, e, "cart")).To(Equal("shop/cart:1.0"))
		Expect(steps(ctx, rr)).To(HaveKey("rollback"))
	})

	It("raises the memory limit of an OOM-killed container", func(ctx SpecContext) {
		e := newEstate(ctx, "orders-staging-", "staging")
		rr := c.fire(ctx, must(e.OOMKilled(ctx, "orders")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(got.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionIncreaseMemoryLimit}))
		limit := deploymentIn(ctx, e, "orders").Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		Expect(limit.String()).To(Equal("192Mi"), "128Mi raised by 50 %")
	})

	It("raises the maximum of an HPA pinned at it, once a person approved the plan", func(ctx SpecContext) {
		e := newEstate(ctx, "search-staging-", "staging")
		rr := c.fire(ctx, must(e.HPAAtMax(ctx, "search")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalManual), "confidence 0.75 is below the automatic threshold")
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		var hpa autoscalingv2.HorizontalPodAutoscaler
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: "search"}, &hpa)).To(Succeed())
		Expect(hpa.Spec.MaxReplicas).To(Equal(int32(3)))
	})

	It("replaces a pod stuck not ready while its siblings are ready", func(ctx SpecContext) {
		e := newEstate(ctx, "api-staging-", "staging")
		alert := must(e.StuckPod(ctx, "api"))
		rr := c.fire(ctx, alert)[0]
		reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		var pod corev1.Pod
		err := k8s.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: alert.Labels["pod"]}, &pod)
		Expect(err == nil && pod.DeletionTimestamp == nil).To(BeFalse(), "the stuck pod is gone")
		Expect(must(e.RolledOut(ctx, deploymentIn(ctx, e, "api")))).To(HaveLen(3), "its controller replaced it")
	})

	It("restarts each workload behind a Service whose pods are wedged, as independent steps started together, and leaves the healthy one alone", func(ctx SpecContext) {
		e := newEstate(ctx, "front-staging-", "staging")
		rr := c.fire(ctx, must(e.WedgedBehindService(ctx, "front")))[0]
		rp := &kubernautv1.RemediationProcessing{}
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalManual), "confidence 0.75 is below the automatic threshold")
		Expect(got.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionRestartDeployment, kubernautv1.ActionRestartDeployment}))
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.ProcessingName(rr)}, rp)).To(Succeed())
		Expect(rp.Status.Enrichment.Backends).To(HaveLen(3))
		Expect(rp.Status.Enrichment.FailedDetections).NotTo(ContainElement(HaveField("Detection", BeElementOf("backends", "pods"))), "kwok serves no logs; the rest is read")
		we := approvePlan(ctx, rr)
		for _, s := range we.Spec.Steps {
			Expect(s.DependsOn).To(BeEmpty(), "step %s is independent", s.Name)
		}
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		ran := steps(ctx, rr)
		Expect(ran).To(HaveLen(2))
		a, b := ran["restart-front-a"], ran["restart-front-b"]
		Expect(a.Spec.Target.Name).To(Equal("front-a"))
		Expect(b.Spec.Target.Name).To(Equal("front-b"))
		Expect(a.CreationTimestamp.Time).To(BeTemporally("~", b.CreationTimestamp.Time, 2*time.Second), "started together, neither waiting for the other")
		for _, name := range []string{"front-a", "front-b"} {
			d := deploymentIn(ctx, e, name)
			Expect(d.Spec.Template.Annotations).To(HaveKey("kubectl.kubernetes.io/restartedAt"), "%s restarted", name)
			Expect(must(e.RolledOut(ctx, d))).To(HaveLen(2), "%s runs two Ready pods again", name)
		}
		Expect(deploymentIn(ctx, e, "front-c").Spec.Template.Annotations).NotTo(HaveKey("kubectl.kubernetes.io/restartedAt"), "the healthy workload is left alone")
	})

	It("cordons and drains a NotReady node after a person approved it, evicting its pods through their PodDisruptionBudget", func(ctx SpecContext) {
		e := newEstate(ctx, "ledger-prod-", "production")
		d := e.Deployment("ledger", 2)
		pods := must(e.PodsOnNode(ctx, "chain-node", d))
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "chain-node"}}))).To(Succeed())
		})
		Expect(e.Guarded(ctx, "ledger")).To(Succeed())
		on := 0
		for _, p := range pods {
			if p.Spec.NodeName == "chain-node" {
				on++
			}
		}
		Expect(on).To(Equal(2), "the scheduler put ledger's pods on the node")
		rr := c.fire(ctx, must(scenario.NodeDown(ctx, k8s, "chain-node")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionCordonNode, kubernautv1.ActionDrainNode}))
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(steps(ctx, rr)["drain"].Status.Result.Message).To(ContainSubstring("2 pods evicted"), "evicted, not deleted")
		var node corev1.Node
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "chain-node"}, &node)).To(Succeed())
		Expect(node.Spec.Unschedulable).To(BeTrue())
		pods = must(e.RolledOut(ctx, d))
		for _, p := range pods {
			Expect(p.Spec.NodeName).NotTo(Equal("chain-node"))
		}
	})
})

var _ = Describe("The whole chain through kubernaut's binary: what goes wrong", Ordered, func() {
	var c *chain
	BeforeAll(func(ctx SpecContext) { c = startChain(ctx, "kubernaut-failures") }, NodeTimeout(3*time.Minute))
	AfterEach(func() { c.report() })

	It("refuses a plan the safety policy denies, before anything changes", func(ctx SpecContext) {
		e := newEstate(ctx, "gitops-staging-", "staging")
		alert := must(e.CrashLoopAfterRollout(ctx, "web"))
		d := deploymentIn(ctx, e, "web")
		before := d.DeepCopy()
		d.Labels = map[string]string{"argocd.argoproj.io/instance": "shop"}
		Expect(k8s.Patch(ctx, d, client.MergeFrom(before))).To(Succeed())
		rr := c.fire(ctx, alert)[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseRejected)
		Expect(got.Status.Message).To(ContainSubstring("managed by argocd (shop)"))
		Expect(steps(ctx, rr)).To(BeEmpty(), "no step was created")
		Expect(imageOf(ctx, e, "web")).To(Equal("shop/web:2.0"))
	})

	It("refuses a plan the API server's dry run refuses, before anything changes", func(ctx SpecContext) {
		e := newEstate(ctx, "cve-staging-", "staging")
		alert := must(e.CrashLoopAfterRollout(ctx, "pay"))
		// The cluster's own admission refuses the image the rollback would bring back.
		refuseInAdmission(ctx, "banned-image-"+e.Namespace, e.Namespace,
			[]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			`object.spec.template.spec.containers.all(c, c.image != "shop/pay:1.0")`, "shop/pay:1.0 has a known vulnerability (CVE-2026-0001)")
		waitAdmissionRefuses(ctx, e, "pay", "shop/pay:1.0")
		rr := c.fire(ctx, alert)[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseRejected)
		Expect(got.Status.Message).To(ContainSubstring("shop/pay:1.0 has a known vulnerability"))
		nothingRan(ctx, rr, e, "pay")
	})

	It("undoes a rollback whose verification fails", func(ctx SpecContext) {
		e := newEstate(ctx, "verify-staging-", "staging")
		pods := must(e.BrokenPreviousRevision(ctx, "web"))
		rr := c.fire(ctx, must(e.CrashLooping(ctx, &pods[0], "critical", "Error", 1)))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseFailed)
		Expect(got.Status.Message).To(ContainSubstring("the completed steps were undone: undo-rollback Succeeded"))
		s := steps(ctx, rr)
		Expect(s).To(HaveKey("rollback"))
		Expect(s["rollback"].Status.Verification).To(HaveField("Result", "Failed"))
		Expect(s).To(HaveKey("undo-rollback"))
		Expect(s["undo-rollback"].Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded))
		Expect(imageOf(ctx, e, "web")).To(Equal("shop/web:2.0"), "the rollback was undone")
	})

	It("times out a plan nobody approves, and executes nothing", func(ctx SpecContext) {
		e := newEstate(ctx, "billing-prod-", "production")
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "billing")))[0]
		reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseTimedOut)
		Expect(got.Status.Message).To(ContainSubstring("AwaitingApproval"))
		withdrawn(ctx, rr) // nobody can approve it after its remediation timed out
		nothingRan(ctx, rr, e, "billing")
	})

	It("cancels a remediation whose alert resolves while its plan waits, and withdraws the plan", func(ctx SpecContext) {
		e := newEstate(ctx, "checkout-prod-", "production")
		alert := must(e.CrashLoopAfterRollout(ctx, "checkout"))
		rr := c.fire(ctx, alert)[0]
		reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		c.fire(ctx, scenario.Resolved(alert, time.Now()))
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseCancelled)
		Expect(got.Status.Message).To(ContainSubstring("the plan was withdrawn"))
		withdrawn(ctx, rr)
		nothingRan(ctx, rr, e, "checkout")
	})

	It("executes nothing while the kill switch is on, not even a plan approved before", func(ctx SpecContext) {
		e := newEstate(ctx, "kill-prod-", "production")
		waiting := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "a")))[0]
		reaches(ctx, waiting, kubernautv1.RemediationPhaseAwaitingApproval)
		setKillSwitch(ctx, "true")
		DeferCleanup(func(ctx SpecContext) { setKillSwitch(ctx, "false") })
		fresh := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "b")))[0]
		got := reaches(ctx, fresh, kubernautv1.RemediationPhaseSkipped)
		Expect(meta.FindStatusCondition(got.Status.Conditions, kubernautv1.GuardsPassedCondition).Reason).To(Equal(kubernautv1.ReasonKillSwitchActive))
		approvePlan(ctx, waiting)
		got = reaches(ctx, waiting, kubernautv1.RemediationPhaseFailed)
		s := steps(ctx, waiting)
		Expect(s).To(HaveKey("rollback"))
		Expect(meta.FindStatusCondition(s["rollback"].Status.Conditions, kubernautv1.ValidatedCondition)).To(HaveField("Reason", kubernautv1.ReasonKillSwitchActive))
		for _, name := range []string{"a", "b"} {
			Expect(imageOf(ctx, e, name)).To(Equal("shop/"+name+":2.0"), "nothing changed")
		}
	})

	It("remediates an alert storm on one Deployment once", func(ctx SpecContext) {
		e := newEstate(ctx, "storm-staging-", "staging")
		d := e.Deployment("feed", 12)
		must(e.Run(ctx, d))
		pods := must(e.Release(ctx, d, "shop/feed:2.0"))
		var alerts []gateway.WebhookAlert
		for i := range pods {
			alerts = append(alerts, must(e.CrashLooping(ctx, &pods[i], "critical", "Error", 1)))
		}
		// One notification (Alertmanager groups them by alertname and namespace) of more new
		// alerts than the storm threshold (10): one storm remediation lists all twelve, and
		// its processing finds the Deployment they share.
		c.fire(ctx, alerts...)
		var rrs kubernautv1.RemediationRequestList
		Eventually(func(g Gomega) {
			g.Expect(k8s.List(ctx, &rrs, client.InNamespace(actionsNamespace), client.MatchingLabels{kubernautv1.LabelTargetNamespace: e.Namespace})).To(Succeed())
			g.Expect(rrs.Items).NotTo(BeEmpty())
			for _, rr := range rrs.Items {
				g.Expect(rr.Status.Phase.IsFinished()).To(BeTrue(), "%s is %s", rr.Name, rr.Status.Phase)
			}
		}).WithContext(ctx).WithTimeout(120 * time.Second).Should(Succeed())
		var outcomes []string
		for _, rr := range rrs.Items {
			outcomes = append(outcomes, fmt.Sprintf("%s %s: %s", rr.Name, rr.Status.Phase, rr.Status.Message))
		}
		report := strings.Join(outcomes, "\n")
		Expect(rrs.Items).To(HaveLen(1), "one remediation for the storm:\n%s", report)
		storm := rrs.Items[0]
		Expect(storm.Labels).To(HaveKeyWithValue(gateway.LabelStorm, "true"))
		Expect(storm.Spec.MemberTargets).To(HaveLen(12))
		Expect(storm.Status.Phase).To(Equal(kubernautv1.RemediationPhaseCompleted), report)
		Expect(storm.Status.Actions).To(Equal([]kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}))
		Expect(steps(ctx, storm.Name)).To(HaveKey("rollback"))
		rp := &kubernautv1.RemediationProcessing{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.ProcessingName(storm.Name)}, rp)).To(Succeed())
		Expect(meta.FindStatusCondition(rp.Status.Conditions, kubernautv1.EnrichedCondition).Message).To(
			ContainSubstring("gathered the context of Deployment/%s/feed, the workload of all 12 members of the storm", e.Namespace))
		d = deploymentIn(ctx, e, "feed")
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("shop/feed:1.0"))
		Expect(d.Annotations["deployment.kubernetes.io/revision"]).To(Equal("3"), "rolled back once: revision 1's template became revision 3")
	})
})

// setKillSwitch writes the kill-switch ConfigMap.
func setKillSwitch(ctx context.Context, value string) {
	GinkgoHelper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: actionsNamespace, Name: remediationrequest.DefaultConfig().KillSwitchName}}
	Eventually(func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)
		if err != nil {
			cm.Data = map[string]string{killswitch.Key: value}
			return k8s.Create(ctx, cm)
		}
		cm.Data = map[string]string{killswitch.Key: value}
		return k8s.Update(ctx, cm)
	}).WithContext(ctx).Should(Succeed())
}

var _ = Describe("The whole chain through kubernaut's binary with HolmesGPT", Ordered, func() {
	var c *chain
	// The specs run in order and script what HolmesGPT answers next; down makes it answer 503.
	var down atomic.Bool
	fake := &holmes.Fake{T: GinkgoT(), Reply: func(int, string, map[string]any) (int, string) {
		if down.Load() {
			return http.StatusServiceUnavailable, `{"detail":"upstream model unavailable"}`
		}
		return 0, ""
	}}
	BeforeAll(func(ctx SpecContext) {
		srv := fake.Start()
		c = startChain(ctx, "kubernaut-holmesgpt", "--analyzer=holmesgpt", "--holmesgpt-url="+srv.URL,
			"--holmesgpt-attempts=1", "--holmesgpt-retry-delay=10ms", "--holmesgpt-breaker-threshold=100")
	}, NodeTimeout(3*time.Minute))
	AfterEach(func() { c.report() })

	It("rejects a plan HolmesGPT is not confident in", func(ctx SpecContext) {
		e := newEstate(ctx, "low-staging-", "staging")
		fake.SetAnswer(fmt.Sprintf(`{"rootCause": {"summary": "maybe the network", "confidence": 0.4}, "steps": [
			{"name": "restart", "action": "restart_deployment", "target": {"kind": "Deployment", "namespace": %q, "name": "cart"}}]}`, e.Namespace))
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "cart")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseRejected)
		Expect(got.Status.Message).To(ContainSubstring("confidence 0.40 is below 0.70"))
		nothingRan(ctx, rr, e, "cart")
	})

	It("undoes the completed steps when a later step fails, restoring the pre-state", func(ctx SpecContext) {
		e := newEstate(ctx, "undo-staging-", "staging")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: "web-settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		d := e.Deployment("web", 2, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-settings"}}}}
		})
		must(e.Run(ctx, d))
		fake.SetAnswer(fmt.Sprintf(`{"rootCause": {"summary": "the pool is too small for the new release", "confidence": 0.8}, "steps": [
			{"name": "scale", "action": "scale_deployment", "target": {"kind": "Deployment", "namespace": %[1]q, "name": "web"}, "parameters": {"scaleDeployment": {"replicas": 3}}},
			{"name": "pool", "action": "update_config", "dependsOn": ["scale"], "target": {"kind": "ConfigMap", "namespace": %[1]q, "name": "web-settings"}, "parameters": {"updateConfig": {"data": {"POOL": "20"}}}}]}`, e.Namespace))
		alert := scenario.Alert(map[string]string{"alertname": "CheckoutLatencyHigh", "severity": "warning", "namespace": e.Namespace, "deployment": "web"},
			map[string]string{"summary": "p99 latency above 2 s"}, time.Now())
		rr := c.fire(ctx, alert)[0]
		planned(ctx, rr)
		// While the plan waits for its approval, someone deletes the ConfigMap its second step
		// changes: that step is refused when it runs, after the first one scaled.
		Expect(k8s.Delete(ctx, cm)).To(Succeed())
		approvePlan(ctx, rr)
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseFailed)
		Expect(got.Status.Message).To(ContainSubstring("pool"))
		s := steps(ctx, rr)
		Expect(s["scale"].Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded))
		Expect(s["pool"].Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(s["undo-scale"].Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded))
		Expect(*deploymentIn(ctx, e, "web").Spec.Replicas).To(Equal(int32(2)), "the scale was undone")
	})

	It("falls back to the rules analyzer when HolmesGPT is down, and a person must approve", func(ctx SpecContext) {
		down.Store(true)
		e := newEstate(ctx, "fallback-staging-", "staging")
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "cart")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalManual), "the rules alone would approve 0.92 automatically in staging")
		var aia kubernautv1.AIAnalysis
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.AnalysisName(rr)}, &aia)).To(Succeed())
		Expect(aia.Status.Approval.Reasons).To(ContainElement(ContainSubstring("fallback")))
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(imageOf(ctx, e, "cart")).To(Equal("shop/cart:1.0"))
	})
})

// refuseInAdmission makes the API server's admission refuse, in namespace ns, the operations
// ops on the resources of rule whose object fails expression, with message — a
// ValidatingAdmissionPolicy and its binding named name, as a cluster's own admission would —
// until the spec ends. A new policy takes a moment to load: the caller waits for it to refuse.
func refuseInAdmission(ctx SpecContext, name, ns string, ops []admissionregistrationv1.OperationType, rule admissionregistrationv1.Rule, expression, message string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: ops, Rule: rule}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: expression, Message: message}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}},
	}
	for _, o := range []client.Object{policy, binding} {
		Expect(k8s.Create(ctx, o)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, o))).To(Succeed()) })
	}
}

// waitAdmissionRefuses waits until the API server's admission refuses the Deployment with
// image (a new policy takes a moment to load).
func waitAdmissionRefuses(ctx context.Context, e scenario.Estate, name, image string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		d := deploymentIn(ctx, e, name)
		d.Spec.Template.Spec.Containers[0].Image = image
		err := k8s.Update(ctx, d, client.DryRunAll)
		g.Expect(err).To(HaveOccurred())
		g.Expect(err.Error()).To(ContainSubstring("known vulnerability"))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}
