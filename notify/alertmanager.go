package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
	return post(ctx, a.Client, strings.TrimRight(a.URL, "/")+"/api/v2/alerts", "Alertmanager", "application/json", body)
}
