package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// faults is an admission webhook, served on loopback, that answers the first writes of the
// objects labelled kubernaut.io/faulty=true in one namespace with the API server's transient
// failures — as an API server restarting, throttling, or racing another writer does — and
// lets the rest through, counting them. Dry runs pass: the failures are the real write's.
type faults struct {
	mu       sync.Mutex
	answers  []metav1.Status
	refused  int
	admitted int
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	if review.Request.DryRun == nil || !*review.Request.DryRun {
		f.mu.Lock()
		if f.refused < len(f.answers) {
			resp.Allowed, resp.Result = false, &f.answers[f.refused]
			f.refused++
		} else {
			f.admitted++
		}
		f.mu.Unlock()
	}
	review.Response, review.Request = resp, nil
	_ = json.NewEncoder(w).Encode(review)
}

func (f *faults) counts() (refused, admitted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, f.admitted
}

// injectFaults serves f for the writes of ns's objects labelled kubernaut.io/faulty=true.
func injectFaults(ctx SpecContext, ns string, f *faults) {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernaut-faults"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	srv := httptest.NewUnstartedServer(f)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	DeferCleanup(srv.Close)
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "kubernaut-faults-"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "faults.kubernaut.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/"), CABundle: caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"kubernaut.io/faulty": "true"}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			TimeoutSeconds:          ptr.To(int32(5)),
		}},
	}
	Expect(k8s.Create(ctx, cfg)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, cfg))).To(Succeed()) })
}

var _ = Describe("Transient API failures within a step (docs/execution.md, \"Transient failures\")", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	for _, engine := range []kubernautv1.EngineName{kubernautv1.EngineArgo, kubernautv1.EngineBuiltin} {
		It("makes the change once when the API server answers 500, 429 and a conflict to its first writes ("+string(engine)+" engine)", func(ctx SpecContext) {
			w := startArgoWorld(ctx, "faults-", "4")
			f := &faults{answers: []metav1.Status{
				{Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError, Message: "injected: etcd leader changed"},
				{Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests, Message: "injected: slow down",
					Details: &metav1.StatusDetails{RetryAfterSeconds: 1}},
				{Code: http.StatusConflict, Reason: metav1.StatusReasonConflict, Message: "injected: the object has been modified"},
			}}
			injectFaults(ctx, w.ns, f)
			Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings", Labels: map[string]string{"kubernaut.io/faulty": "true"}},
				Data: map[string]string{"POOL": "10"}})).To(Succeed())
			we := waitEnd(ctx, runPlan(ctx, w.ns, "rr-faults-we", engine, kubernautv1.ApprovalAuto, target("ConfigMap", w.ns, "settings"),
				configStep("pool", w.ns, map[string]string{"POOL": "20"})))
			Expect(we.Status.Phase).To(Equal(kubernautv1.WorkflowCompleted), "%v", we.Status.Conditions)
			Expect(we.Status.Compensation).To(BeEmpty(), "a transient failure does not undo a good step")
			refused, admitted := f.counts()
			Expect(refused).To(Equal(3))
			Expect(admitted).To(Equal(1), "one change on the world")
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "settings"}}
			get(ctx, cm)
			Expect(cm.Data).To(Equal(map[string]string{"POOL": "20"}))
		})
	}
})
