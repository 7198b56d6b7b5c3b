package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/notify"
	"github.com/kubernaut/kubernaut/record"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var _ = Describe("A person approves from a notification, through a real Alertmanager and kubectl kubernaut (issue 21)", Ordered, func() {
	var (
		c      *chain
		rcv    *cluster.AlertReceiver
		plugin string
	)
	BeforeAll(func(ctx SpecContext) {
		rcv = cluster.NewAlertReceiver()
		DeferCleanup(rcv.Close)
		am, err := cluster.StartAlertmanager(ctx, GinkgoT().TempDir(), `route:
  receiver: sre
  group_by: [alertname, kubernaut_remediation]
  group_wait: 100ms
  group_interval: 300ms
  repeat_interval: 1h
receivers:
- name: sre
  webhook_configs:
  - url: `+rcv.URL+`
    send_resolved: true
`)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(am.Stop)
		plugin, err = cluster.BuildPlugin(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		c = startChain(ctx, "kubernaut-notify", "--alertmanager-url="+am.URL, "--notify-interval=2s")
	}, NodeTimeout(3*time.Minute))
	AfterEach(func() { c.report() })

	It("gets KubernautApprovalRequired at the receiver, approves with the command it carries as two people, and sees it resolved and the remediation verified", func(ctx SpecContext) {
		e := newEstate(ctx, "notify-prod-", "production")
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "pay")))[0]
		mine := map[string]string{notify.LabelRemediation: rr}
		var alert cluster.Delivered
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.ApprovalRequired, "firing", mine) }).WithContext(ctx).WithTimeout(60*time.Second).
			Should(HaveLen(1), "the approval request reached the team's receiver")
		alert = rcv.Find(notify.ApprovalRequired, "firing", mine)[0]
		Expect(alert.Labels).To(And(HaveKeyWithValue("namespace", e.Namespace), HaveKeyWithValue("target_name", "pay"),
			HaveKeyWithValue(notify.LabelSourceAlertname, "KubePodCrashLooping")))
		Expect(alert.Annotations["steps"]).To(ContainSubstring("rollback_deployment on Deployment/" + e.Namespace + "/pay — policy allowed; dry run succeeded"))
		Expect(alert.Annotations["quorum"]).To(Equal("0 of 2 approvals"), "production needs two people")

		// The command in the notification, as a person pastes it: the plugin, as alice, then bob.
		command := alert.Annotations["approve"]
		Expect(command).To(Equal("kubectl kubernaut approve " + rr + " -n " + actionsNamespace))
		args := strings.Fields(strings.TrimPrefix(command, "kubectl kubernaut "))
		for _, who := range []string{"alice", "bob"} {
			Eventually(func() (string, error) {
				out, err := exec.CommandContext(ctx, plugin, append(args, "--kubeconfig", env.Kubeconfig, "--as", who, "--reason", who+" read the diff")...).CombinedOutput()
				return string(out), err
			}).WithContext(ctx).WithTimeout(30*time.Second).WithPolling(500*time.Millisecond).
				Should(ContainSubstring("the API server recorded the decision as "+who), "%s approves (again while the first approval is being counted)", who)
		}

		got := reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(apimeta.IsStatusConditionTrue(got.Status.Conditions, kubernautv1.VerifiedCondition)).To(BeTrue(), "verified")
		Expect(imageOf(ctx, e, "pay")).To(Equal("shop/pay:1.0"), "rolled back")
		we := &kubernautv1.WorkflowExecution{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.WorkflowName(rr)}, we)).To(Succeed())
		Expect(we.Status.Approval.DecidedBy).To(And(ContainSubstring("alice"), ContainSubstring("bob")))
		Expect(we.Status.Approval.Approvers).To(ConsistOf(And(HaveField("User", "alice"), HaveField("Reason", "alice read the diff")),
			And(HaveField("User", "bob"), HaveField("Reason", "bob read the diff"))), "each reason with its approver (the first cleared with its approval)")
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.ApprovalRequired, "resolved", mine) }).WithContext(ctx).WithTimeout(30*time.Second).
			Should(HaveLen(1), "the approval request resolved")
		Eventually(func() []cluster.Delivered { return rcv.Find(notify.Remediating, "resolved", mine) }).WithContext(ctx).WithTimeout(30*time.Second).
			Should(HaveLen(1), "told it ran, then that it ended")
		Expect(rcv.Errors()).To(BeEmpty())

		// The record that outlives the objects: one structured log line, self-contained.
		var lines []string
		Eventually(func() []string {
			lines = c.proc.LogLines("remediation record", `"remediation":"`+rr+`"`)
			return lines
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(HaveLen(1))
		var line struct {
			Record record.Record `json:"record"`
		}
		Expect(json.Unmarshal([]byte(lines[0][strings.Index(lines[0], "{"):]), &line)).To(Succeed(), lines[0])
		rec := line.Record
		Expect(rec.Outcome).To(Equal(kubernautv1.RemediationPhaseCompleted))
		Expect(rec.Signal.Name).To(Equal("KubePodCrashLooping"))
		Expect(rec.Analysis.RootCause).NotTo(BeEmpty())
		Expect(rec.Plan.Hash).To(Equal(we.Status.Plan.Hash))
		Expect(rec.Plan.Approval.Approvers).To(ConsistOf(HaveField("Reason", "alice read the diff"), HaveField("Reason", "bob read the diff")))
		Expect(rec.Plan.Steps).To(ConsistOf(And(HaveField("Action", "rollback_deployment"), HaveField("Phase", "Succeeded"),
			HaveField("PreState", MatchRegexp(`^revision \d+, ReplicaSet pay-`)))))
		Expect(rec.Plan.Verification).To(HaveField("Result", "Passed"))
		Expect(rec.Plan.Steps[0].Verification).To(HavePrefix("Passed: "))
		Expect(rec.Durations.Total).To(BeNumerically(">=", rec.Durations.AwaitingApproval+rec.Durations.Execution))
	})
})
