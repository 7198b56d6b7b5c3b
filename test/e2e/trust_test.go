package e2e

import (
	"context"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
	"github.com/kubernaut/kubernaut/trust"
)

// The scope every spec below remediates in: crash loops after a rollout, fixed by a rollback,
// in namespaces of no declared group.
var rollbackScope = kubernautv1.TrustScope{NamespaceGroup: trust.DefaultGroup, SignalType: "crashloop", Action: kubernautv1.ActionRollbackDeployment}

var _ = Describe("Earned autonomy: shadow mode, promotion on evidence, confirmation, demotion, ceilings (issue 22)", Ordered, func() {
	var (
		c      *chain
		plugin string
	)
	BeforeAll(func(ctx SpecContext) {
		// Production is never above approve; everything else starts in observe.
		p := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: kubernautv1.DefaultTrustPolicy}, Spec: kubernautv1.TrustPolicySpec{
			InitialLevel: kubernautv1.TrustObserve,
			NamespaceGroups: []kubernautv1.NamespaceGroup{{Name: "production",
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "production"}}}},
			Limits: []kubernautv1.TrustLimit{{NamespaceGroups: []string{"production"}, Floor: kubernautv1.TrustApprove, Ceiling: kubernautv1.TrustApprove}},
		}}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })
		var err error
		plugin, err = cluster.BuildPlugin(ctx, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		c = startChain(ctx, "kubernaut-trust", "--shadow-window=20s", "--trust-observed=2", "--trust-verified=1")
	}, NodeTimeout(3*time.Minute))
	AfterEach(func() { c.report() })

	It("observes a plan (its diff, nothing changed), judges it agreed when a person rolls back, and proposes approve after two", func(ctx SpecContext) {
		for i, name := range []string{"pay", "cart"} {
			e := newEstate(ctx, "trust-observe-", "staging")
			rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, name)))[0]
			got := reaches(ctx, rr, kubernautv1.RemediationPhaseObserved)
			Expect(got.Status.Trust).To(Equal(&kubernautv1.TrustDecision{Level: kubernautv1.TrustObserve, Scope: rollbackScope, Mode: kubernautv1.ApprovalObserve}))
			we := &kubernautv1.WorkflowExecution{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: actionsNamespace, Name: kubernautv1.WorkflowName(rr)}, we)).To(Succeed())
			Expect(we.Status.Plan.Steps).To(ConsistOf(HaveField("DryRun.Diff", MatchRegexp(`\+\s+- image: shop/`+name+`:1\.0`))), "what it would have done")
			Expect(steps(ctx, rr)).To(BeEmpty(), "nothing ran")
			Expect(imageOf(ctx, e, name)).To(Equal("shop/" + name + ":2.0"))
			if i == 0 {
				// An approver approving the observed plan by its hash decides nothing: the API
				// server takes the annotation, and observed is all its scope allows.
				alice := must(scenario.As(env.Config, cluster.Approvers[0]))
				before := we.DeepCopy()
				we.Annotations = map[string]string{kubernautv1.ApproveAnnotation: we.Status.Plan.Hash}
				Expect(alice.Patch(ctx, we, client.MergeFrom(before))).To(Succeed(), "the annotation is taken")
				Consistently(func(g Gomega) {
					g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
					g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowObserved))
					g.Expect(steps(ctx, rr)).To(BeEmpty())
				}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())
			}

			// A person (carol) rolls back by hand, as `kubectl rollout undo` does.
			// A moment later (who changed it is stamped in seconds; the second the plan was
			// observed in is not after it).
			time.Sleep(time.Second)
			Expect(e.RollBackBy(ctx, must(scenario.As(env.Config, "carol")), name)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
				g.Expect(we.Status.Shadow).NotTo(BeNil())
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(we.Status.Shadow.Verdict).To(Equal(trust.OutcomeAgreed), we.Status.Shadow.Message)
			Expect(we.Status.Shadow.ChangedBy).To(Equal([]string{"carol"}), "the release before the alert is not who agreed")

			Eventually(func() int32 { return scopeOf(ctx, rollbackScope).Evidence.Agreed }).WithContext(ctx).WithTimeout(20 * time.Second).
				Should(BeEquivalentTo(i + 1))
			Expect(scopeOf(ctx, rollbackScope).Level).To(Equal(kubernautv1.TrustObserve), "never promoted without a person: no limit allows it")
		}
		s := scopeOf(ctx, rollbackScope)
		Expect(s.Proposal).NotTo(BeNil())
		Expect(s.Proposal.Level).To(Equal(kubernautv1.TrustApprove))
	})

	It("takes the promotion a person confirms with kubectl kubernaut trust promote; the next plan waits for approval", func(ctx SpecContext) {
		out, err := exec.CommandContext(ctx, plugin, "trust", "promote", rollbackScope.String(), "--kubeconfig", env.Kubeconfig).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("promotion to approve confirmed"))
		Eventually(func() kubernautv1.TrustLevel { return scopeOf(ctx, rollbackScope).Level }).WithContext(ctx).WithTimeout(20 * time.Second).
			Should(Equal(kubernautv1.TrustApprove))
		out, err = exec.CommandContext(ctx, plugin, "trust", "--kubeconfig", env.Kubeconfig).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(MatchRegexp(`default/crashloop/rollback_deployment\s+approve`))

		// staging: the approval policy alone would run it; at approve a person must.
		e := newEstate(ctx, "trust-approve-", "staging")
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "pay")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.ApprovalMode).To(Equal(kubernautv1.ApprovalAuto), "the approval policy's own decision")
		Expect(got.Status.Trust.Mode).To(Equal(kubernautv1.ApprovalManual))
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Expect(imageOf(ctx, e, "pay")).To(Equal("shop/pay:1.0"))

		// One verified remediation (--trust-verified=1) earns automate: proposed, confirmed.
		Eventually(func() *kubernautv1.TrustProposal { return scopeOf(ctx, rollbackScope).Proposal }).WithContext(ctx).WithTimeout(20 * time.Second).
			Should(HaveField("Level", kubernautv1.TrustAutomate))
		out, err = exec.CommandContext(ctx, plugin, "trust", "promote", rollbackScope.String(), "--kubeconfig", env.Kubeconfig).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Eventually(func() kubernautv1.TrustLevel { return scopeOf(ctx, rollbackScope).Level }).WithContext(ctx).WithTimeout(20 * time.Second).
			Should(Equal(kubernautv1.TrustAutomate))
	})

	It("demotes the scope at once when an automatic remediation fails its verification and is undone", func(ctx SpecContext) {
		e := newEstate(ctx, "trust-demote-", "staging")
		pods := must(e.BrokenPreviousRevision(ctx, "web"))
		rr := c.fire(ctx, must(e.CrashLooping(ctx, &pods[0], "critical", "Error", 1)))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseFailed)
		Expect(got.Status.Trust.Mode).To(Equal(kubernautv1.ApprovalAuto), "at automate the approval policy approved it")
		Expect(got.Status.Message).To(ContainSubstring("undone"))
		Eventually(func() kubernautv1.TrustLevel { return scopeOf(ctx, rollbackScope).Level }).WithContext(ctx).WithTimeout(20 * time.Second).
			Should(Equal(kubernautv1.TrustApprove))
		s := scopeOf(ctx, rollbackScope)
		Expect(s.Reason).To(ContainSubstring("demoted from automate: remediation " + rr + " undone"))
		Expect(s.Proposal).To(BeNil(), "no promotion proposed on the evidence from before the demotion")
	})

	It("never lifts production above its ceiling, whatever the evidence", func(ctx SpecContext) {
		prod := kubernautv1.TrustScope{NamespaceGroup: "production", SignalType: "crashloop", Action: kubernautv1.ActionRollbackDeployment}
		e := newEstate(ctx, "trust-prod-", "production")
		rr := c.fire(ctx, must(e.CrashLoopAfterRollout(ctx, "pay")))[0]
		got := reaches(ctx, rr, kubernautv1.RemediationPhaseAwaitingApproval)
		Expect(got.Status.Trust).To(HaveField("Scope", prod))
		Expect(got.Status.Trust.Level).To(Equal(kubernautv1.TrustApprove), "production's floor and ceiling")
		approvePlan(ctx, rr)
		reaches(ctx, rr, kubernautv1.RemediationPhaseCompleted)
		Eventually(func() int32 { return scopeOf(ctx, prod).Evidence.Verified }).WithContext(ctx).WithTimeout(20 * time.Second).Should(BeEquivalentTo(1))
		Consistently(func() *kubernautv1.ScopeStatus { s := scopeOf(ctx, prod); return &s }).WithContext(ctx).WithTimeout(3*time.Second).
			Should(And(HaveField("Level", kubernautv1.TrustApprove), HaveField("Proposal", BeNil())),
				"one verified remediation earns automate elsewhere (--trust-verified=1); not above production's ceiling")
	})
})

// scopeOf reads a scope's status in the TrustPolicy (empty until it has one).
func scopeOf(ctx context.Context, s kubernautv1.TrustScope) kubernautv1.ScopeStatus {
	GinkgoHelper()
	p := &kubernautv1.TrustPolicy{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, p)).To(Succeed())
	if st := trust.Find(p, s); st != nil {
		return *st
	}
	return kubernautv1.ScopeStatus{}
}
