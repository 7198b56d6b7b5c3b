package integration

import (
	"bytes"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/plugin"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

var _ = Describe("kubectl kubernaut (plugin/) against the real API server and its admission policies", func() {
	It("lists the plan waiting for a person first, shows it, and approves it as the user the API server authenticates — or refuses, naming the permission", func(ctx SpecContext) {
		ns, prod := newNamespace(ctx), newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		// Three remediations: one finished, one running, one whose plan waits for a person.
		finished := gen.RemediationRequest(ns, "rr-old")
		running := gen.RemediationRequest(ns, "rr-running")
		waiting := gen.RemediationRequest(ns, "rr-waiting")
		for _, rr := range []*kubernautv1.RemediationRequest{finished, running, waiting} {
			Expect(k8s.Create(ctx, rr)).To(Succeed())
		}
		w := gen.WorkflowExecution(ns, kubernautv1.WorkflowName("rr-waiting"), actingIn(prod), func(w *kubernautv1.WorkflowExecution) {
			w.Spec.RemediationRequestRef = kubernautv1.LocalReference{Name: "rr-waiting"}
		})
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		hash := w.Status.Plan.Hash
		status := func(rr *kubernautv1.RemediationRequest, phase kubernautv1.RemediationPhase, mod func(*kubernautv1.RemediationRequest)) {
			GinkgoHelper()
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(rr), rr)).To(Succeed())
			rr.Status.Phase = phase
			if mod != nil {
				mod(rr)
			}
			Expect(k8s.Status().Update(ctx, rr)).To(Succeed())
		}
		status(finished, kubernautv1.RemediationPhaseCompleted, func(rr *kubernautv1.RemediationRequest) {
			t := metav1.NewTime(time.Now())
			rr.Status.CompletedAt = &t
		})
		status(running, kubernautv1.RemediationPhaseExecuting, nil)
		status(waiting, kubernautv1.RemediationPhaseAwaitingApproval, func(rr *kubernautv1.RemediationRequest) {
			rr.Status.RootCause = "revision 8 crashes on start"
			rr.Status.Actions = []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}
			rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: w.Name}
		})

		var out bytes.Buffer
		p := &plugin.Plugin{Client: k8s, Out: &out}
		items, err := p.List(ctx, ns)
		Expect(err).NotTo(HaveOccurred())
		p.PrintTable(items, false, true)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		Expect(lines).To(HaveLen(4))
		Expect(lines[0]).To(MatchRegexp(`^NAME\s+PHASE\s+SIGNAL\s+TARGET\s+ACTIONS\s+AGE\s+OUTCOME\s+PLAN\s+ROOT CAUSE$`))
		Expect(lines[1]).To(MatchRegexp(`^rr-waiting\s+AwaitingApproval\s+KubePodCrashLooping\s+Pod/shop/\S+\s+rollback_deployment\s+\S+\s+-\s+rr-waiting-we\s+revision 8 crashes on start$`))
		Expect(lines[2]).To(HavePrefix("rr-running "))
		Expect(lines[3]).To(MatchRegexp(`^rr-old\s+Completed\s+.*Completed in \S+`))

		out.Reset()
		r, err := p.Get(ctx, ns, "rr-waiting")
		Expect(err).NotTo(HaveOccurred())
		p.Describe(r)
		Expect(out.String()).To(And(ContainSubstring("Phase:       AwaitingApproval"), ContainSubstring("hash:      "+hash),
			ContainSubstring("rollback_deployment on Deployment/"+prod+"/checkout"), ContainSubstring("policy: allowed"),
			ContainSubstring("To approve:  kubectl kubernaut approve rr-waiting -n "+ns), ContainSubstring("plan Validated=True")))

		// mallory may read and edit remediations and plans, but not approve where this one acts.
		editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubernaut-reader-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"remediationrequests", "aianalyses", "workflowexecutions"},
				Verbs: []string{"get", "list", "watch", "patch"}}}}
		Expect(k8s.Create(ctx, editor)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, editor)).To(Succeed()) })
		grant(ctx, ns, "mallory", editor.Name)
		out.Reset()
		err = (&plugin.Plugin{Client: as("mallory"), Out: &out}).Decide(ctx, ns, "rr-waiting", plugin.Decision{Approve: true})
		Expect(err).To(MatchError(And(ContainSubstring("the API server refused the decision"),
			ContainSubstring("user mallory may not approve or reject this plan: it acts in namespace "+prod),
			ContainSubstring("needs the verb approve on workflowexecutions.kubernaut.io"))))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the API server's Forbidden, wrapped")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
		Expect(w.Annotations).NotTo(HaveKey(kubernautv1.ApproveAnnotation))
		// Nor may mallory write the reason of an approval: it is part of the decision.
		err = decide(ctx, as("mallory"), w, map[string]string{kubernautv1.ApproveReasonAnnotation: "looks fine to me"})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		// A rejection says why.
		Expect((&plugin.Plugin{Client: as("mallory"), Out: &out}).Decide(ctx, ns, "rr-waiting", plugin.Decision{})).
			To(MatchError(ContainSubstring("reject needs --reason")))

		// The same through the binary kubectl runs, with kubectl's flags.
		bin := buildPlugin(ctx)
		stdout, stderr, err := runPlugin(ctx, bin, "list", "--kubeconfig", env.Kubeconfig, "-n", ns)
		Expect(err).NotTo(HaveOccurred(), stderr)
		Expect(strings.Split(strings.TrimSpace(stdout), "\n")[1]).To(HavePrefix("rr-waiting "))
		stdout, stderr, err = runPlugin(ctx, bin, "show", "rr-waiting-we", "--kubeconfig", env.Kubeconfig, "-n", ns, "-o", "json")
		Expect(err).NotTo(HaveOccurred(), stderr)
		Expect(stdout).To(And(ContainSubstring(`"kind": "RemediationRequestList"`), ContainSubstring(`"kind": "WorkflowExecution"`), ContainSubstring(hash)))
		_, stderr, err = runPlugin(ctx, bin, "approve", "rr-waiting", "--kubeconfig", env.Kubeconfig, "-n", ns, "--as", "mallory")
		Expect(err).To(HaveOccurred(), "exits non-zero")
		Expect(stderr).To(ContainSubstring("error: the API server refused the decision: "))
		Expect(stderr).To(ContainSubstring("user mallory may not approve or reject this plan"))

		// alice may approve in prod: the plugin approves the plan's hash by the remediation's
		// name, and prints the name the API server recorded.
		grant(ctx, ns, "alice", editor.Name)
		grant(ctx, prod, "alice", "kubernaut-approver")
		out.Reset()
		Expect((&plugin.Plugin{Client: as("alice"), Out: &out}).Decide(ctx, ns, "rr-waiting", plugin.Decision{Approve: true, Reason: "the diff rolls back to v7"})).To(Succeed())
		Expect(out.String()).To(ContainSubstring("plan rr-waiting-we of rr-waiting approved (hash " + hash + "); the API server recorded the decision as alice"))
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval).To(And(HaveField("Decision", "Approved"), HaveField("PlanHash", hash), HaveField("DecidedBy", "user alice")))
		Expect(w.Status.Approval.Approvers).To(ConsistOf(And(HaveField("User", "alice"), HaveField("Reason", "the diff rolls back to v7"))), "the reason recorded with her approval")

		// A plan no longer waiting is not approved again.
		Expect((&plugin.Plugin{Client: as("alice"), Out: &out}).Decide(ctx, ns, "rr-waiting-we", plugin.Decision{Approve: true})).
			To(MatchError(ContainSubstring("plan rr-waiting-we is Running, not waiting for approval")))
	})

	It("pauses and resumes a namespace, turns the kill switch on and off, and tells the history", func(ctx SpecContext) {
		ns, shop := newNamespace(ctx), newNamespace(ctx)
		var out bytes.Buffer
		p := &plugin.Plugin{Client: k8s, Out: &out}

		Expect(p.SetRemediate(ctx, shop, false)).To(Succeed())
		got := &corev1.Namespace{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: shop}, got)).To(Succeed())
		Expect(got.Labels).To(HaveKeyWithValue(kubernautv1.OptInLabel, "false"))
		Expect(out.String()).To(ContainSubstring("namespace " + shop + ": paused"))
		Expect(p.SetRemediate(ctx, shop, true)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Name: shop}, got)).To(Succeed())
		Expect(got.Labels).To(HaveKeyWithValue(kubernautv1.OptInLabel, "true"))
		// Someone RBAC does not let label namespaces is refused, and told which permission.
		err := (&plugin.Plugin{Client: as("bob"), Out: &out}).SetRemediate(ctx, shop, false)
		Expect(err).To(MatchError(ContainSubstring(`User "bob" cannot patch resource "namespaces"`)))

		ks := plugin.KillSwitch{Namespace: ns, Name: "kubernaut-config"}
		out.Reset()
		Expect(p.KillSwitchStatus(ctx, ks)).To(Succeed())
		Expect(out.String()).To(HavePrefix("kill switch off"))
		Expect(p.SetKillSwitch(ctx, ks, true)).To(Succeed(), "creates the ConfigMap when there is none")
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kubernaut-config"}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("killSwitch", "true"))
		Expect(out.String()).To(ContainSubstring("kill switch ON (ConfigMap " + ns + "/kubernaut-config)"))
		Expect(p.SetKillSwitch(ctx, ks, false)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kubernaut-config"}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("killSwitch", "false"))

		// History: what finished within the window, newest first, with how it was approved.
		finish := func(name string, ago time.Duration, phase kubernautv1.RemediationPhase, approval *kubernautv1.Approval) {
			GinkgoHelper()
			rr := gen.RemediationRequest(ns, name)
			Expect(k8s.Create(ctx, rr)).To(Succeed())
			if approval != nil {
				we := gen.WorkflowExecution(ns, kubernautv1.WorkflowName(name))
				Expect(k8s.Create(ctx, we)).To(Succeed())
				we.Status.Approval = approval
				Expect(k8s.Status().Update(ctx, we)).To(Succeed())
				rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: we.Name}
			}
			t := metav1.NewTime(time.Now().Add(-ago))
			rr.Status.Phase, rr.Status.CompletedAt = phase, &t
			rr.Status.Actions = []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}
			Expect(k8s.Status().Update(ctx, rr)).To(Succeed())
		}
		finish("rr-auto", time.Hour, kubernautv1.RemediationPhaseCompleted, &kubernautv1.Approval{Mode: kubernautv1.ApprovalAuto, Decision: "Approved", DecidedBy: "policy"})
		finish("rr-by-alice", 2*time.Hour, kubernautv1.RemediationPhaseFailed, &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Approved", DecidedBy: "user alice"})
		finish("rr-skipped", 3*time.Hour, kubernautv1.RemediationPhaseSkipped, nil)
		finish("rr-long-ago", 10*24*time.Hour, kubernautv1.RemediationPhaseCompleted, nil)
		records, err := p.History(ctx, ns, time.Now().Add(-7*24*time.Hour))
		Expect(err).NotTo(HaveOccurred())
		Expect(records).To(HaveLen(3))
		Expect(records[0]).To(And(HaveField("Name", "rr-auto"), HaveField("Approval", "auto"), HaveField("Outcome", kubernautv1.RemediationPhaseCompleted)))
		Expect(records[1]).To(And(HaveField("Name", "rr-by-alice"), HaveField("Approval", "user alice"), HaveField("Outcome", kubernautv1.RemediationPhaseFailed)))
		Expect(records[2]).To(And(HaveField("Name", "rr-skipped"), HaveField("Approval", "-")))
		out.Reset()
		p.PrintHistory(records)
		Expect(strings.Split(strings.TrimSpace(out.String()), "\n")[0]).To(MatchRegexp(`^NAME\s+SIGNAL\s+TARGET\s+ACTIONS\s+APPROVAL\s+OUTCOME\s+DURATION\s+FINISHED$`))
	})
})

// buildPlugin builds cmd/kubectl-kubernaut into a temporary folder.
func buildPlugin(ctx SpecContext) string {
	GinkgoHelper()
	bin, err := cluster.BuildPlugin(ctx, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	return bin
}

// runPlugin runs the plugin's binary as kubectl does.
func runPlugin(ctx SpecContext, bin string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
