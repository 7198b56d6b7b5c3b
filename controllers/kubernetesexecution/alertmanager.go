package kubernetesexecution

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Alertmanager asks Alertmanager (API v2) whether a remediation's alert still fires: after the
// last steps of a plan pass their own health checks, their verification also waits for the
// alert to leave Alertmanager.
type Alertmanager struct {
	// URL is Alertmanager's base URL (http://alertmanager.monitoring:9093).
	URL string
	// Client makes the requests; a 10 s timeout when nil.
	Client *http.Client
}

// gettableAlert is the part of Alertmanager's GettableAlert the check reads.
type gettableAlert struct {
	Fingerprint string `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// Firing reports whether the alert with this fingerprint is still in Alertmanager (active,
// silenced or inhibited: a silence does not mean the remediation worked).
func (a *Alertmanager) Firing(ctx context.Context, alertname, fingerprint string) (bool, error) {
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	q := url.Values{}
	q.Set("active", "true")
	q.Set("silenced", "true")
	q.Set("inhibited", "true")
	q.Add("filter", "alertname="+strconv.Quote(alertname))
	u := strings.TrimRight(a.URL, "/") + "/api/v2/alerts?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("asking Alertmanager: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false, fmt.Errorf("asking Alertmanager at %s: %w", a.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return false, fmt.Errorf("reading Alertmanager's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("Alertmanager answered %s: %s", resp.Status, kubernautv1.Truncate(string(body), 200))
	}
	var alerts []gettableAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return false, fmt.Errorf("Alertmanager's answer is not a list of alerts: %w", err)
	}
	for _, al := range alerts {
		if al.Fingerprint == fingerprint {
			return true, nil
		}
	}
	return false, nil
}

// alertOf returns the alert of a step's remediation, and whether the step is one of its plan's
// last (no other step waits for it): only those wait for the alert to resolve.
func (r *Reconciler) alertOf(ctx context.Context, ke *kubernautv1.KubernetesExecution) (name, fingerprint string, last bool, err error) {
	rrName := ke.Labels[kubernautv1.LabelRemediation]
	if rrName == "" || ke.Spec.Mode != kubernautv1.ExecutionModeExecute {
		return "", "", false, nil
	}
	if ref := ke.Spec.WorkflowExecutionRef; ref != nil {
		we := &kubernautv1.WorkflowExecution{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: ref.Name}, we); err != nil {
			return "", "", false, client.IgnoreNotFound(err)
		}
		for _, s := range we.Spec.Steps {
			for _, d := range s.DependsOn {
				if d == ke.Spec.StepName {
					return "", "", false, nil
				}
			}
		}
	}
	rr := &kubernautv1.RemediationRequest{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: rrName}, rr); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", false, nil
		}
		return "", "", false, fmt.Errorf("reading RemediationRequest %s: %w", rrName, err)
	}
	return rr.Spec.Signal.Name, rr.Spec.Signal.Fingerprint, true, nil
}
