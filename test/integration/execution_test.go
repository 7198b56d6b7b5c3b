package integration

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions-image/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
)

// startExecutions runs the KubernetesExecution controller (in-process executor, the safety
// policy overridable by the namespace's kubernaut-policies) for one namespace.
func startExecutions(ns string) {
	GinkgoHelper()
	runManager(ns, func(_ context.Context, mgr ctrl.Manager) error {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
			Env:       actions.Env{Client: k8s, Kube: cs, Log: GinkgoLogr},
			Safety:    kubernautrego.NewSafety(mgr.GetAPIReader(), ns, "kubernaut-policies", nil),
			Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}}}
		return r.SetupWithManager(mgr)
	})
}

var _ = Describe("The KubernetesExecution controller", func() {
	It("rejects a step whose safety policy override cannot be evaluated as PolicyError, before anything changes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startExecutions(ns)
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data: map[string]string{"safety.rego": "package kubernaut.safety\n\ndeny contains msg if {"}})).To(Succeed())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, ActionStep: kubernautv1.ActionStep{
				Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
				Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}}}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(meta.FindStatusCondition(ke.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(
			HaveField("Reason", kubernautv1.ReasonPolicyError), HaveField("Message", ContainSubstring("the safety policy failed: compiling policy safety.rego"))))
		Expect(ke.Status.PreState).To(BeNil())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["POOL"]).To(Equal("10"))
	})

	It("checks an undo against the safety policy too: a step whose namespace became protected is not changed back", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startExecutions(ns)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		change := kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: kubernautv1.Target{Kind: "ConfigMap", Namespace: ns, Name: "settings"},
			Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}
		ended := func(ke *kubernautv1.KubernetesExecution) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
				g.Expect(ke.Status.Phase).To(BeElementOf(kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected))
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		}
		step := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, ActionStep: change}}
		Expect(k8s.Create(ctx, step)).To(Succeed())
		ended(step)
		Expect(step.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded), "%v", step.Status.Conditions)

		// The operator protects the namespace after the step ran.
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data: map[string]string{kubernautrego.SafetyConfigKey: "protectedNamespaces: [" + ns + "]\n"}})).To(Succeed())
		undo := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "undo-step"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeCompensate, ActionStep: change,
				Compensates: &kubernautv1.LocalReference{Name: "step"}}}
		Expect(k8s.Create(ctx, undo)).To(Succeed())
		ended(undo)
		Expect(undo.Status.Phase).To(Equal(kubernautv1.ExecutionRejected))
		Expect(meta.FindStatusCondition(undo.Status.Conditions, kubernautv1.ValidatedCondition)).To(And(
			HaveField("Reason", kubernautv1.ReasonPolicyDenied),
			HaveField("Message", "the safety policy refused the undo of step step: namespace "+ns+" is protected: Kubernaut never changes it")))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["POOL"]).To(Equal("20"), "left as the step made it")
	})
})
