package node

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// production is what the production overlay runs, on this cluster: kubernaut's own binary with
// --engine argo --executor job and the actions image, Argo's real controller in Kubernaut's
// namespace whose pods (argoexec) and the action Jobs run on the real node.
type production struct {
	proc   *cluster.Kubernaut
	argo   *cluster.ArgoController
	sender scenario.Sender
}

// startProductionChain starts Argo's controller for kubernaut-system and `kubernaut local` as
// the production overlay configures it, until the spec ends.
func startProductionChain(ctx SpecContext) *production {
	GinkgoHelper()
	binaryOnce.Do(func() { binaryPath, binaryErr = cluster.BuildKubernaut(ctx, env.Dir) })
	Expect(binaryErr).NotTo(HaveOccurred())
	installWorkflowRBAC(ctx)
	ac, err := env.StartArgoWithExecutor(ctx, actionsNamespace, cluster.ArgoOnRealNode, cluster.ArgoExecutorImage)
	Expect(err).NotTo(HaveOccurred())
	proc, err := env.StartKubernaut(ctx, cluster.KubernautOptions{Binary: binaryPath, Name: "kubernaut-production", Args: []string{
		"--learning-window=0", "--verify-interval=500ms", "--memory-soak=10s",
		"--actions-namespace=" + actionsNamespace, "--gateway-namespace=" + actionsNamespace,
		"--engine=argo", "--argo-recheck=5s", "--executor=job", "--actions-image=" + ActionsImage,
		"--job-node-selector=" + cluster.RealNodeLabel + "=true", "--job-tolerations=" + cluster.RealNodeLabel + ":NoSchedule",
	}})
	Expect(err).NotTo(HaveOccurred())
	p := &production{proc: proc, argo: ac, sender: scenario.Sender{URL: proc.GatewayURL, Token: proc.Token}}
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			AddReportEntry("kubernaut log", proc.LogTail(120))
			if log, err := os.ReadFile(ac.Log()); err == nil {
				AddReportEntry("workflow-controller log", string(log[max(0, len(log)-15000):]))
			}
		}
		proc.Stop()
		ac.Kill()
	})
	return p
}

// remediation waits until the remediation ends and returns it.
func (p *production) remediation(ctx SpecContext, name string) *kubernautv1.RemediationRequest {
	GinkgoHelper()
	rr := &kubernautv1.RemediationRequest{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: name}, rr)).To(Succeed())
		g.Expect(rr.Status.Phase.IsFinished()).To(BeTrue(), "phase %s: %s", rr.Status.Phase, rr.Status.Message)
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	return rr
}

// approve waits for the remediation's plan at its gate, checks that it proposes action, and
// approves it as a person does in production: with kubectl, by the plan's hash (admission
// records who).
func approve(ctx SpecContext, rrName string, action kubernautv1.ActionName) {
	GinkgoHelper()
	we := &kubernautv1.WorkflowExecution{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.WorkflowName(rrName)}, we)).To(Succeed())
		g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		g.Expect(we.Status.Plan).NotTo(BeNil())
	}).WithContext(ctx).WithTimeout(90 * time.Second).Should(Succeed())
	Expect(we.Status.Plan.Steps).To(ContainElement(HaveField("Action", action)))
	need := 1
	if we.Spec.Quorum != nil {
		need = int(we.Spec.Quorum.Approvers)
	}
	// As many people as the plan's quorum needs (not the administrator, who broke the workload).
	for i, person := range cluster.Approvers[:need] {
		if i > 0 {
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
				g.Expect(we.Annotations).NotTo(HaveKey(kubernautv1.ApproveAnnotation), "the last approval counted")
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		}
		out, err := kubectl(ctx, "annotate", "--as", person, "workflowexecution", "-n", actionsNamespace, we.Name, kubernautv1.ApproveAnnotation+"="+we.Status.Plan.Hash)
		Expect(err).NotTo(HaveOccurred(), out)
	}
}

// servingDeployment is the workload serving on the real node with a readiness probe.
func servingDeployment(ns, name string) *appsv1.Deployment {
	d := workloadDeployment(ns, name, 1, "serve")
	d.Spec.Template.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	return d
}

