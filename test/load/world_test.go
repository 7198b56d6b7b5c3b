package load

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/argoexec"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// systemNamespace holds Kubernaut's RemediationRequests, their children and the actions'
// ServiceAccounts.
const systemNamespace = "kubernaut-system"

// world is a full control plane (kwok nodes, every write audited) prepared as the manifests
// prepare a cluster for Kubernaut, and Kubernaut's binary built from the working tree.
type world struct {
	c   *cluster.Cluster
	k8s client.Client
	bin string
	// argo is Argo's workflow-controller, with the argo engine (nil with the builtin one).
	argo *cluster.ArgoController
}

// argoEngine reports whether the measured Kubernaut runs plans as Argo Workflows
// (KUBERNAUT_LOAD_ENGINE=argo, make load ENGINE=argo) instead of with the builtin engine.
func argoEngine() bool { return os.Getenv("KUBERNAUT_LOAD_ENGINE") == string(kubernautv1.EngineArgo) }

// startWorld starts the world for one measurement; it stops with the test.
//
// Kubernaut is bin, else $KUBERNAUT_LOAD_BINARY, else built from the tree.
func startWorld(t *testing.T, bin string) *world {
	t.Helper()
	ctx := context.Background()
	root, err := cluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// $KUBERNAUT_LOAD_DIR keeps each run's logs and audit log, in a folder per test.
	dir := ""
	if keep := os.Getenv("KUBERNAUT_LOAD_DIR"); keep != "" {
		dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "-"))
		_ = os.RemoveAll(dir)
	}
	crds := []string{filepath.Join(root, "manifests", "crd", "bases")}
	if argoEngine() {
		argoCRDs, err := cluster.ArgoCRDs()
		if err != nil {
			t.Fatal(err)
		}
		crds = append(crds, argoCRDs)
	}
	c, err := cluster.Start(ctx, cluster.Options{Full: true, KwokNodes: 2, AuditWrites: true, AuditReads: true, StartTimeout: 2 * time.Minute, Dir: dir, CRDDirs: crds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	k8s, err := client.New(c.Config, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil {
		t.Fatal(err)
	}
	// The blast-radius limits, wide enough that the load measures the chain, not a queue: every
	// remediation of a run targets a namespace of its own.
	if err := k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "kubernaut-semaphores"},
		Data: map[string]string{"cluster": "5000", "namespace.default": "2"}}); err != nil {
		t.Fatal(err)
	}
	for _, obj := range catalog.RBAC(systemNamespace) {
		if err := k8s.Create(ctx, obj.(client.Object)); err != nil {
			t.Fatal(err)
		}
	}
	if bin == "" {
		bin = os.Getenv("KUBERNAUT_LOAD_BINARY")
	}
	if bin == "" {
		if bin, err = cluster.BuildKubernaut(ctx, c.Dir); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{c: c, k8s: k8s, bin: bin}
	if argoEngine() {
		w.startArgo(t)
	}
	return w
}

// startArgo installs what the argo engine's Workflows need in the system namespace (their
// ServiceAccount, Kubernaut's ClusterWorkflowTemplates) and starts Argo's workflow-controller
// for it, with the executor stand-in playing Argo's pods (kwok runs no containers): its
// requests are Argo's executor's, measured with the rest.
func (w *world) startArgo(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	set, err := templates.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "kubernaut-workflow"}}}
	for _, tmpl := range set {
		objs = append(objs, tmpl.DeepCopy())
	}
	for _, o := range objs {
		if err := w.k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// $KUBERNAUT_LOAD_ARGO_ENV and $KUBERNAUT_LOAD_ARGO_ARGS (space-separated) and
	// $KUBERNAUT_LOAD_ARGO_CONFIG (YAML keys of its ConfigMap) change Argo's controller
	// settings, to measure them (docs/benchmarks.md).
	env, args := strings.Fields(os.Getenv("KUBERNAUT_LOAD_ARGO_ENV")), strings.Fields(os.Getenv("KUBERNAUT_LOAD_ARGO_ARGS"))
	extra := os.Getenv("KUBERNAUT_LOAD_ARGO_CONFIG")
	if len(env)+len(args) > 0 || extra != "" {
		t.Logf("Argo's controller with %v %v %q", env, args, extra)
	}
	if w.argo, err = w.c.StartArgoTuned(ctx, systemNamespace, extra, env, args); err != nil {
		t.Fatal(err)
	}
	exCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	ex := &argoexec.Executor{Client: w.k8s, Namespace: systemNamespace, Interval: 200 * time.Millisecond}
	go ex.Run(exCtx)
}

