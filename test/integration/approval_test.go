package integration

import (
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

// as is a client that acts as user (the API server authenticates the admin and lets it
// impersonate).
func as(user string) client.Client {
	GinkgoHelper()
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	k, err := client.New(c, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return k
}

// grant binds a ClusterRole to a user in a namespace.
func grant(ctx SpecContext, ns, user, role string) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: user + "-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}})).To(Succeed())
}

// decide sets a decision annotation (and any others) as user, the way kubectl annotate does.
func decide(ctx SpecContext, k client.Client, w *kubernautv1.WorkflowExecution, annotations map[string]string) error {
	got := &kubernautv1.WorkflowExecution{}
	if err := k.Get(ctx, client.ObjectKeyFromObject(w), got); err != nil {
		return err
	}
	before := got.DeepCopy()
	if got.Annotations == nil {
		got.Annotations = map[string]string{}
	}
	for key, v := range annotations {
		got.Annotations[key] = v
	}
	return k.Patch(ctx, got, client.MergeFrom(before), client.FieldOwner("kubectl-annotate"))
}

// actingIn makes a plan whose target and step act in namespace ns.
func actingIn(ns string) func(*kubernautv1.WorkflowExecution) {
	return func(w *kubernautv1.WorkflowExecution) {
		w.Spec.Target.Namespace = ns
		for i := range w.Spec.Steps {
			w.Spec.Steps[i].Target.Namespace = ns
		}
	}
}

var _ = Describe("Approvals the API server vouches for (manifests/base/admission-approvals.yaml)", func() {
	It("takes an approval only from a user RBAC lets approve where the plan acts, and records who the API server says it was", func(ctx SpecContext) {
		ns, prod, other := newNamespace(ctx), newNamespace(ctx), newNamespace(ctx)
		startWorkflows(ns, builtinWorld{})
		w := gen.WorkflowExecution(ns, "rr-vouch-we", actingIn(prod))
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		hash := w.Status.Plan.Hash

		// mallory may edit WorkflowExecutions every way RBAC's verbs allow, but not approve.
		editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "we-editor-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"workflowexecutions"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}}}
		Expect(k8s.Create(ctx, editor)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, editor)).To(Succeed()) })
		for _, user := range []string{"mallory", "alice"} {
			grant(ctx, ns, user, editor.Name) // where the plans live
		}
		err := decide(ctx, as("mallory"), w, map[string]string{kubernautv1.ApproveAnnotation: hash})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("user mallory may not approve or reject this plan: it acts in namespace " + prod +
			", where that needs the verb approve on workflowexecutions.kubernaut.io"))
		err = decide(ctx, as("mallory"), w, map[string]string{kubernautv1.RejectAnnotation: "no"})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "rejecting is deciding too: %v", err)
		err = decide(ctx, as("mallory"), w, map[string]string{kubernautv1.ReleaseUndoAnnotation: "looked"})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "letting a deleted plan go without its undo is deciding too: %v", err)
		// Nor may mallory name someone else as the approver, with or without a decision.
		err = decide(ctx, as("mallory"), w, map[string]string{kubernautv1.DecidedByAnnotation: "alice"})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`mallory may not set it to "alice"`))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
		Expect(w.Annotations).NotTo(HaveKey(kubernautv1.ApproveAnnotation))

		// alice may approve in prod (the namespace the plan acts in, not where it lives); what
		// she writes as the approver is replaced by who she is.
		grant(ctx, prod, "alice", "kubernaut-approver")
		Expect(decide(ctx, as("alice"), w, map[string]string{kubernautv1.ApproveAnnotation: hash,
			kubernautv1.DecidedByAnnotation: "the-cto"})).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Annotations).To(HaveKeyWithValue(kubernautv1.DecidedByAnnotation, "alice"))
		Expect(w.Status.Approval).To(And(HaveField("Decision", "Approved"), HaveField("PlanHash", hash), HaveField("DecidedBy", "user alice")))

		// A plan acting in another namespace needs the verb there.
		o := gen.WorkflowExecution(ns, "rr-other-we", actingIn(other))
		Expect(k8s.Create(ctx, o)).To(Succeed())
		o = waitWE(ctx, o, kubernautv1.WorkflowAwaitingApproval)
		err = decide(ctx, as("alice"), o, map[string]string{kubernautv1.ApproveAnnotation: o.Status.Plan.Hash})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "alice approves in %s only: %v", prod, err)
		Expect(err.Error()).To(ContainSubstring("it acts in namespace " + other))
	})
})

