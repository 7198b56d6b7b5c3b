package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Sink delivers alerts.
type Sink interface {
	// Post delivers alerts (firing or resolved, as their EndsAt says) at once; an error means
	// none may have arrived, and the caller posts them again.
	Post(ctx context.Context, alerts []Alert) error
}

// Alertmanager posts alerts to Alertmanager's API v2 (POST /api/v2/alerts).
type Alertmanager struct {
	// URL is Alertmanager's base URL (http://alertmanager.monitoring:9093).
	URL string
	// Client makes the requests; a 10 s timeout when nil.
	Client *http.Client
}

// Post sends the alerts in one request.
func (a *Alertmanager) Post(ctx context.Context, alerts []Alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encoding %d alerts: %w", len(alerts), err)
	}
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	u := strings.TrimRight(a.URL, "/") + "/api/v2/alerts"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("posting alerts to Alertmanager: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("posting alerts to Alertmanager at %s: %w", a.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Alertmanager at %s answered %s: %s", a.URL, resp.Status, kubernautv1.Truncate(strings.TrimSpace(string(answer)), 300))
	}
	return nil
}
