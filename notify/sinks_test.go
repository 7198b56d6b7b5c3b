package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/record"
)

// documentedTypes are the CloudEvents types docs/notifications.md lists.
var documentedTypes = []string{TypeApprovalRequired, TypeApproved, TypeRejected, TypeObserved, TypeStarted, TypeStepDone, TypeVerified, TypeFailed, TypeCompensated, TypeFinished}

// receiver is a local server that checks each request against the documented schema of its
// kind and keeps what it got.
type contractServer struct {
	t    *testing.T
	mu   sync.Mutex
	got  []map[string]any
	down bool
	srv  *httptest.Server
}

func newContractServer(t *testing.T, check func(t *testing.T, r *http.Request, body map[string]any)) *contractServer {
	c := &contractServer{t: t}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("not JSON: %v: %s", err, raw)
		}
		check(t, r, body)
		c.got = append(c.got, body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *contractServer) take() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

// urlFile writes url into a file, as a mounted Secret holds it.
func urlFile(t *testing.T, url string) URLFile {
	p := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(p, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return URLFile(p)
}

func checkCloudEvent(t *testing.T, r *http.Request, e map[string]any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type %q, want structured mode", ct)
	}
	for _, attr := range []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data"} {
		if _, ok := e[attr]; !ok {
			t.Errorf("CloudEvent without %s: %v", attr, e)
		}
	}
	if e["specversion"] != "1.0" || e["datacontenttype"] != "application/json" || !slices.Contains(documentedTypes, e["type"].(string)) {
		t.Errorf("CloudEvent %v: want specversion 1.0, JSON data, a documented type", e)
	}
	if _, err := time.Parse(time.RFC3339, e["time"].(string)); err != nil {
		t.Errorf("time %v: %v", e["time"], err)
	}
	data, _ := e["data"].(map[string]any)
	for _, k := range []string{"remediation", "namespace", "signal", "target"} {
		if data[k] == "" || data[k] == nil {
			t.Errorf("data without %s: %v", k, data)
		}
	}
}

func checkSlack(t *testing.T, r *http.Request, m map[string]any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if s, _ := m["text"].(string); s == "" {
		t.Errorf("no fallback text: %v", m)
	}
	blocks, _ := m["blocks"].([]any)
	if len(blocks) < 2 {
		t.Fatalf("blocks %v", blocks)
	}
	head := blocks[0].(map[string]any)
	text := head["text"].(map[string]any)
	if head["type"] != "header" || text["type"] != "plain_text" || len([]rune(text["text"].(string))) > 150 {
		t.Errorf("header block %v: want plain_text of at most 150 characters", head)
	}
	for _, b := range blocks[1:] {
		b := b.(map[string]any)
		switch b["type"] {
		case "section":
			if tx := b["text"].(map[string]any); tx["type"] != "mrkdwn" || len([]rune(tx["text"].(string))) > 3000 {
				t.Errorf("section %v: want mrkdwn of at most 3,000 characters", b)
			}
		case "context":
		default:
			t.Errorf("block type %v", b["type"])
		}
	}
}