var _ = Describe("The production combination on the real node, from the alert", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("rolls back a Deployment whose new revision really crash-loops, through Argo and the actions image, and verifies it", func(ctx SpecContext) {
		p := startProductionChain(ctx)
		estate, err := scenario.NewEstate(ctx, k8s, "node-crash-", "production")
		Expect(err).NotTo(HaveOccurred())
		ns := estate.Namespace
		Expect(cluster.WaitForDefaultServiceAccount(ctx, clientset, ns)).To(Succeed())
		d := servingDeployment(ns, "web")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		available(ctx, d)

		// The release: revision 2 crashes on start, for real; revision 1's pod keeps serving.
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Args = []string{"crash"}
			return k8s.Update(ctx, d)
		})).To(Succeed())
		var crashing corev1.Pod
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			found := false
			for _, pod := range pods.Items {
				// In its back-off: the kubelet (v1.37) reports the instance that ended as the
				// container's state until the next start, and the one before it — already
				// deleted — as its last termination; the alert comes now, as a real one does.
				if len(pod.Spec.Containers[0].Args) == 1 && pod.Spec.Containers[0].Args[0] == "crash" &&
					len(pod.Status.ContainerStatuses) == 1 && pod.Status.ContainerStatuses[0].RestartCount >= 2 &&
					pod.Status.ContainerStatuses[0].State.Running == nil {
					crashing, found = pod, true
				}
			}
			g.Expect(found).To(BeTrue(), "a pod of revision 2 restarted twice, in its back-off")
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())

		alert := scenario.Alert(map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": ns,
			"pod": crashing.Name, "container": "app", "reason": "CrashLoopBackOff", "job": "kube-state-metrics", "service": "kube-state-metrics"},
			map[string]string{"summary": "Pod is crash looping.",
				"description": fmt.Sprintf("Pod %s/%s (app) is in waiting state (reason: \"CrashLoopBackOff\").", ns, crashing.Name)}, time.Now())
		Expect(p.sender.Deliver(ctx, scenario.Notification(alert))).To(Succeed())
		name := gateway.RRName(alert.Fingerprint, alert.StartsAt)
		approve(ctx, name, kubernautv1.ActionRollbackDeployment)
		rr := p.remediation(ctx, name)
		Expect(rr.Status.Phase).To(Equal(kubernautv1.RemediationPhaseCompleted), "%s", rr.Status.Message)
		// What the step verified, though Argo's resource node says nothing.
		Expect(rr.Status.Message).To(ContainSubstring(`rollback: deployment "web" successfully rolled out`))

		// The evidence was the kubelet's: the previous container's log, its credential
		// redacted, and the kubelet's own BackOff events reached the processing and the analysis.
		rp := &kubernautv1.RemediationProcessing{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.ProcessingName(name)}, rp)).To(Succeed())
		aia := &kubernautv1.AIAnalysis{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.AnalysisName(name)}, aia)).To(Succeed())
		for _, e := range []*kubernautv1.Enrichment{rp.Status.Enrichment, aia.Spec.Enrichment} {
			Expect(e).NotTo(BeNil())
			Expect(e.Logs).To(ContainElement(And(HaveField("Pod", crashing.Name), HaveField("Previous", true),
				HaveField("Text", ContainSubstring("crashing on start: cannot reach postgres://app:[REDACTED]@db")),
				HaveField("Redactions", BeNumerically(">=", 1)))), "logs %+v; failed lookups %+v; pods %+v", e.Logs, e.FailedDetections, e.Pods)
			Expect(fmt.Sprint(e)).NotTo(ContainSubstring("s3cret-pw"))
			Expect(e.Events).To(ContainElement(And(HaveField("Reason", "BackOff"), HaveField("Object", "Pod/"+crashing.Name))), "events %+v; failed lookups %+v", e.Events, e.FailedDetections)
		}

		// The world: the template is revision 1's again, every pod serves it and is Ready, and
		// the step ran as a Job of the actions image on the real node.
		available(ctx, d)
		Expect(d.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"serve"}))
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp == nil {
				Expect(pod.Spec.Containers[0].Args).To(Equal([]string{"serve"}), "pod %s", pod.Name)
			}
		}
		var steps kubernautv1.KubernetesExecutionList
		Expect(k8s.List(ctx, &steps, client.InNamespace(actionsNamespace))).To(Succeed())
		var ran []string
		for _, s := range steps.Items {
			if strings.HasPrefix(s.Name, name) {
				ran = append(ran, fmt.Sprintf("%s %s %s", s.Spec.Action, s.Status.Phase, s.Status.Executor))
			}
		}
		Expect(ran).To(ContainElement("rollback_deployment Succeeded job"))
	})

	It("raises the memory limit of a container the kernel really OOM-kills, and the pods then serve", func(ctx SpecContext) {
		p := startProductionChain(ctx)
		estate, err := scenario.NewEstate(ctx, k8s, "node-oom-", "production")
		Expect(err).NotTo(HaveOccurred())
		ns := estate.Namespace
		Expect(cluster.WaitForDefaultServiceAccount(ctx, clientset, ns)).To(Succeed())
		// 80 MiB allocated under a 64 MiB limit: the kernel kills it, again and again.
		d := workloadDeployment(ns, "orders", 1, "serve", "--alloc-mib", "80")
		Expect(k8s.Create(ctx, d)).To(Succeed())
		var killed corev1.Pod
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).NotTo(BeEmpty())
			killed = pods.Items[0]
			g.Expect(killed.Status.ContainerStatuses).To(HaveLen(1))
			last := killed.Status.ContainerStatuses[0].LastTerminationState.Terminated
			g.Expect(last).NotTo(BeNil())
			g.Expect(last.Reason).To(Equal("OOMKilled"))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())

		alert := scenario.Alert(map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": ns,
			"pod": killed.Name, "container": "app", "reason": "CrashLoopBackOff", "job": "kube-state-metrics", "service": "kube-state-metrics"},
			map[string]string{"summary": "Pod is crash looping."}, time.Now())
		Expect(p.sender.Deliver(ctx, scenario.Notification(alert))).To(Succeed())
		name := gateway.RRName(alert.Fingerprint, alert.StartsAt)
		approve(ctx, name, kubernautv1.ActionIncreaseMemoryLimit)
		rr := p.remediation(ctx, name)
		Expect(rr.Status.Phase).To(Equal(kubernautv1.RemediationPhaseCompleted), "%s", rr.Status.Message)

		// The world: the limit was raised (50 %: 96 MiB), the new pod holds its 80 MiB and serves.
		available(ctx, d)
		Expect(d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String()).To(Equal("96Mi"))
		var pods corev1.PodList
		Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp == nil {
				Expect(pod.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "pod %s", pod.Name)
				out, err := kubectl(ctx, "logs", "-n", ns, pod.Name)
				Expect(err).NotTo(HaveOccurred(), out)
				Expect(out).To(ContainSubstring("allocated 80 MiB"))
			}
		}
	})
})
