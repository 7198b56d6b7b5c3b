package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Delivered is one alert of a webhook notification, as Alertmanager's webhook receiver gets
// it.
type Delivered struct {
	// Status is firing or resolved.
	Status string `json:"status"`
	// Labels and Annotations are the alert's.
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// AlertReceiver is a webhook receiver (webhook_configs) that keeps what Alertmanager sends.
type AlertReceiver struct {
	// URL is where Alertmanager posts.
	URL  string
	mu   sync.Mutex
	got  []Delivered
	errs []error
	srv  *httptest.Server
}

// NewAlertReceiver starts a receiver on a loopback port; Close stops it.
func NewAlertReceiver() *AlertReceiver {
	r := &AlertReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var msg struct {
			Version string      `json:"version"`
			Alerts  []Delivered `json:"alerts"`
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := json.Unmarshal(body, &msg); err != nil || msg.Version != "4" {
			r.errs = append(r.errs, fmt.Errorf("not a webhook notification (version %q): %v: %s", msg.Version, err, body))
		}
		r.got = append(r.got, msg.Alerts...)
	}))
	r.URL = r.srv.URL
	return r
}

// Close stops the receiver.
func (r *AlertReceiver) Close() { r.srv.Close() }

// Find returns the delivered alerts named alertname in status (firing, resolved) whose labels
// include match.
func (r *AlertReceiver) Find(alertname, status string, match map[string]string) []Delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Delivered
	for _, a := range r.got {
		if a.Labels["alertname"] != alertname || a.Status != status {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && a.Labels[k] == v
		}
		if ok {
			out = append(out, a)
		}
	}
	return out
}

// Errors are the requests that were not webhook notifications.
func (r *AlertReceiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}