// resumeAs passes the approval gate of a Workflow the way `argo resume` does, as client k, with
// more labels and annotations when given.
func resumeAs(ctx SpecContext, k client.Client, ns, name string, labels, annotations map[string]string) error {
	wf := &wfv1.Workflow{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf); err != nil {
		return err
	}
	argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeSucceeded, "")
	for key, v := range labels {
		wf.Labels[key] = v
	}
	if wf.Annotations == nil {
		wf.Annotations = map[string]string{}
	}
	for key, v := range annotations {
		wf.Annotations[key] = v
	}
	return k.Update(ctx, wf, client.FieldOwner("argo"))
}

var _ = Describe("`argo resume` the API server vouches for (manifests/base/admission-approvals.yaml)", func() {
	It("lets only a user RBAC lets approve where the plan acts pass the gate, and records who; the Argo server's actor labels only from the Argo server", func(ctx SpecContext) {
		ns, prod := newNamespace(ctx), newNamespace(ctx)
		startArgoEngine(ns)
		editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "wf-editor-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"},
				Verbs: []string{"get", "list", "watch", "update", "patch"}}}}
		Expect(k8s.Create(ctx, editor)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, editor)).To(Succeed()) })
		const argoServer = "system:serviceaccount:argo:argo-server"
		for _, user := range []string{"mallory", "alice", argoServer} {
			grant(ctx, ns, user, editor.Name)
		}
		gate := func(name string) {
			GinkgoHelper()
			w := gen.WorkflowExecution(ns, name, actingIn(prod))
			Expect(k8s.Create(ctx, w)).To(Succeed())
			waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
			workflow(ctx, ns, name)
			reachGate(ctx, ns, name)
		}

		gate("rr-resume-we")
		err := resumeAs(ctx, as("mallory"), ns, "rr-resume-we", nil, nil)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("user mallory may not resume the approval gate of this plan: it acts in namespace " + prod))
		grant(ctx, prod, "alice", "kubernaut-approver")
		err = resumeAs(ctx, as("alice"), ns, "rr-resume-we", nil, map[string]string{kubernautv1.ResumedByAnnotation: "the-cto"})
		Expect(err).NotTo(HaveOccurred())
		w := waitWE(ctx, gen.WorkflowExecution(ns, "rr-resume-we"), kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval.DecidedBy).To(Equal("argo resume by user alice"), "the API server's name, not the one alice wrote")

		// Through the Argo server, its SSO actor labels name the person; from anyone else they are not believed.
		grant(ctx, prod, argoServer, "kubernaut-approver")
		gate("rr-ui-we")
		Expect(resumeAs(ctx, as(argoServer), ns, "rr-ui-we", map[string]string{"workflows.argoproj.io/actor-preferred-username": "bob"}, nil)).To(Succeed())
		w = waitWE(ctx, gen.WorkflowExecution(ns, "rr-ui-we"), kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval.DecidedBy).To(Equal("argo resume by bob (through the Argo server)"))
		gate("rr-forged-we")
		Expect(resumeAs(ctx, as("alice"), ns, "rr-forged-we", map[string]string{"workflows.argoproj.io/actor-preferred-username": "bob"}, nil)).To(Succeed())
		w = waitWE(ctx, gen.WorkflowExecution(ns, "rr-forged-we"), kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval.DecidedBy).To(Equal("argo resume by user alice"), "alice's actor label is not believed")
	})
})

