package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	"github.com/kubernaut/kubernaut/test/gen"
)

var _ = Describe("A plan whose undo fails, on the full control plane", func() {
	BeforeEach(func(ctx SpecContext) {
		startControllers(ctx)
		DeferCleanup(healthy)
	})

	It("ends Failed with CompensationFailed, says a person must look, and leaves the refused undo's reason on its step", func(ctx SpecContext) {
		ns := newNamespace(ctx, "wf-undo-fails-")
		available(ctx, deployment(ns, "web", 2))
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		we := gen.WorkflowExecution(ns, "rr-undo-fails-we", func(w *kubernautv1.WorkflowExecution) {
			w.Spec.Target = target("Deployment", ns, "web")
			w.Spec.Steps = []kubernautv1.PlanStep{configStep("pool", ns, map[string]string{"POOL": "20"}), scaleStep("scale", ns, "web", 4, "pool")}
		})
		Expect(k8s.Create(ctx, we)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(we), we)).To(Succeed())
			g.Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval), "%v", we.Status.Conditions)
		}).WithContext(ctx).Should(Succeed())

		// While the plan waits, the world changes twice: an HPA takes over the replicas (the scale
		// step, checked again before it runs, fails), and the cluster's admission policy now
		// refuses a pool of 10 — the value the undo of the first step must restore.
		Expect(k8s.Create(ctx, hpaOf(ns, "web", 2, 5))).To(Succeed())
		refusePool(ctx, ns, "10")
		before := we.DeepCopy()
		we.Annotations = map[string]string{workflowexecution.ApproveAnnotation: we.Status.Plan.Hash}
		Expect(k8s.Patch(ctx, we, client.MergeFrom(before))).To(Succeed())
		we = waitEnd(ctx, we)

		Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowFailed))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", kubernautv1.ReasonCompensationFailed),
			HaveField("Message", ContainSubstring("an undo failed, a person must look"))))
		Expect(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition).Message).To(And(
			ContainSubstring("owns the replicas"), ContainSubstring("a person must look")))
		var undo kubernautv1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-undo-fails-we-undo-pool"}, &undo)).To(Succeed())
		Expect(undo.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(condition(&undo, kubernautv1.ValidatedCondition)).To(And(HaveField("Reason", kubernautv1.ReasonDryRunFailed),
			HaveField("Message", ContainSubstring("pool 10 is refused here"))))
		get(ctx, cm)
		Expect(cm.Data).To(Equal(map[string]string{"POOL": "20"}), "the first step's change stays: its undo was refused")
	})
})

// refusePool makes the API server's admission refuse, in namespace ns, every update of a
// ConfigMap that leaves POOL at value (a ValidatingAdmissionPolicy and its binding, removed
// when the spec ends), and waits until it does.
func refusePool(ctx SpecContext, ns, value string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "refuse-pool-" + ns},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "!has(object.data) || !('POOL' in object.data) || object.data.POOL != '" + value + "'",
				Message:    "pool " + value + " is refused here"}},
		}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}}}
	Expect(k8s.Create(ctx, policy)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, binding))).To(Succeed())
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, policy))).To(Succeed())
	})
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	// The policy is in force once a server-side dry run that keeps POOL at value is refused.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe-pool"}, Data: map[string]string{"POOL": value}}
	Expect(k8s.Create(ctx, probe)).To(Succeed())
	Eventually(func() error {
		p := probe.DeepCopy()
		p.Labels = map[string]string{"probe": "yes"}
		err := k8s.Update(ctx, p, client.DryRunAll)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return nil
		}
		return fmt.Errorf("the admission policy does not refuse pool %s yet (answer: %v)", value, err)
	}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
}