// kubernautArgs are the flags of every measured Kubernaut: the rules analyzer, the builtin
// engine (the argo engine with KUBERNAUT_LOAD_ENGINE=argo) and the in-process executor (the
// local mode's defaults), the gateway's per-source
// limit opened up (one Alertmanager sends every notification here) and
// $KUBERNAUT_LOAD_ARGS, to compare settings.
func kubernautArgs(extra ...string) []string {
	// No soak after a memory raise: the numbers measure the chain's throughput, comparable
	// with those taken before --memory-soak (its wait adds latency, not load).
	args := []string{"--gateway-rate-limit=100000", "--gateway-rate-burst=100000", "--zap-log-level=info", "--memory-soak=0s"}
	if argoEngine() {
		args = append(args, "--engine=argo")
	}
	if env := os.Getenv("KUBERNAUT_LOAD_ARGS"); env != "" {
		args = append(args, strings.Fields(env)...)
	}
	return append(args, extra...)
}

// remediate prepares n OOM-killed Deployments, starts the tracker and then Kubernaut, which
// stops with the test.
func (w *world) remediate(ctx context.Context, t *testing.T, n int) ([]situation, *tracker, *cluster.Kubernaut) {
	t.Helper()
	sits := w.oomKilled(t, n)
	tr := track(t, w.c)
	k, err := w.c.StartKubernaut(ctx, cluster.KubernautOptions{Binary: w.bin, Args: kubernautArgs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	return sits, tr, k
}

// names returns the remediations' names.
func names(sits []situation) []string {
	out := make([]string, len(sits))
	for i, s := range sits {
		out[i] = s.rr
	}
	return out
}

// waitFinished waits until every remediation was seen finished.
func waitFinished(ctx context.Context, t *testing.T, tr *tracker, all []string, logs func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := time.Now()
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(context.Context) (bool, error) {
		if time.Since(last) > 15*time.Second {
			t.Logf("after %s: %s", time.Since(start).Round(time.Second), tr.phaseCounts(all))
			last = time.Now()
		}
		return tr.finishedCount(all) == len(all), nil
	})
	if err != nil {
		t.Fatalf("%d of %d remediations finished: %v (%s)\n%s", tr.finishedCount(all), len(all), err, tr.phaseCounts(all), logs())
	}
	return time.Since(start)
}

// endedOnce checks what the world shows after a run, and returns Kubernaut's writes from since: one RemediationRequest per alert,
// each seen finishing once and Completed, its one step run once, and each Deployment changed
// once (its memory limit raised once, its generation one more) by one write request. With
// killed (Kubernaut was SIGKILLed during the run) a Deployment may have had the same write
// twice — a patch in flight when the process died lands after its successor read the
// Deployment and sent the same patch, computed from the same recorded pre-state — so there the
// requests are reported and the change itself is what must have happened once.
func (w *world) endedOnce(t *testing.T, tr *tracker, sits []situation, since time.Time, killed bool) writes {
	t.Helper()
	time.Sleep(2 * time.Second) // the last writes reach the audit log
	wr, err := auditWrites(w.c.AuditLog(), "kubernaut/", since)
	if err != nil {
		t.Fatal(err)
	}
	outs := tr.outcomes(names(sits))
	for _, s := range sits {
		o := outs[s.rr]
		if o.phase != kubernautv1.RemediationPhaseCompleted || o.finished != 1 || o.steps != 1 {
			why := ""
			rr := &kubernautv1.RemediationRequest{}
			if err := w.k8s.Get(context.Background(), client.ObjectKey{Namespace: systemNamespace, Name: s.rr}, rr); err == nil {
				why = ": " + rr.Status.Message
			}
			var steps kubernautv1.KubernetesExecutionList
			if err := w.k8s.List(context.Background(), &steps, client.InNamespace(systemNamespace), client.MatchingLabels{kubernautv1.LabelRemediation: s.rr}); err == nil {
				for _, ke := range steps.Items {
					for _, c := range ke.Status.Conditions {
						why += fmt.Sprintf("; step %s %s=%s %s: %s (%s)", ke.Spec.StepName, c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime.Format("15:04:05"))
					}
				}
			}
			t.Errorf("remediation %s of %s: phase %s, finished %d times, %d steps; want Completed once with one step%s", s.rr, s.namespace, o.phase, o.finished, o.steps, why)
		}
		switch got := wr.byTarget[s.namespace]; {
		case got == 1:
		case killed && got > 1:
			t.Logf("Deployment %s/app: %d write requests by kubernaut for its one change (a request in flight at a SIGKILL, sent again by the restarted process)", s.namespace, got)
		default:
			t.Errorf("Deployment %s/app: %d writes by kubernaut, want 1 (the raised limit)", s.namespace, got)
		}
	}
	w.raisedOnce(t, sits)
	var rrs kubernautv1.RemediationRequestList
	if err := w.k8s.List(context.Background(), &rrs, client.InNamespace(systemNamespace)); err != nil {
		t.Fatal(err)
	}
	if len(rrs.Items) != len(sits) {
		t.Errorf("%d RemediationRequests for %d alerts, want one each", len(rrs.Items), len(sits))
	}
	return wr
}

// situation is one OOM-killed Deployment in a namespace of its own, and its alert.
type situation struct {
	namespace string
	alert     gateway.WebhookAlert
	rr        string
	// generation is the Deployment's metadata.generation before the remediation: one change
	// of its spec makes it one more.
	generation int64
}

// oomKilled prepares n OOM-killed Deployments, each in its own opted-in namespace (so that no
// two alerts share a storm key, a target or a namespace's blast-radius limit), with workers
// in parallel.
func (w *world) oomKilled(t *testing.T, n int) []situation {
	t.Helper()
	ctx := context.Background()
	out := make([]situation, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				e, err := scenario.NewEstate(ctx, w.k8s, "load-", "staging")
				if err != nil {
					errs[i] = err
					continue
				}
				e.Timeout = 5 * time.Minute
				a, err := e.OOMKilled(ctx, "app")
				if err != nil {
					errs[i] = err
					continue
				}
				d := &appsv1.Deployment{}
				if err := w.k8s.Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: "app"}, d); err != nil {
					errs[i] = err
					continue
				}
				out[i] = situation{namespace: e.Namespace, alert: a, rr: gateway.RRName(a.Fingerprint, a.StartsAt), generation: d.Generation}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// fire sends each alert in a notification of its own, all at once (as many Alertmanager
// groups fire together), and records when each was sent. Delivery retries 5xx and refused
// connections as Alertmanager does.
func fire(ctx context.Context, sender scenario.Sender, sits []situation, tr *tracker) error {
	errs := make([]error, len(sits))
	var wg sync.WaitGroup
	for i, s := range sits {
		wg.Go(func() {
			tr.sent(s.rr)
			errs[i] = sender.Deliver(ctx, scenario.Notification(s.alert))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("alert of %s: %w", sits[i].namespace, err)
		}
	}
	return nil
}

// tracker watches the RemediationRequests and KubernetesExecutions and notes when each
// phase was first seen, with the watch's own clock (status times have a second's resolution).
type tracker struct {
	mu     sync.Mutex
	sentAt map[string]time.Time
	rrs    map[string]*rrTrace
	kes    map[string]*keTrace
}

// rrTrace is what was seen of one RemediationRequest.
type rrTrace struct {
	seen     map[kubernautv1.RemediationPhase]time.Time
	finished int // times it was seen entering a finished phase from an unfinished one
	last     kubernautv1.RemediationPhase
}

// keTrace is what was seen of one step.
type keTrace struct {
	rr        string
	executing time.Time
	done      time.Time
	phase     kubernautv1.ExecutionPhase
}

// track starts watching; Stop ends it.
func track(t *testing.T, c *cluster.Cluster) *tracker {
	t.Helper()
	tr := &tracker{sentAt: map[string]time.Time{}, rrs: map[string]*rrTrace{}, kes: map[string]*keTrace{}}
	informers, err := cache.New(c.Config, cache.Options{Scheme: cluster.Scheme(), DefaultNamespaces: map[string]cache.Config{systemNamespace: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rrInf, err := informers.GetInformer(ctx, &kubernautv1.RemediationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keInf, err := informers.GetInformer(ctx, &kubernautv1.KubernetesExecution{})
	if err != nil {
		t.Fatal(err)
	}
	onRR := func(obj any) {
		if rr, ok := obj.(*kubernautv1.RemediationRequest); ok {
			tr.rr(rr, time.Now())
		}
	}
	onKE := func(obj any) {
		if ke, ok := obj.(*kubernautv1.KubernetesExecution); ok {
			tr.ke(ke, time.Now())
		}
	}
	if _, err := rrInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onRR, UpdateFunc: func(_, o any) { onRR(o) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := keInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: onKE, UpdateFunc: func(_, o any) { onKE(o) }}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("the tracker's informers did not sync")
	}
	return tr
}

func (tr *tracker) sent(rr string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, ok := tr.sentAt[rr]; !ok {
		tr.sentAt[rr] = time.Now()
	}
}

func (tr *tracker) rr(rr *kubernautv1.RemediationRequest, now time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t := tr.rrs[rr.Name]
	if t == nil {
		t = &rrTrace{seen: map[kubernautv1.RemediationPhase]time.Time{}}
		tr.rrs[rr.Name] = t
	}
	p := rr.Status.Phase
	if p == "" {
		p = kubernautv1.RemediationPhasePending
	}
	if p == t.last {
		return
	}
	if p.IsFinished() && !t.last.IsFinished() {
		t.finished++
	}
	t.last = p
	if _, ok := t.seen[p]; !ok {
		t.seen[p] = now
	}
}

func (tr *tracker) ke(ke *kubernautv1.KubernetesExecution, now time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t := tr.kes[ke.Name]
	if t == nil {
		t = &keTrace{rr: ke.Labels[kubernautv1.LabelRemediation]}
		tr.kes[ke.Name] = t
	}
	t.phase = ke.Status.Phase
	switch ke.Status.Phase {
	case kubernautv1.ExecutionExecuting, kubernautv1.ExecutionVerifying:
		if t.executing.IsZero() {
			t.executing = now
		}
	case kubernautv1.ExecutionSucceeded, kubernautv1.ExecutionFailed, kubernautv1.ExecutionRejected:
		if t.done.IsZero() {
			t.done = now
		}
	}
}

// finished counts the remediations seen finished.
func (tr *tracker) finishedCount(names []string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, name := range names {
		if t := tr.rrs[name]; t != nil && t.last.IsFinished() {
			n++
		}
	}
	return n
}

// phaseCounts says how many remediations are in each phase, for progress lines.
func (tr *tracker) phaseCounts(names []string) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	counts := map[string]int{}
	for _, name := range names {
		p := "not seen"
		if t := tr.rrs[name]; t != nil {
			p = string(t.last)
		}
		counts[p]++
	}
	return perRemediation(counts, 1)
}

// outcome is the measured end of one remediation.
type outcome struct {
	phase    kubernautv1.RemediationPhase
	total    time.Duration // notification sent → seen finished
	action   time.Duration // its steps, executing → seen done (action and its health check)
	overhead time.Duration // total − action: the chain's own time (the rules analysis included)
	finished int
	steps    int
}

// outcomes returns each remediation's measured end, by name.
func (tr *tracker) outcomes(names []string) map[string]outcome {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string]outcome{}
	for _, name := range names {
		t := tr.rrs[name]
		if t == nil {
			out[name] = outcome{}
			continue
		}
		o := outcome{phase: t.last, finished: t.finished}
		if end, ok := t.seen[t.last]; ok && t.last.IsFinished() {
			o.total = end.Sub(tr.sentAt[name])
		}
		for _, ke := range tr.kes {
			if ke.rr != name {
				continue
			}
			o.steps++
			if !ke.executing.IsZero() && !ke.done.IsZero() {
				o.action += ke.done.Sub(ke.executing)
			}
		}
		o.overhead = o.total - o.action
		out[name] = o
	}
	return out
}

// phaseTimes returns, per phase, the mean time from the notification to the phase first seen.
func (tr *tracker) phaseTimes(names []string) map[kubernautv1.RemediationPhase]time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	sum := map[kubernautv1.RemediationPhase]time.Duration{}
	count := map[kubernautv1.RemediationPhase]int{}
	for _, name := range names {
		t := tr.rrs[name]
		if t == nil {
			continue
		}
		for p, at := range t.seen {
			sum[p] += at.Sub(tr.sentAt[name])
			count[p]++
		}
	}
	for p := range sum {
		sum[p] /= time.Duration(count[p])
	}
	return sum
}

// quantiles returns p50, p95, p99 and max of ds.
func quantiles(ds []time.Duration) (p50, p95, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(float64(len(s)-1)*p)] }
	return q(0.50), q(0.95), q(0.99), s[len(s)-1]
}