var _ = Describe("Plans and steps from Kubernaut only (manifests/base/admission-approvals.yaml)", func() {
	It("refuses a WorkflowExecution, a KubernetesExecution or a plan's Workflow from a user with every RBAC verb on them, and a change of a plan's spec", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		all := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubernaut-admin-"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"kubernaut.io"}, Resources: []string{"remediationrequests", "aianalyses", "workflowexecutions", "kubernetesexecutions",
					"remediationrequests/status", "aianalyses/status", "workflowexecutions/status", "kubernetesexecutions/status"}, Verbs: []string{"*"}},
				{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows", "workflowtemplates"}, Verbs: []string{"*"}}}}
		Expect(k8s.Create(ctx, all)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, all)).To(Succeed()) })
		const controller = "system:serviceaccount:kubernaut-system:kubernaut-controller"
		for _, user := range []string{"mallory", controller} {
			grant(ctx, ns, user, all.Name)
		}
		mallory := as("mallory")
		forbidden := func(err error, want string) {
			GinkgoHelper()
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(want))
		}
		auto := gen.WorkflowExecution(ns, "rr-handmade-we", func(w *kubernautv1.WorkflowExecution) { w.Spec.ApprovalMode = kubernautv1.ApprovalAuto })
		forbidden(mallory.Create(ctx, auto.DeepCopy()), "only Kubernaut creates workflowexecutions or changes their spec: user mallory may not")
		forbidden(mallory.Create(ctx, gen.KubernetesExecution(ns, "rr-handmade-step")), "only Kubernaut creates kubernetesexecutions")
		forbidden(mallory.Create(ctx, gen.AIAnalysis(ns, "rr-handmade-aia")), "only Kubernaut creates aianalyses")
		forbidden(mallory.Create(ctx, gen.RemediationRequest(ns, "rr-handmade")), "only Kubernaut creates remediationrequests")
		wf := &wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rr-handmade-we",
			Labels: map[string]string{kubernautv1.LabelWorkflowExecution: "rr-handmade-we"}},
			Spec: wfv1.WorkflowSpec{Entrypoint: "main", Templates: []wfv1.Template{{Name: "main", Suspend: &wfv1.SuspendTemplate{}}}}}
		forbidden(mallory.Create(ctx, wf), "only Kubernaut creates workflows labelled kubernaut.io/workflow-execution")

		// Kubernaut's controller may; once it exists, mallory may annotate it, not change its plan.
		Expect(as(controller).Create(ctx, auto)).To(Succeed())
		Expect(decide(ctx, mallory, auto, map[string]string{"example.com/note": "looked at it"})).To(Succeed())
		got := &kubernautv1.WorkflowExecution{}
		Expect(mallory.Get(ctx, client.ObjectKeyFromObject(auto), got)).To(Succeed())
		got.Spec.Steps[0].Target.Name = "something-else"
		err := mallory.Update(ctx, got)
		Expect(err).To(HaveOccurred(), "the plan's spec does not change")
		Expect(err.Error()).To(ContainSubstring("spec is immutable"))
		// Nor may mallory write its status: a plan's approval and a step's result are
		// Kubernaut's record, which the controllers act on.
		Expect(mallory.Get(ctx, client.ObjectKeyFromObject(auto), got)).To(Succeed())
		before := got.DeepCopy()
		now := metav1.Now()
		got.Status.Approval = &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Approved", DecidedBy: "user the-cto", DecidedAt: &now}
		forbidden(mallory.Status().Patch(ctx, got, client.MergeFrom(before)), "only Kubernaut writes the status of workflowexecutions: user mallory may not")
		Expect(as(controller).Status().Patch(ctx, got, client.MergeFrom(before))).To(Succeed(), "the controller does")
		Expect(mallory.Delete(ctx, got)).To(Succeed(), "deleting stays RBAC's to decide")
	})

	It("refuses a trust level written by anyone but Kubernaut, even with every RBAC verb on TrustPolicies", func(ctx SpecContext) {
		all := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubernaut-trust-admin-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"trustpolicies", "trustpolicies/status"}, Verbs: []string{"*"}}}}
		Expect(k8s.Create(ctx, all)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, all)).To(Succeed()) })
		const controller = "system:serviceaccount:kubernaut-system:kubernaut-controller"
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "kubernaut-trust-admin-"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: all.Name},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "mallory"}, {Kind: "User", Name: controller}}}
		Expect(k8s.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, binding)).To(Succeed()) })
		// Not the one named default: no controller of this suite reads this one.
		tp := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-trust-"}, Spec: kubernautv1.TrustPolicySpec{InitialLevel: kubernautv1.TrustObserve}}
		Eventually(func() error { return as("mallory").Create(ctx, tp) }).WithContext(ctx).Should(Succeed(), "the spec is the operators': RBAC decides")
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, tp)).To(Succeed()) })
		before := tp.DeepCopy()
		scope := kubernautv1.TrustScope{NamespaceGroup: "default", SignalType: "crashloop", Action: kubernautv1.ActionRollbackDeployment}
		tp.Status.Scopes = []kubernautv1.ScopeStatus{{TrustScope: scope, Level: kubernautv1.TrustAutomate, Since: metav1.Now(), Reason: "trust me",
			Floor: kubernautv1.TrustObserve, Ceiling: kubernautv1.TrustAutomate}}
		err := as("mallory").Status().Patch(ctx, tp, client.MergeFrom(before))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("only Kubernaut writes the status of trustpolicies: user mallory may not"))
		Expect(as(controller).Status().Patch(ctx, tp, client.MergeFrom(before))).To(Succeed(), "the controller does")
	})
})