// The sinks get each milestone once, in the documented shape, without secrets or the sink's
// URL in anything Kubernaut records; a sink that fails is told again; a restart does not
// repeat a remediation's history.
func TestSinks(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rr, we := awaiting()
	rr.UID = "u-1"
	rr.CreationTimestamp = metav1.NewTime(now)
	rr.Status.RootCause = "the pod logs password=hunter2 then crashes"
	rr.Status.Actions = []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rr, we).WithStatusSubresource(rr, we).Build()
	ce := newContractServer(t, checkCloudEvent)
	slack := newContractServer(t, checkSlack)
	clock := now
	newNotifier := func() *Notifier {
		return &Notifier{Reader: c, Sinks: []EventSink{&CloudEvents{URL: urlFile(t, ce.srv.URL), Source: "kubernaut.io/test"}, &Slack{URL: urlFile(t, slack.srv.URL)}},
			Options: Options{Namespace: "kubernaut-system"}, Interval: time.Minute, Now: func() time.Time { return clock }}
	}
	n := newNotifier()
	ctx := context.Background()
	if err := n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	events, messages := ce.take(), slack.take()
	if len(events) != 1 || events[0]["type"] != TypeApprovalRequired {
		t.Fatalf("CloudEvents: %v, want one %s", events, TypeApprovalRequired)
	}
	data := events[0]["data"].(map[string]any)
	if data["approve"] != "kubectl kubernaut approve rr-1 -n kubernaut-system" || data["planHash"] != "abc123" ||
		strings.Contains(data["rootCause"].(string), "hunter2") {
		t.Errorf("data %v: want the approve command, the hash, no secret", data)
	}
	if len(messages) != 1 || !strings.HasPrefix(messages[0]["text"].(string), "Approval required: rollback_deployment on Deployment/shop/checkout") {
		t.Fatalf("Slack: %v", messages)
	}
	if raw, _ := json.Marshal(messages[0]); strings.Contains(string(raw), "hunter2") || !strings.Contains(string(raw), "kubectl kubernaut approve rr-1") {
		t.Errorf("Slack message %s: want the approve command and no secret", raw)
	}
	clock = clock.Add(time.Second)
	if err := n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := append(ce.take(), slack.take()...); len(got) != 0 {
		t.Errorf("told again: %v", got)
	}

	// Approved and running, then failed and undone; the CloudEvents receiver is down meanwhile.
	update := func(mod func(*kubernautv1.RemediationRequest, *kubernautv1.WorkflowExecution)) {
		t.Helper()
		r, w := &kubernautv1.RemediationRequest{}, &kubernautv1.WorkflowExecution{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rr), r); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(we), w); err != nil {
			t.Fatal(err)
		}
		mod(r, w)
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := c.Status().Update(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	update(func(r *kubernautv1.RemediationRequest, w *kubernautv1.WorkflowExecution) {
		w.Status.Phase = kubernautv1.WorkflowFailed
		w.Status.Conditions = []metav1.Condition{
			cond(kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonManuallyApproved, "approved", now.Add(2*time.Second)),
			cond(kubernautv1.CompensatedCondition, metav1.ConditionTrue, kubernautv1.ReasonCompensationSucceeded, "undone", now.Add(5*time.Second)),
		}
		w.Status.Approval.DecidedBy = "user alice, user bob"
		w.Status.StartedAt = at(3 * time.Second)
		w.Status.Steps = []kubernautv1.StepStatus{{Name: "rollback", Phase: kubernautv1.StepFailed, Message: "verification failed", FinishedAt: at(4 * time.Second)}}
		r.Status.Phase = kubernautv1.RemediationPhaseFailed
		r.Status.CompletedAt = at(6 * time.Second)
		r.Status.Conditions = []metav1.Condition{cond(kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, "verification failed", now.Add(6*time.Second))}
	})
	ce.down = true
	clock = now.Add(10 * time.Second)
	err := n.Sync(ctx)
	if err == nil || strings.Contains(err.Error(), ce.srv.URL) {
		t.Fatalf("a sink that fails: %v, want an error that does not name its URL (a credential)", err)
	}
	var types []string
	for _, m := range slack.take() {
		types = append(types, m["text"].(string))
	}
	if want := []string{"Approved: rollback_deployment on Deployment/shop/checkout", "Undo succeeded: Deployment/shop/checkout",
		"Remediation failed: Deployment/shop/checkout"}; !slices.Equal(types, want) {
		t.Errorf("Slack got %q, want %q (each milestone it wants, oldest first; the end once; not started, step or verified)", types, want)
	}
	ce.down = false
	if err := n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	types = nil
	var finished map[string]any
	for _, e := range ce.take() {
		types = append(types, e["type"].(string))
		if e["type"] == TypeFinished {
			finished = e["data"].(map[string]any)
		}
	}
	if want := []string{TypeApproved, TypeStarted, TypeStepDone, TypeCompensated, TypeFailed, TypeFinished}; !slices.Equal(types, want) {
		t.Errorf("CloudEvents after the receiver came back: %q, want %q", types, want)
	}
	// The end carries the whole record (the record package's own test covers its parts): what
	// a receiver keeps once the objects are gone.
	var rec record.Record
	if raw, err := json.Marshal(finished["record"]); err != nil || json.Unmarshal(raw, &rec) != nil || rec.Plan == nil {
		t.Fatalf("the finished event has no record: %v", finished)
	}
	if rec.UID != "u-1" || rec.Outcome != kubernautv1.RemediationPhaseFailed || rec.Plan.Hash != "abc123" || rec.Plan.Approval.DecidedBy != "user alice, user bob" ||
		len(rec.Plan.Steps) != 1 || rec.Plan.Steps[0].Phase != "Failed" || rec.Durations.Total != 6 || strings.Contains(fmt.Sprint(finished), "hunter2") {
		t.Errorf("the finished event's record: %+v", rec)
	}
	if got := slack.take(); len(got) != 0 {
		t.Errorf("Slack told again: %v", got)
	}

	// A restart (or a new leader) an hour later tells nothing old again.
	clock = now.Add(time.Hour)
	if err := newNotifier().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := append(ce.take(), slack.take()...); len(got) != 0 {
		t.Errorf("after a restart: %v, want nothing repeated", got)
	}
}

// What the analyzer wrote (it read the pod's logs) cannot ping a channel or show a link in
// Slack: mrkdwn's control characters are escaped; only the Argo UI's link is a link, and only
// when it is an http(s) URL.
func TestSlackEscapes(t *testing.T) {
	m := Milestone{Type: TypeApprovalRequired, Data: MilestoneData{Remediation: "rr-1", Namespace: "kubernaut-system", Signal: "KubePodCrashLooping",
		Target: "Deployment/shop/web", RootCause: "<!channel> the fix: <https://evil.example|kubectl kubernaut approve> & done",
		Link: "https://argo.example.com/workflows/kubernaut-system/rr-1-we"}}
	msg := SlackMessage(m)
	section := msg.Blocks[1].Text.Text
	if strings.Contains(section, "<!channel>") || strings.Contains(section, "<https://evil") ||
		!strings.Contains(section, "&lt;!channel&gt; the fix: &lt;https://evil.example|kubectl kubernaut approve&gt; &amp; done") {
		t.Errorf("section not escaped: %q", section)
	}
	if len(msg.Blocks) != 3 || msg.Blocks[2].Elements[0].Text != "<https://argo.example.com/workflows/kubernaut-system/rr-1-we|The plan in the Argo UI>" {
		t.Errorf("the Argo link: %+v", msg.Blocks)
	}
	m.Data.Link = "javascript:alert(1)"
	if msg := SlackMessage(m); len(msg.Blocks) != 2 {
		t.Errorf("a link that is not http(s) is shown: %+v", msg.Blocks)
	}
}
