package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// EventSink delivers milestones, one at a time.
type EventSink interface {
	// Name names the sink in metrics and events (slack, cloudevents).
	Name() string
	// Wants reports whether the sink is told of milestones of this type.
	Wants(typ string) bool
	// Send delivers one milestone; an error means it is tried again.
	Send(ctx context.Context, m Milestone) error
}

// URLFile is a URL kept in a file — a key of a Secret mounted into the pod: a webhook's URL is
// a credential, never a flag (flags show in the process list and the Deployment). It is read at
// each delivery, so a rotated Secret takes effect without a restart.
type URLFile string

func (f URLFile) url() (string, error) {
	raw, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("reading the sink's URL: %w", err)
	}
	u := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return "", fmt.Errorf("the URL in %s is not an http(s) URL", string(f))
	}
	return u, nil
}

// postFile sends body to the URL in file (see post); errors name the file, never the URL.
func postFile(ctx context.Context, c *http.Client, file URLFile, contentType string, body []byte) error {
	u, err := file.url()
	if err != nil {
		return err
	}
	return post(ctx, c, u, "the URL from "+string(file), contentType, body)
}

// post sends body to u with contentType (a 10 s timeout when c is nil) and fails on any answer
// but 2xx; errors say "<what> answered …" and never contain u, which may be a credential (a
// webhook's token, a user:password@).
func post(ctx context.Context, c *http.Client, u, what, contentType string, body []byte) error {
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request to %s", what)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %v", what, redactURL(err, u))
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", what, resp.Status, kubernautv1.Truncate(strings.TrimSpace(string(answer)), 200))
	}
	return nil
}

// redactURL is err's text without the URL.
func redactURL(err error, u string) string { return strings.ReplaceAll(err.Error(), u, "<url>") }

// CloudEvents posts each milestone as a CloudEvent 1.0 in structured mode
// (application/cloudevents+json) — to Knative, Argo Events, an event bus or any webhook.
type CloudEvents struct {
	// URL is the file holding the receiver's URL.
	URL URLFile
	// Source is the events' source attribute (kubernaut.io/<cluster name>, say).
	Source string
	// Client makes the requests; a 10 s timeout when nil.
	Client *http.Client
}

// Name is "cloudevents".
func (c *CloudEvents) Name() string { return "cloudevents" }

// Wants every milestone.
func (c *CloudEvents) Wants(string) bool { return true }

// CloudEvent is the structured-mode JSON of one event (CloudEvents 1.0).
type CloudEvent struct {
	SpecVersion     string        `json:"specversion"`
	ID              string        `json:"id"`
	Source          string        `json:"source"`
	Type            string        `json:"type"`
	Subject         string        `json:"subject,omitempty"`
	Time            string        `json:"time"`
	DataContentType string        `json:"datacontenttype"`
	Data            MilestoneData `json:"data"`
}

// Send posts m.
func (c *CloudEvents) Send(ctx context.Context, m Milestone) error {
	body, err := json.Marshal(CloudEvent{SpecVersion: "1.0", ID: m.ID, Source: c.Source + "/" + m.Data.Namespace + "/" + m.Data.Remediation, Type: m.Type,
		Subject: m.Data.Target, Time: m.At.UTC().Format(time.RFC3339), DataContentType: "application/json", Data: m.Data})
	if err != nil {
		return err
	}
	return postFile(ctx, c.Client, c.URL, "application/cloudevents+json", body)
}

// Slack posts the milestones people act on to a Slack incoming webhook, as Block Kit: a plan
// waiting for approval (its actions, the root cause, the approve command, the Argo link), a
// decision, an undo, the end (a failure among them). Started, step and verified milestones
// are left to the remediation's end.
type Slack struct {
	// URL is the file holding the incoming webhook's URL.
	URL URLFile
	// Client makes the requests; a 10 s timeout when nil.
	Client *http.Client
}

// Name is "slack".
func (s *Slack) Name() string { return "slack" }

