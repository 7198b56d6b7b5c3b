package integration

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/test/gen"
)

const customPolicy = `package kubernaut.classification

result := {
	"environment": "staging",
	"severity": input.signal.severity,
	"priority": "P2",
	"signalType": "custom-REPLACE",
	"businessCriticality": "low",
	"reasons": ["operator policy"],
}
`

var _ = Describe("The classification policy override", func() {
	It("uses the ConfigMap's policy, re-reads it when it changes, and refuses a broken one", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		reader, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		c := remediationprocessing.NewClassifier(reader, ns, "kubernaut-policies")
		rp := gen.RemediationProcessing(ns, "rp")

		got, version, err := c.Classify(ctx, rp, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(version).To(Equal("embedded"))
		Expect(got.SignalType).To(Equal("crashloop"))

		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-policies"},
			Data:       map[string]string{"classification.rego": strings.Replace(customPolicy, "REPLACE", "one", 1)},
		}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		got, version, err = c.Classify(ctx, rp, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(version).To(HavePrefix("configmap " + ns + "/kubernaut-policies@"))
		Expect(got).To(HaveField("SignalType", "custom-one"))
		Expect(got.Environment).To(Equal(kubernautv1.EnvironmentStaging))

		cm.Data["classification.rego"] = strings.Replace(customPolicy, "REPLACE", "two", 1)
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		got, _, err = c.Classify(ctx, rp, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.SignalType).To(Equal("custom-two"), "the changed ConfigMap is used without a restart")

		cm.Data["classification.rego"] = "package kubernaut.classification\nresult := {"
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		_, _, err = c.Classify(ctx, rp, nil)
		Expect(err).To(MatchError(ContainSubstring("compiling policy classification.rego (configmap " + ns + "/kubernaut-policies@")))

		cm.Data["classification.rego"] = strings.Replace(strings.Replace(customPolicy, "REPLACE", "x", 1), `"P2"`, `"P9"`, 1)
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		_, _, err = c.Classify(ctx, rp, nil)
		Expect(err).To(MatchError(ContainSubstring(`answered an invalid classification: priority "P9"`)))
	})
})
