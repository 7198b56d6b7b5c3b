package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/gen"
)

// fakeAlertmanager answers GET /api/v2/alerts with Alertmanager's GettableAlert shape: the
// alert while it fires, nothing once it resolved.
type fakeAlertmanager struct {
	firing  atomic.Bool
	mu      sync.Mutex
	queries []string
}

func (f *fakeAlertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/api/v2/alerts" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	f.mu.Unlock()
	alerts := []map[string]any{}
	if f.firing.Load() {
		alerts = append(alerts, map[string]any{
			"fingerprint": gen.Fingerprint, "labels": map[string]string{"alertname": "KubePodCrashLooping"},
			"annotations": map[string]string{}, "receivers": []map[string]string{{"name": "kubernaut"}},
			"startsAt": "2026-12-01T07:00:00Z", "endsAt": "2026-12-01T09:00:00Z", "updatedAt": "2026-12-01T07:00:00Z",
			"status": map[string]any{"state": "active", "silencedBy": []string{}, "inhibitedBy": []string{}},
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(alerts)
}

var _ = Describe("Verification with Alertmanager", func() {
	It("holds the last step's verification until its alert resolves in Alertmanager", func(ctx SpecContext) {
		am := &fakeAlertmanager{}
		am.firing.Store(true)
		srv := httptest.NewServer(am)
		DeferCleanup(srv.Close)
		runManager(func(runCtx context.Context, mgr ctrl.Manager) error {
			e := actions.Env{Client: k8s, Kube: clientset, Log: GinkgoLogr}
			r := &kubernetesexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Env: e,
				Safety:    kubernautrego.NewSafety(mgr.GetAPIReader(), "kubernaut-system", "kubernaut-policies", nil),
				Executors: map[kubernautv1.ExecutorName]kubernetesexecution.Executor{kubernautv1.ExecutorInProcess: kubernetesexecution.InProcess{}},
				Alerts:    &kubernetesexecution.Alertmanager{URL: srv.URL}, VerifyInterval: 200 * time.Millisecond}
			Expect(r.SetupWithManager(mgr)).To(Succeed())
			return nil
		})

		ns := newNamespace(ctx, "am-")
		Expect(k8s.Create(ctx, gen.RemediationRequest(ns, "rr-am"))).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"POOL": "10"}})).To(Succeed())
		ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rr-am-config", Labels: map[string]string{kubernautv1.LabelRemediation: "rr-am"}},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, StepName: "config", TimeoutSeconds: 120,
				ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionUpdateConfig, Target: target("ConfigMap", ns, "settings"),
					Parameters: &kubernautv1.ActionParameters{UpdateConfig: &kubernautv1.UpdateConfigParameters{Data: map[string]string{"POOL": "20"}}}}}}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(condition(ke, kubernautv1.VerifiedCondition)).To(And(HaveField("Status", metav1.ConditionUnknown),
				HaveField("Message", ContainSubstring("waiting for alert KubePodCrashLooping (fingerprint "+gen.Fingerprint+") to resolve in Alertmanager"))))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionVerifying))
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())

		am.firing.Store(false)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), ke)).To(Succeed())
			g.Expect(ke.Status.Phase).To(Equal(kubernautv1.ExecutionSucceeded))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(ke.Status.Verification.Message).To(ContainSubstring("alert KubePodCrashLooping is resolved in Alertmanager"))
		am.mu.Lock()
		defer am.mu.Unlock()
		Expect(am.queries[0]).To(ContainSubstring("filter=alertname%3D%22KubePodCrashLooping%22"))
	})
})
