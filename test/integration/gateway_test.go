package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
)

const gatewayToken = "integration-token"

// runningGateway is a gateway serving on a loopback port for one test.
type runningGateway struct {
	url string
	gw  *gateway.Gateway
}

// startGateway runs a gateway against cfg that writes RemediationRequests into namespace and
// accepts the bearer token gatewayToken.
func startGateway(ctx SpecContext, restCfg *rest.Config, namespace string, tune func(*gateway.RecorderConfig)) *runningGateway {
	GinkgoHelper()
	tokens := filepath.Join(GinkgoT().TempDir(), "tokens")
	Expect(os.WriteFile(tokens, []byte(gatewayToken+"\n"), 0o600)).To(Succeed())
	tf, err := gateway.NewTokenFile(tokens)
	Expect(err).NotTo(HaveOccurred())
	return startGatewayWith(ctx, restCfg, namespace, tf, tune)
}

// startGatewayWith runs a gateway with the given authenticator.
func startGatewayWith(ctx SpecContext, restCfg *rest.Config, namespace string, auth gateway.Authenticator, tune func(*gateway.RecorderConfig)) *runningGateway {
	GinkgoHelper()
	return startGatewayOpts(ctx, restCfg, namespace, auth, tune, nil)
}

// startGatewayOpts runs a gateway with the given authenticator and event reasons.
func startGatewayOpts(ctx SpecContext, restCfg *rest.Config, namespace string, auth gateway.Authenticator, tune func(*gateway.RecorderConfig), events map[string]kubernautv1.Severity) *runningGateway {
	GinkgoHelper()
	rc := gateway.RecorderConfig{
		Namespace: namespace, DedupWindow: 5 * time.Minute, StormThreshold: 0, StormWindow: time.Minute,
		FlushInterval: 100 * time.Millisecond, MaxStormMembers: 500,
	}
	if tune != nil {
		tune(&rc)
	}
	srvCfg := gateway.DefaultConfig()
	srvCfg.RatePerSecond = 0
	srvCfg.RetryAfter = time.Second
	runCtx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(runCtx, restCfg, cluster.Scheme(), gateway.Options{Server: srvCfg, Recorder: rc, Auth: auth, EventReasons: events, Log: logr.Discard()})
	Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() { done <- gw.Run(runCtx, ln) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	})
	rg := &runningGateway{url: "http://" + ln.Addr().String(), gw: gw}
	Eventually(func() int {
		resp, err := http.Get(rg.url + "/readyz")
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
	return rg
}

// alert is one alert of a payload.
type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

func firing(labels map[string]string, startsAt time.Time) alert {
	return alert{Status: "firing", Labels: labels, Annotations: map[string]string{"summary": "it hurts"}, StartsAt: startsAt,
		Fingerprint: gateway.Fingerprint(labels)}
}

// payload is an Alertmanager v4 webhook body.
func payload(alerts ...alert) []byte {
	GinkgoHelper()
	body, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}:{alertname="X"}`, "status": "firing", "receiver": "kubernaut",
		"groupLabels": map[string]string{}, "commonLabels": map[string]string{}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": alerts,
	})
	Expect(err).NotTo(HaveOccurred())
	return body
}

// deliver posts a payload as Alertmanager does and returns the status code.
func (g *runningGateway) deliver(body []byte) int { return g.deliverWith(gatewayToken, body) }

// deliverWith posts a payload with the given bearer token.
func (g *runningGateway) deliverWith(token string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, g.url+gateway.AlertmanagerPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func listRRs(ctx context.Context, ns string) []kubernautv1.RemediationRequest {
	GinkgoHelper()
	var list kubernautv1.RemediationRequestList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// rrsAbout lists the RemediationRequests in ns whose target is in targetNS (the event source
// watches every namespace: other tests' events land in every gateway's namespace too).
func rrsAbout(ctx context.Context, ns, targetNS string) []kubernautv1.RemediationRequest {
	GinkgoHelper()
	var out []kubernautv1.RemediationRequest
	for _, rr := range listRRs(ctx, ns) {
		if rr.Spec.Target.Namespace == targetNS {
			out = append(out, rr)
		}
	}
	return out
}

func podLabels(pod string) map[string]string {
	return map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod, "severity": "critical"}
}

var _ = Describe("The gateway against a real API server", func() {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	It("turns 100 concurrent deliveries of one alert into exactly one RemediationRequest with the right count", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, nil)
		body := payload(firing(podLabels("checkout-1"), start))

		var wg sync.WaitGroup
		codes := make(chan int, 100)
		for range 100 {
			wg.Go(func() { codes <- g.deliver(body) })
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			Expect(code).To(Equal(http.StatusOK))
		}
		Eventually(func(gm Gomega) {
			rrs := listRRs(ctx, ns)
			gm.Expect(rrs).To(HaveLen(1))
			gm.Expect(rrs[0].Spec.Deduplication.Count).To(Equal(int64(100)))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())

		rr := listRRs(ctx, ns)[0]
		fp := gateway.Fingerprint(podLabels("checkout-1"))
		Expect(rr.Name).To(Equal(gateway.RRName(fp, start)))
		Expect(rr.Labels).To(HaveKeyWithValue(kubernautv1.LabelFingerprint, fp))
		Expect(rr.Spec.Target).To(Equal(kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "checkout-1"}))
		Expect(rr.Spec.Signal.Severity).To(Equal(kubernautv1.SeverityCritical))
		Expect(rr.Spec.Signal.StartsAt.Time).To(BeTemporally("==", start))
		Expect(rr.Spec.Signal.ExternalURL).To(Equal("http://alertmanager:9093"))
	})

	It("creates one RemediationRequest when two gateway replicas receive the same notifications (an HA Alertmanager pair)", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		a, b := startGateway(ctx, cfg, ns, nil), startGateway(ctx, cfg, ns, nil)
		body := payload(firing(podLabels("checkout-ha"), start))
		var wg sync.WaitGroup
		codes := make(chan int, 40)
		for i := range 40 {
			g := a
			if i%2 == 1 {
				g = b
			}
			wg.Go(func() { codes <- g.deliver(body) })
		}
		wg.Wait()
		close(codes)
		for code := range codes {
			Expect(code).To(Equal(http.StatusOK))
		}
		Eventually(func(gm Gomega) {
			rrs := listRRs(ctx, ns)
			gm.Expect(rrs).To(HaveLen(1))
			gm.Expect(rrs[0].Spec.Deduplication.Count).To(Equal(int64(40)))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
	})

	It("counts a re-fire of a running remediation on it, and starts anew once it finished and the window passed", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, func(rc *gateway.RecorderConfig) { rc.DedupWindow = time.Minute })
		labels := podLabels("checkout-2")
		Expect(g.deliver(payload(firing(labels, start)))).To(Equal(http.StatusOK))
		first := gateway.RRName(gateway.Fingerprint(labels), start)
		Eventually(func() []kubernautv1.RemediationRequest { return listRRs(ctx, ns) }).WithContext(ctx).Should(HaveLen(1))

		// The alert resolved and fired again (a new startsAt) while the remediation runs.
		Eventually(func() int { return g.deliver(payload(firing(labels, start.Add(10*time.Minute)))) }).Should(Equal(http.StatusOK))
		Eventually(func(gm Gomega) {
			rrs := listRRs(ctx, ns)
			gm.Expect(rrs).To(HaveLen(1))
			gm.Expect(rrs[0].Spec.Deduplication.Count).To(Equal(int64(2)))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())

		// The remediation finished two minutes ago: outside the one-minute window.
		var rr kubernautv1.RemediationRequest
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &rr)).To(Succeed())
		before := rr.DeepCopy()
		done := metav1.NewTime(time.Now().Add(-2 * time.Minute))
		rr.Status.Phase = kubernautv1.RemediationPhaseCompleted
		rr.Status.CompletedAt = &done
		Expect(k8s.Status().Patch(ctx, &rr, client.MergeFrom(before))).To(Succeed())

		later := start.Add(20 * time.Minute)
		Eventually(func(gm Gomega) {
			gm.Expect(g.deliver(payload(firing(labels, later)))).To(Equal(http.StatusOK))
			gm.Expect(listRRs(ctx, ns)).To(HaveLen(2))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		var fresh kubernautv1.RemediationRequest
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: gateway.RRName(gateway.Fingerprint(labels), later)}, &fresh)).To(Succeed())
		Expect(fresh.Spec.Deduplication.Count).To(Equal(int64(1)))
	})

	It("gives an alert that kept firing a new remediation once the previous one finished and the window passed", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, func(rc *gateway.RecorderConfig) { rc.DedupWindow = time.Minute })
		labels := podLabels("checkout-5")
		body := payload(firing(labels, start))
		Expect(g.deliver(body)).To(Equal(http.StatusOK))
		name := gateway.RRName(gateway.Fingerprint(labels), start)
		var rr kubernautv1.RemediationRequest
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rr)).To(Succeed())
		before := rr.DeepCopy()
		done := metav1.NewTime(time.Now().Add(-2 * time.Minute))
		rr.Status.Phase, rr.Status.CompletedAt = kubernautv1.RemediationPhaseCompleted, &done
		Expect(k8s.Status().Patch(ctx, &rr, client.MergeFrom(before))).To(Succeed())

		// Alertmanager re-sends the same occurrence (same startsAt) on its repeat interval.
		Eventually(func(gm Gomega) {
			gm.Expect(g.deliver(body)).To(Equal(http.StatusOK))
			gm.Expect(listRRs(ctx, ns)).To(HaveLen(2))
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(g.deliver(body)).To(Equal(http.StatusOK))
		Eventually(func(gm Gomega) {
			rrs := listRRs(ctx, ns)
			gm.Expect(rrs).To(HaveLen(2), "re-deliveries in the same window count on the new one")
			for _, r := range rrs {
				if r.Name != name {
					gm.Expect(r.Name).To(HavePrefix(name + "-"))
					gm.Expect(r.Spec.Deduplication.Count).To(BeNumerically(">=", 2))
				}
			}
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
	})

	It("marks the remediation of a resolved alert resolved", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, nil)
		labels := podLabels("checkout-3")
		Expect(g.deliver(payload(firing(labels, start)))).To(Equal(http.StatusOK))

		resolved := firing(labels, start)
		resolved.Status = "resolved"
		resolved.EndsAt = start.Add(7 * time.Minute)
		Expect(g.deliver(payload(resolved))).To(Equal(http.StatusOK))

		var rr kubernautv1.RemediationRequest
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: gateway.RRName(gateway.Fingerprint(labels), start)}, &rr)).To(Succeed())
		Expect(rr.Spec.ResolvedAt).NotTo(BeNil())
		Expect(rr.Spec.ResolvedAt.Time).To(BeTemporally("==", start.Add(7*time.Minute)))

		// A resolved alert nobody saw firing is answered 200 and creates nothing.
		other := firing(podLabels("never-seen"), start)
		other.Status, other.EndsAt = "resolved", start.Add(time.Minute)
		Expect(g.deliver(payload(other))).To(Equal(http.StatusOK))
		Expect(listRRs(ctx, ns)).To(HaveLen(1))
	})

	It("collapses an alert storm into one remediation that lists every member", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, func(rc *gateway.RecorderConfig) { rc.StormThreshold = 3 })
		for i := range 3 {
			Expect(g.deliver(payload(firing(podLabels(fmt.Sprintf("web-%d", i)), start)))).To(Equal(http.StatusOK))
		}
		Expect(listRRs(ctx, ns)).To(HaveLen(3))
		var members []string
		for i := 3; i < 10; i++ {
			pod := fmt.Sprintf("web-%d", i)
			members = append(members, pod)
			Expect(g.deliver(payload(firing(podLabels(pod), start)))).To(Equal(http.StatusOK))
		}
		Eventually(func(gm Gomega) {
			var storm *kubernautv1.RemediationRequest
			rrs := listRRs(ctx, ns)
			for i := range rrs {
				if rrs[i].Labels[gateway.LabelStorm] == "true" {
					storm = &rrs[i]
				}
			}
			gm.Expect(storm).NotTo(BeNil(), "a storm remediation exists")
			gm.Expect(storm.Spec.Target).To(Equal(kubernautv1.Target{Kind: "Namespace", Name: "shop"}))
			var got []string
			for _, m := range storm.Spec.MemberTargets {
				got = append(got, m.Target.Name)
			}
			gm.Expect(got).To(ConsistOf(members))
			gm.Expect(rrs).To(HaveLen(4), "three remediations before the storm, one for the storm")
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
	})
})

var _ = Describe("The gateway's storms: in memory, written in batches (docs/gateway.md, \"Storms\")", func() {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// storm returns the namespace's one storm remediation once it lists want members and
	// counts count deliveries, and checks nothing else was created.
	storm := func(ctx SpecContext, ns string, want int, count int64) *kubernautv1.RemediationRequest {
		GinkgoHelper()
		var got *kubernautv1.RemediationRequest
		Eventually(func(gm Gomega) {
			rrs := listRRs(ctx, ns)
			gm.Expect(rrs).To(HaveLen(1), "one remediation: the storm's")
			got = &rrs[0]
			gm.Expect(got.Labels).To(HaveKeyWithValue(gateway.LabelStorm, "true"))
			gm.Expect(got.Spec.MemberTargets).To(HaveLen(want))
			gm.Expect(got.Spec.Deduplication.Count).To(Equal(count))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		seen := map[string]bool{}
		for _, m := range got.Spec.MemberTargets {
			Expect(seen).NotTo(HaveKey(m.Fingerprint), "member %s listed twice", m.Target)
			seen[m.Fingerprint] = true
		}
		return got
	}
	notification := func(from, to int) []byte {
		var alerts []alert
		for i := from; i < to; i++ {
			alerts = append(alerts, firing(podLabels(fmt.Sprintf("web-%d", i)), start))
		}
		return payload(alerts...)
	}

	It("folds a 100-alert notification of a new storm into one create, and only counts its re-sends", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		g := startGateway(ctx, cfg, ns, func(rc *gateway.RecorderConfig) { rc.StormThreshold, rc.FlushInterval = 10, time.Second })
		body := notification(0, 100)
		Expect(g.deliver(body)).To(Equal(http.StatusOK))
		first := storm(ctx, ns, 100, 100)
		Expect(g.deliver(body)).To(Equal(http.StatusOK)) // Alertmanager's repeat_interval
		again := storm(ctx, ns, 100, 200)
		Expect(again.Name).To(Equal(first.Name))
		// One flush, or two if a flush tick fell inside the delivery: never one write per alert.
		Expect(again.Generation).To(BeNumerically("<=", first.Generation+2), "the re-sent hundred cost one write per flush")
	})

	It("lists each member once across two replicas, counts every delivery, and bounds the list", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		tune := func(rc *gateway.RecorderConfig) { rc.StormThreshold, rc.MaxStormMembers = 10, 150 }
		a, b := startGateway(ctx, cfg, ns, tune), startGateway(ctx, cfg, ns, tune)
		// Both replicas get the same new storm at once: one creates it, the other's members
		// join at its flush. The storm's name derives from the --storm-window (1 min) it starts
		// in, so two replicas whose creates straddle a window's end make two storms
		// (docs/gateway.md says so): start clear of the boundary.
		if into := time.Since(time.Now().Truncate(time.Minute)); into > 55*time.Second {
			time.Sleep(time.Minute - into + time.Second)
		}
		var wg sync.WaitGroup
		for _, g := range []*runningGateway{a, b} {
			wg.Go(func() { defer GinkgoRecover(); Expect(g.deliver(notification(0, 100))).To(Equal(http.StatusOK)) })
		}
		wg.Wait()
		storm(ctx, ns, 100, 200)
		// New members through either replica, some sent to both; the list stops at 150.
		Expect(a.deliver(notification(100, 160))).To(Equal(http.StatusOK))
		Expect(b.deliver(notification(140, 200))).To(Equal(http.StatusOK))
		got := storm(ctx, ns, 150, 320)
		for _, m := range got.Spec.MemberTargets {
			Expect(m.Target.Namespace).To(Equal("shop"))
		}
	})
})

var _ = Describe("The gateway when the API server goes away", func() {
	It("answers 503 while it is gone and records the retried delivery once it is back", func(ctx SpecContext) {
		own, err := cluster.Start(ctx, cluster.Options{CRDDirs: []string{filepath.Join(root, "manifests", "crd", "bases")}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(own.Stop)
		ownClient, err := client.New(own.Config, client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		g := startGateway(ctx, own.Config, "default", nil)

		own.StopAPIServer()
		body := payload(firing(podLabels("checkout-4"), time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)))
		Expect(g.deliver(body)).To(Equal(http.StatusServiceUnavailable))

		Expect(own.StartAPIServer(ctx)).To(Succeed())
		Eventually(func() int { return g.deliver(body) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
		var list kubernautv1.RemediationRequestList
		Expect(ownClient.List(ctx, &list, client.InNamespace("default"))).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
	}, NodeTimeout(2*time.Minute))
})

var _ = Describe("The gateway with Kubernetes token review", func() {
	It("accepts a ServiceAccount allowed to create signals, and refuses the others", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		cs, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		token := func(sa string) string {
			GinkgoHelper()
			Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})).To(Succeed())
			tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			return tr.Status.Token
		}
		allowed, other := token("alertmanager"), token("someone-else")
		Expect(k8s.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deliver-signals"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{gateway.SignalsResource}, Verbs: []string{"create"}}},
		})).To(Succeed())
		Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alertmanager-delivers-signals"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deliver-signals"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "alertmanager"}},
		})).To(Succeed())

		g := startGatewayWith(ctx, cfg, ns, gateway.NewTokenReviewer(cs, ns, nil, time.Minute), nil)
		body := payload(firing(podLabels("checkout-sa"), time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)))
		Expect(g.deliverWith(allowed, body)).To(Equal(http.StatusOK))
		Expect(g.deliverWith(other, body)).To(Equal(http.StatusForbidden))
		Expect(g.deliverWith("not-a-jwt", body)).To(Equal(http.StatusUnauthorized))
		Expect(listRRs(ctx, ns)).To(HaveLen(1))
	})
})

var _ = Describe("The gateway's Kubernetes event source", func() {
	It("counts an event once however many replicas run (one holds the events Lease)", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		appNS := newNamespace(ctx)
		startGatewayOpts(ctx, cfg, ns, gateway.AnyOf{}, nil, gateway.DefaultEventReasons)
		startGatewayOpts(ctx, cfg, ns, gateway.AnyOf{}, nil, gateway.DefaultEventReasons)
		first := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
		ev := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "api-1.oom"}, Type: corev1.EventTypeWarning, Reason: "OOMKilling",
			Message:        "Memory cgroup out of memory: Killed process 4242 (java)",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: appNS, Name: "api-1"}, FirstTimestamp: first, LastTimestamp: first, Count: 1,
		}
		Expect(k8s.Create(ctx, ev)).To(Succeed())
		Eventually(func() []kubernautv1.RemediationRequest { return rrsAbout(ctx, ns, appNS) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(HaveLen(1))
		ev.Count, ev.LastTimestamp = 2, metav1.Now()
		Expect(k8s.Update(ctx, ev)).To(Succeed())
		count := func() int64 {
			rrs := rrsAbout(ctx, ns, appNS)
			if len(rrs) != 1 {
				return -1
			}
			return rrs[0].Spec.Deduplication.Count
		}
		Eventually(count).WithContext(ctx).WithTimeout(30 * time.Second).Should(Equal(int64(2)))
		Consistently(count).WithContext(ctx).WithTimeout(3*time.Second).Should(Equal(int64(2)), "a second replica must not count it again")
	})

	It("turns a wanted Warning event into a remediation and counts its repeats", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		appNS := newNamespace(ctx)
		startGatewayOpts(ctx, cfg, ns, gateway.AnyOf{}, nil, gateway.DefaultEventReasons)
		first := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: appNS, Name: "web-1.backoff"},
			Type:           corev1.EventTypeWarning,
			Reason:         "BackOff",
			Message:        "Back-off restarting failed container web in pod web-1",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: appNS, Name: "web-1", APIVersion: "v1"},
			Source:         corev1.EventSource{Component: "kubelet"},
			FirstTimestamp: first, LastTimestamp: first, Count: 1,
		}
		Expect(k8s.Create(ctx, ev)).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web-1.pulled"}, Type: corev1.EventTypeNormal, Reason: "Pulled",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: appNS, Name: "web-1"}, FirstTimestamp: first, Count: 1,
		})).To(Succeed())

		Eventually(func(gm Gomega) {
			rrs := rrsAbout(ctx, ns, appNS)
			gm.Expect(rrs).To(HaveLen(1))
			gm.Expect(rrs[0].Spec.Signal.Source).To(Equal(kubernautv1.SignalSourceKubernetesEvent))
			gm.Expect(rrs[0].Spec.Target).To(Equal(kubernautv1.Target{Kind: "Pod", Namespace: appNS, Name: "web-1"}))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())

		ev.Count = 5
		ev.LastTimestamp = metav1.Now()
		Expect(k8s.Update(ctx, ev)).To(Succeed())
		Eventually(func(gm Gomega) {
			rrs := rrsAbout(ctx, ns, appNS)
			gm.Expect(rrs).To(HaveLen(1))
			gm.Expect(rrs[0].Spec.Deduplication.Count).To(BeNumerically(">=", 2))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
	})
})
