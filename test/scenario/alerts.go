// Package scenario makes the situations Kubernaut remediates real on a live cluster — the
// estate, the kubelet's side of each failure (kwok runs no containers, so the status a kubelet
// would write is written here) — and the Alertmanager notifications that report them. The
// end-to-end suite, `make demo`, `make load` and `make chaos` share it.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kubernaut/kubernaut/gateway"
)

// Alert is one firing alert as Prometheus sends it to Alertmanager and Alertmanager on to a
// webhook: its labels (alertname and severity among them), annotations and start; the
// fingerprint is Alertmanager's (the hash of the label set).
func Alert(labels, annotations map[string]string, startsAt time.Time) gateway.WebhookAlert {
	return gateway.WebhookAlert{
		Status: gateway.StatusFiring, Labels: maps.Clone(labels), Annotations: maps.Clone(annotations),
		StartsAt: startsAt.UTC().Truncate(time.Second), GeneratorURL: "http://prometheus.monitoring:9090/graph?g0.expr=" + labels["alertname"],
		Fingerprint: gateway.Fingerprint(labels),
	}
}

// Resolved is the alert as Alertmanager reports it once it stopped firing at endsAt.
func Resolved(a gateway.WebhookAlert, endsAt time.Time) gateway.WebhookAlert {
	a.Status, a.EndsAt = gateway.StatusResolved, endsAt.UTC().Truncate(time.Second)
	return a
}

// Notification is Alertmanager's webhook payload (version 4) for one aggregation group of
// alerts, grouped by alertname and namespace as the usual routes do.
func Notification(alerts ...gateway.WebhookAlert) gateway.WebhookMessage {
	m := gateway.WebhookMessage{Version: "4", Receiver: "kubernaut", Status: gateway.StatusResolved, Alerts: alerts,
		NotificationReason: "first notification", GroupLabels: map[string]string{}, CommonLabels: map[string]string{},
		CommonAnnotations: map[string]string{}, ExternalURL: "http://alertmanager.monitoring:9093"}
	for _, a := range alerts {
		if a.Status == gateway.StatusFiring {
			m.Status = gateway.StatusFiring
		}
	}
	if len(alerts) > 0 {
		for k, v := range alerts[0].Labels {
			if all(alerts, func(a gateway.WebhookAlert) bool { return a.Labels[k] == v }) {
				m.CommonLabels[k] = v
			}
		}
		for k, v := range alerts[0].Annotations {
			if all(alerts, func(a gateway.WebhookAlert) bool { return a.Annotations[k] == v }) {
				m.CommonAnnotations[k] = v
			}
		}
		for _, k := range []string{"alertname", "namespace"} {
			if v, ok := m.CommonLabels[k]; ok {
				m.GroupLabels[k] = v
			}
		}
	}
	var group []string
	for _, k := range slices.Sorted(maps.Keys(m.GroupLabels)) {
		group = append(group, fmt.Sprintf("%s=%q", k, m.GroupLabels[k]))
	}
	m.GroupKey = "{}:{" + strings.Join(group, ", ") + "}"
	return m
}

func all(alerts []gateway.WebhookAlert, f func(gateway.WebhookAlert) bool) bool {
	for _, a := range alerts {
		if !f(a) {
			return false
		}
	}
	return true
}

// Sender posts notifications to a gateway as Alertmanager's webhook receiver does, with the
// bearer token of its http_config.
type Sender struct {
	// URL is the gateway's base URL.
	URL string
	// Token is the bearer token.
	Token string
	// HTTP is the client (http.DefaultClient when nil).
	HTTP *http.Client
}

// Delivery is the gateway's answer to one notification.
type Delivery struct {
	// Status is the HTTP status code.
	Status int
	// Body is the answer's body.
	Body string
}

// Send posts one notification to /api/v1/signals/alertmanager. An error means no answer
// (the connection failed); a refusal is a Delivery with its status.
func (s Sender) Send(ctx context.Context, m gateway.WebhookMessage) (Delivery, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return Delivery{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/signals/alertmanager", bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Alertmanager/0.28.1")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Delivery{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return Delivery{Status: resp.StatusCode, Body: string(data)}, nil
}

// Deliver sends a notification until the gateway accepts it (2xx), retrying on 5xx and on
// connection errors as Alertmanager does, until ctx ends. A 4xx is returned as an error at
// once: Alertmanager does not retry it either.
func (s Sender) Deliver(ctx context.Context, m gateway.WebhookMessage) error {
	var last string
	for {
		d, err := s.Send(ctx, m)
		switch {
		case err == nil && d.Status/100 == 2:
			return nil
		case err == nil && d.Status/100 == 4:
			return fmt.Errorf("the gateway refused the notification: %d %s", d.Status, d.Body)
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("%d %s", d.Status, d.Body)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("notification not delivered (last answer: %s): %w", last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
