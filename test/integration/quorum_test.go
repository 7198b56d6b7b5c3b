package integration

import (
	"context"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

// optedIn creates a namespace that opted in to remediation: admission stamps who changes
// its workloads (manifests/base/admission-changes.yaml).
func optedIn(ctx SpecContext) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-", Labels: map[string]string{kubernautv1.OptInLabel: "true"}}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// deployment creates a one-container Deployment as client k.
func deployment(ctx SpecContext, k client.Client, ns, name string) *appsv1.Deployment {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}}}
	Expect(k.Create(ctx, d)).To(Succeed())
	return d
}

// setImage changes the Deployment's image as client k, the way kubectl set image does.
func setImage(ctx SpecContext, k client.Client, d *appsv1.Deployment, image string) error {
	got := &appsv1.Deployment{}
	if err := k.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
		return err
	}
	before := got.DeepCopy()
	got.Spec.Template.Spec.Containers[0].Image = image
	return k.Patch(ctx, got, client.MergeFrom(before), client.FieldOwner("kubectl-set"))
}

func approvedMessage(w *kubernautv1.WorkflowExecution) string {
	if c := apimeta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition); c != nil {
		return c.Message
	}
	return ""
}

var _ = Describe("Separation of duties and quorum (rego/approval.rego, manifests/base/admission-*.yaml)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) { installBaseRBAC(ctx) })

	It("counts distinct approvers up to the plan's quorum, never one who changed its target within the window, and records who they were", func(ctx SpecContext) {
		ns, prod := newNamespace(ctx), optedIn(ctx)
		// Kubernaut's controller runs with its own token: the admission rules that let it, and
		// only it, remove an approval it has counted are what is tested.
		ctrlRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "plans-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"remediationrequests", "aianalyses",
				"workflowexecutions", "workflowexecutions/status", "kubernetesexecutions"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"}}}}
		Expect(k8s.Create(ctx, ctrlRole)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, ctrlRole)).To(Succeed()) })
		grant(ctx, ns, controller, ctrlRole.Name)
		stop, err := cluster.RunManager(tokenConfig(ctx, "kubernaut-controller"), ctrl.Options{Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}},
			func(_ context.Context, mgr ctrl.Manager) error {
				set, err := templates.Embedded()
				if err != nil {
					return err
				}
				return (&workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set,
					Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 30 * time.Minute},
					Safety:  kubernautrego.NewSafety(mgr.GetAPIReader(), ns, "kubernaut-policies", nil),
					Engines: map[kubernautv1.EngineName]workflowexecution.Engine{kubernautv1.EngineBuiltin: &workflowexecution.Builtin{Client: mgr.GetClient(), Templates: set, Reader: mgr.GetAPIReader()}},
				}).SetupWithManager(mgr)
			})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(stop()).To(Succeed()) })

		editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "we-editor-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"workflowexecutions"}, Verbs: []string{"get", "patch"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "create", "patch", "update"}}}}
		Expect(k8s.Create(ctx, editor)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, editor)).To(Succeed()) })
		for _, user := range []string{"alice", "bob", "carol", "dave"} {
			grant(ctx, ns, user, editor.Name)
			grant(ctx, prod, user, editor.Name)
			grant(ctx, prod, user, "kubernaut-approver")
		}

		// carol ships a new image of the target: admission records it was her.
		w := gen.WorkflowExecution(ns, "rr-quorum-we", actingIn(prod), func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Quorum = &kubernautv1.Quorum{Approvers: 2, SeparationWindow: metav1.Duration{Duration: time.Hour}}
		})
		d := deployment(ctx, k8s, prod, w.Spec.Target.Name)
		Expect(setImage(ctx, as("carol"), d, "registry.example/app:2")).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(d.Annotations[kubernautv1.ChangedByAnnotation]).To(MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ carol\n`))
		// and cannot erase it.
		before := d.DeepCopy()
		d.Annotations[kubernautv1.ChangedByAnnotation] = "2020-01-01T00:00:00Z nobody"
		Expect(as("carol").Patch(ctx, d, client.MergeFrom(before))).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(d.Annotations[kubernautv1.ChangedByAnnotation]).To(Equal(before.Annotations[kubernautv1.ChangedByAnnotation]))

		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		hash := w.Status.Plan.Hash
		Expect(approvedMessage(w)).To(ContainSubstring("waiting for approval (2 distinct approvers who did not change its targets within 1h0m0s)"))

		// approveAs approves as user and waits until the controller has taken the approval
		// into account: counted (and the annotation removed for the next person) or not.
		approveAs := func(user string) *kubernautv1.WorkflowExecution {
			GinkgoHelper()
			Expect(decide(ctx, as(user), w, map[string]string{kubernautv1.ApproveAnnotation: hash})).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
				g.Expect(w.Annotations).NotTo(HaveKey(kubernautv1.ApproveAnnotation))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
			return w
		}
		users := func(w *kubernautv1.WorkflowExecution) []string {
			var out []string
			for _, a := range w.Status.Approval.Approvers {
				out = append(out, a.User)
			}
			return out
		}

		w = approveAs("alice")
		Expect(users(w)).To(Equal([]string{"alice"}))
		Expect(w.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		Expect(approvedMessage(w)).To(ContainSubstring("approved by user alice, 1 of 2 distinct people: waiting for another approval"))
		w = approveAs("alice")
		Expect(users(w)).To(Equal([]string{"alice"}), "alice counts once")
		w = approveAs("carol")
		Expect(users(w)).To(Equal([]string{"alice"}), "carol changed the target a moment ago")
		Expect(w.Status.Approval.Reasons).To(ContainElement(MatchRegexp(
			`^user carol changed Deployment/` + prod + `/` + d.Name + ` at .*, within the separation window of 1h0m0s: their approval does not count$`)))

		// alice, counted, then changes the target herself: she no longer counts once the
		// next approval is taken.
		Expect(setImage(ctx, as("alice"), d, "registry.example/app:3")).To(Succeed())
		w = approveAs("bob")
		Expect(users(w)).To(Equal([]string{"bob"}), "alice changed the target after approving")
		Expect(w.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))

		Expect(decide(ctx, as("dave"), w, map[string]string{kubernautv1.ApproveAnnotation: hash})).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(users(w)).To(Equal([]string{"bob", "dave"}))
		Expect(w.Status.Approval).To(And(HaveField("Decision", "Approved"), HaveField("PlanHash", hash), HaveField("DecidedBy", "user bob, user dave")))

		// Nobody but the controller removes an approval: not an approver, not the approver herself.
		for _, user := range []string{"bob", "dave"} {
			err := decide(ctx, as(user), w, map[string]string{kubernautv1.DecidedByAnnotation: ""})
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s: %v", user, err)
		}
	})

	It("refuses a person's resume of the gate of a plan that needs more than one approver", func(ctx SpecContext) {
		ns, prod := newNamespace(ctx), newNamespace(ctx)
		grant(ctx, prod, "alice", "kubernaut-approver")
		editor := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "wf-editor-"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"workflows"}, Verbs: []string{"get", "update"}}}}
		Expect(k8s.Create(ctx, editor)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8s.Delete(ctx, editor)).To(Succeed()) })
		grant(ctx, ns, "alice", editor.Name)
		for _, approvers := range []string{"2", "1"} {
			wf := &wfv1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rr-quorum-" + kubernautv1.WorkflowName(approvers), Labels: map[string]string{
				kubernautv1.LabelWorkflowExecution: "rr-quorum-" + kubernautv1.WorkflowName(approvers), kubernautv1.LabelTargetNamespace: prod,
				kubernautv1.LabelApprovers: approvers}},
				Spec: wfv1.WorkflowSpec{Entrypoint: "plan", Templates: []wfv1.Template{{Name: "plan", Suspend: &wfv1.SuspendTemplate{}}}}}
			Expect(k8s.Create(ctx, wf)).To(Succeed())
			argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeRunning, "")
			Expect(k8s.Update(ctx, wf)).To(Succeed())
			err := resumeAs(ctx, as("alice"), ns, wf.Name, nil, nil)
			if approvers == "1" {
				Expect(err).NotTo(HaveOccurred())
				continue
			}
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring("this plan needs 2 distinct approvers (kubernaut.io/approvers), which one resume of its gate cannot give: " +
				"each approves it with kubectl annotate workflowexecution rr-quorum-2-we -n " + ns + " kubernaut.io/approve=<plan hash>"))
		}
	})
})
