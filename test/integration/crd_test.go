package integration

import (
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/test/cluster"
)

// kubectl runs the kubectl built into bin/cluster against the test API server.
func kubectl(ctx SpecContext, args ...string) string {
	GinkgoHelper()
	binDir, err := cluster.FindBinDir()
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "kubectl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

var _ = Describe("The CRDs", func() {
	type crdCase struct {
		shortName string
		columns   []string
	}

	DescribeTable("carry the category, short name, status subresource and printer columns",
		func(ctx SpecContext, name string, want crdCase) {
			var crd apiextensionsv1.CustomResourceDefinition
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, &crd)).To(Succeed())
			Expect(crd.Spec.Names.Categories).To(ConsistOf("kubernaut"))
			Expect(crd.Spec.Names.ShortNames).To(ConsistOf(want.shortName))
			Expect(crd.Spec.Versions).To(HaveLen(1))
			v := crd.Spec.Versions[0]
			Expect(v.Subresources).NotTo(BeNil())
			Expect(v.Subresources.Status).NotTo(BeNil())
			var columns []string
			for _, c := range v.AdditionalPrinterColumns {
				columns = append(columns, c.Name)
			}
			Expect(columns).To(ContainElements(want.columns))
		},
		Entry(nil, "remediationrequests.kubernaut.io", crdCase{"rr", []string{"Alert", "Kind", "Target", "Phase", "Approval", "Age"}}),
		Entry(nil, "remediationprocessings.kubernaut.io", crdCase{"rp", []string{"Alert", "Target", "Phase", "Environment", "Priority", "Age"}}),
		Entry(nil, "aianalyses.kubernaut.io", crdCase{"aia", []string{"Alert", "Phase", "Analyzer", "Confidence", "Approval", "Age"}}),
		Entry(nil, "workflowexecutions.kubernaut.io", crdCase{"we", []string{"Alert", "Target", "Phase", "Approval", "Decision", "Age"}}),
		Entry(nil, "kubernetesexecutions.kubernaut.io", crdCase{"ke", []string{"Action", "Kind", "Target", "Phase", "Age"}}),
	)

	It("lets `kubectl get kubernaut` list the samples of every kind with their columns", func(ctx SpecContext) {
		err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubernaut-system"}})
		if err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue(), "creating namespace kubernaut-system: %v", err)
		}
		kubectl(ctx, "apply", "-k", filepath.Join(root, "manifests", "samples"))

		out := kubectl(ctx, "get", "kubernaut", "-n", "kubernaut-system")
		for _, kind := range []string{
			"remediationrequest.kubernaut.io/rr-5f8a3c2e9b1d4a07",
			"remediationprocessing.kubernaut.io/rr-5f8a3c2e9b1d4a07-rp",
			"aianalysis.kubernaut.io/rr-5f8a3c2e9b1d4a07-aia",
			"workflowexecution.kubernaut.io/rr-5f8a3c2e9b1d4a07-we",
			"kubernetesexecution.kubernaut.io/rr-5f8a3c2e9b1d4a07-we-rollback",
		} {
			Expect(out).To(ContainSubstring(kind))
		}
		Expect(out).To(ContainSubstring("KubePodCrashLooping"))
		Expect(out).To(ContainSubstring("rollback_deployment"))

		for _, short := range []string{"rr", "rp", "aia", "we", "ke"} {
			Expect(kubectl(ctx, "get", short, "-n", "kubernaut-system", "-o", "name")).NotTo(BeEmpty())
		}
		Expect(kubectl(ctx, "explain", "remediationrequest.spec.signal.fingerprint")).
			To(ContainSubstring("Alertmanager's fingerprint of the alert's label set"))
	})
})