// writes is what the audit log says one client wrote.
type writes struct {
	total     int
	persisted int            // writes that change stored state
	dryRun    int            // dryRun=All requests (the plans' server-side dry runs)
	reviews   int            // SubjectAccessReviews and TokenReviews: creates that store nothing
	byKind    map[string]int // verb resource[/subresource] → count, persisted only
	// customResources counts the persisted writes of Kubernaut's own kinds (kubernaut.io).
	customResources int
	byTarget        map[string]int // namespace → persisted writes to apps/deployments
	reads           int            // gets and lists straight from the API server (not the cache)
	readsByKind     map[string]int // verb resource[/subresource] → count
	// inOrder lists the first requests as "+ms verb resource name" (one remediation's story).
	inOrder []string
}

// auditWrites reads the audit log's requests made by userAgent (a prefix) from since on: the
// writes, and the reads when the audit has them (cluster.Options.AuditReads).
func auditWrites(path, userAgent string, since time.Time) (writes, error) {
	w := writes{byKind: map[string]int{}, byTarget: map[string]int{}, readsByKind: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return w, fmt.Errorf("opening the audit log: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Verb       string    `json:"verb"`
			UserAgent  string    `json:"userAgent"`
			RequestURI string    `json:"requestURI"`
			Received   time.Time `json:"requestReceivedTimestamp"`
			ObjectRef  *struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
				Namespace   string `json:"namespace"`
				Name        string `json:"name"`
				APIGroup    string `json:"apiGroup"`
			} `json:"objectRef"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return w, fmt.Errorf("audit log line %q: %w", sc.Text(), err)
		}
		if !strings.HasPrefix(ev.UserAgent, userAgent) || ev.Received.Before(since) || ev.ObjectRef == nil {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		if ev.Verb == "get" || ev.Verb == "list" {
			w.reads++
			w.readsByKind[ev.Verb+" "+res]++
			continue
		}
		w.total++
		if len(w.inOrder) < 100 {
			what := ev.Verb
			if strings.Contains(ev.RequestURI, "dryRun=") {
				what += " (dry run)"
			}
			w.inOrder = append(w.inOrder, fmt.Sprintf("+%d ms %s %s %s", ev.Received.Sub(since).Milliseconds(), what, res, ev.ObjectRef.Name))
		}
		switch {
		case strings.Contains(ev.RequestURI, "dryRun="):
			w.dryRun++
		case strings.HasSuffix(res, "reviews"):
			w.reviews++
		default:
			w.persisted++
			w.byKind[ev.Verb+" "+res]++
			if ev.ObjectRef.APIGroup == kubernautv1.GroupVersion.Group {
				w.customResources++
			}
			if ev.ObjectRef.APIGroup == "apps" && ev.ObjectRef.Resource == "deployments" && ev.ObjectRef.Subresource == "" {
				w.byTarget[ev.ObjectRef.Namespace]++
			}
		}
	}
	return w, sc.Err()
}

// perRemediation formats counts divided by n, largest first.
func perRemediation(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(m[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// sampler samples a process' resident memory and CPU time until stopped.
type sampler struct {
	mu      sync.Mutex
	peakRSS int64
	stop    chan struct{}
	done    chan struct{}
}

func sample(usage func() (cluster.Usage, error)) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if u, err := usage(); err == nil {
				s.mu.Lock()
				s.peakRSS = max(s.peakRSS, u.RSS, u.PeakRSS)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the largest resident memory seen.
func (s *sampler) Stop() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS
}

// mib formats bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// metrics is one scrape of a process' /metrics.
type metrics map[string]*dto.MetricFamily

// scrape reads the metrics endpoint at base.
func scrape(base string) (metrics, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("reading the metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing the metrics of %s: %w", base, err)
	}
	return families, nil
}

// sum adds up the counters and gauges of family by the value of label ("" sums them all).
func (m metrics) sum(family, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[family].GetMetric() {
		key := ""
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				key = l.GetValue()
			}
		}
		out[key] += s.GetCounter().GetValue() + s.GetGauge().GetValue()
	}
	return out
}

// mean is the mean and the count of family's histogram whose label name is value.
func (m metrics) mean(family, value string) (time.Duration, uint64) {
	for _, s := range m[family].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "name" && l.GetValue() == value {
				h := s.GetHistogram()
				if h.GetSampleCount() == 0 {
					return 0, 0
				}
				return time.Duration(h.GetSampleSum() / float64(h.GetSampleCount()) * float64(time.Second)), h.GetSampleCount()
			}
		}
	}
	return 0, 0
}

// queueTimes is, per controller, its reconciles and their mean wait in the queue and mean
// time, from the workqueue histograms.
func (m metrics) queueTimes() string {
	var parts []string
	for _, c := range []string{"remediationrequest", "remediationprocessing", "aianalysis", "workflowexecution", "kubernetesexecution"} {
		wait, _ := m.mean("workqueue_queue_duration_seconds", c)
		work, n := m.mean("workqueue_work_duration_seconds", c)
		parts = append(parts, fmt.Sprintf("%s %d reconciles, queued %s, working %s", c, n, ms(wait), ms(work)))
	}
	return strings.Join(parts, "; ")
}

// usage is what Kubernaut and the control plane had used at one moment: Kubernaut's CPU and
// memory, its client's requests by method, the control plane's processes, and the scrape.
type usage struct {
	kubernaut cluster.Usage
	requests  map[string]float64
	plane     map[string]cluster.Usage
	metrics   metrics
}

// usage takes the measurement now.
func (w *world) usage(t *testing.T, k *cluster.Kubernaut) usage {
	t.Helper()
	u, err := k.Usage()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scrape(k.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return usage{kubernaut: u, requests: m.sum("rest_client_requests_total", "method"), plane: w.c.Usage(), metrics: m}
}