// Wants what a person acts on or wants told: the end once (a failure is an end; its own
// milestone would say it twice).
func (s *Slack) Wants(typ string) bool {
	switch typ {
	case TypeApprovalRequired, TypeApproved, TypeRejected, TypeCompensated, TypeFinished:
		return true
	}
	return false
}

// Send posts m as a message.
func (s *Slack) Send(ctx context.Context, m Milestone) error {
	body, err := json.Marshal(SlackMessage(m))
	if err != nil {
		return err
	}
	return postFile(ctx, s.Client, s.URL, "application/json", body)
}

// slackText is a Block Kit text object.
type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackBlock is a Block Kit block (header, section or context).
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// Message is an incoming webhook's payload: text is the notification's fallback.
type Message struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape makes text literal in Slack's mrkdwn: "&", "<" and ">" are its control
// characters (Slack's "Escaping text"). The texts come from the cluster and from the analyzer,
// which read pod logs: unescaped, a root cause could ping <!channel> or show a link whose text
// says "approve" and whose target is anyone's.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackMessage is m as a Block Kit message (Block Kit's limits: a header's 150 characters, a
// section's 3,000). Every text from the cluster is escaped; only the Argo link is a link.
func SlackMessage(m Milestone) Message {
	d := m.Data
	for _, f := range []*string{&d.Remediation, &d.Namespace, &d.Signal, &d.Severity, &d.Target, &d.RootCause, &d.Plan, &d.PlanHash, &d.Step,
		&d.Phase, &d.Message, &d.DecidedBy, &d.Approve} {
		*f = slackEscape.Replace(*f)
	}
	// The header is plain_text, which Slack does not parse: it is built from the raw texts.
	var head string
	switch m.Type {
	case TypeApprovalRequired:
		head = "Approval required: " + actionList(m.Data.Actions) + " on " + m.Data.Target
	case TypeApproved:
		head = "Approved: " + actionList(m.Data.Actions) + " on " + m.Data.Target
	case TypeRejected:
		head = "Rejected: " + actionList(m.Data.Actions) + " on " + m.Data.Target
	case TypeCompensated:
		head = "Undo " + strings.ToLower(m.Data.Phase) + ": " + m.Data.Target
	default:
		head = "Remediation " + strings.ToLower(m.Data.Phase) + ": " + m.Data.Target
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Alert* %s", d.Signal)
	if d.Severity != "" {
		fmt.Fprintf(&b, " (%s)", d.Severity)
	}
	fmt.Fprintf(&b, "\n*Remediation* `%s/%s`", d.Namespace, d.Remediation)
	if d.RootCause != "" {
		fmt.Fprintf(&b, "\n*Root cause* %s", d.RootCause)
	}
	if d.PlanHash != "" {
		fmt.Fprintf(&b, "\n*Plan* `%s` (hash `%.12s…`)", d.Plan, d.PlanHash)
	}
	if d.DecidedBy != "" {
		fmt.Fprintf(&b, "\n*Decided by* %s", d.DecidedBy)
	}
	if d.Message != "" {
		fmt.Fprintf(&b, "\n%s", d.Message)
	}
	if d.Approve != "" {
		fmt.Fprintf(&b, "\n*To approve* `%s`", d.Approve)
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: kubernautv1.Truncate(head, 150)}},
		{Type: "section", Text: &slackText{Type: "mrkdwn", Text: kubernautv1.Truncate(b.String(), 3000)}},
	}
	if u, err := url.Parse(d.Link); err == nil && (u.Scheme == "https" || u.Scheme == "http") && !strings.ContainsAny(d.Link, "<>|") {
		blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: "<" + d.Link + "|The plan in the Argo UI>"}}})
	}
	return Message{Text: slackEscape.Replace(kubernautv1.Truncate(head, 150)), Blocks: blocks}
}

// actionList lists actions ("rollback_deployment, restart_deployment"), or "the plan".
func actionList(as []kubernautv1.ActionName) string {
	if len(as) == 0 {
		return "the plan"
	}
	return kubernautv1.JoinActions(as)
}
