package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// AlertmanagerPath is where Alertmanager's webhook posts.
const AlertmanagerPath = "/api/v1/signals/alertmanager"

// Bounds of what a RemediationRequest keeps of an alert (the CRD enforces the same).
const (
	maxAnnotations     = 32
	maxAnnotationValue = 4096
	maxAnnotationName  = 256
	maxURL             = 2048
)

// SignalRecorder records validated signals; *Recorder is the real one.
type SignalRecorder interface {
	// Record records the signals of one delivery; the i-th result is the i-th signal's.
	Record(ctx context.Context, signals []Signal) []Recorded
}

// Result says what the gateway did with the alerts of one payload.
type Result struct {
	// Alerts in the payload.
	Alerts int `json:"alerts"`
	// Created remediations.
	Created int `json:"created"`
	// Duplicates counted on an existing remediation.
	Duplicates int `json:"duplicates"`
	// StormMembers folded into a storm remediation.
	StormMembers int `json:"stormMembers"`
	// Resolved remediations marked resolved.
	Resolved int `json:"resolved"`
	// ResolvedUnknown resolved alerts with no remediation.
	ResolvedUnknown int `json:"resolvedUnknown"`
	// Invalid alerts refused (see the problem's errors).
	Invalid int `json:"invalid"`
	// Failed alerts that could not be written now (retry).
	Failed int `json:"failed"`
	// RemediationRequests are the names written or counted, in alert order.
	RemediationRequests []string `json:"remediationRequests,omitempty"`
}

func (r *Result) add(o Outcome, name string) {
	switch o {
	case OutcomeCreated:
		r.Created++
	case OutcomeDuplicate:
		r.Duplicates++
	case OutcomeStormMember:
		r.StormMembers++
	case OutcomeResolved:
		r.Resolved++
	case OutcomeUnknown:
		r.ResolvedUnknown++
	}
	if name != "" {
		r.RemediationRequests = append(r.RemediationRequests, name)
	}
}

// handleAlertmanager receives one webhook delivery. It answers 2xx only when every valid
// alert is written or counted; 503 when any could not be written (Alertmanager retries the
// whole payload, and what was written is recognised as a duplicate); 400 when some alerts
// can never be accepted (the others are recorded and counted in the result).
func (s *Server) handleAlertmanager(c *gin.Context) {
	outcome := "ok"
	defer func() { c.Set(outcomeKey, outcome) }()

	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/json" {
		outcome = "unsupported-media-type"
		s.metrics.reject(outcome)
		writeProblem(c, Problem{Type: ProblemUnsupported, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Type %q: want application/json", c.GetHeader("Content-Type"))})
		return
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	msg, err := DecodeWebhook(body, s.cfg.Limits)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		outcome = "too-large"
		s.metrics.reject(outcome)
		writeProblem(c, Problem{Type: ProblemTooLarge, Title: "Payload too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body is larger than %d bytes", s.cfg.MaxBodyBytes)})
		return
	case errors.Is(err, ErrPayload):
		outcome = "invalid"
		s.metrics.reject("invalid-payload")
		var pe *PayloadError
		errors.As(err, &pe)
		writeProblem(c, Problem{Type: ProblemInvalid, Title: "Invalid webhook payload", Status: http.StatusBadRequest,
			Detail: pe.Error(), Errors: pe.Errors})
		return
	case err != nil:
		outcome = "read-error"
		s.metrics.reject(outcome)
		writeProblem(c, Problem{Type: ProblemInvalid, Title: "Unreadable body", Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}

	res := &Result{Alerts: len(msg.Alerts)}
	var fieldErrs []FieldError
	var transient []string
	signals := make([]Signal, 0, len(msg.Alerts))
	at := make([]int, 0, len(msg.Alerts)) // the alert index of each signal
	for i := range msg.Alerts {
		sig, errs := buildSignal(i, msg, &msg.Alerts[i], s.cfg.Limits)
		if len(errs) > 0 {
			res.Invalid++
			fieldErrs = append(fieldErrs, errs...)
			s.metrics.signal("invalid")
			continue
		}
		signals = append(signals, sig)
		at = append(at, i)
	}
	for j, r := range s.recorder.Record(c.Request.Context(), signals) {
		sig, i, err := &signals[j], at[j], r.Err
		switch {
		case err == nil:
			res.add(r.Outcome, r.Name)
			s.metrics.signal(string(r.Outcome))
			if lvl := levelOf(r.Outcome); lvl == 0 || s.log.V(lvl).Enabled() {
				// News at info level; a duplicate or a storm member is a count on a remediation.
				s.log.V(lvl).Info("alert recorded", "alertname", sig.Name, "fingerprint", sig.Fingerprint, "target", sig.Target.String(),
					"groupKey", msg.GroupKey, "outcome", r.Outcome, "remediationRequest", r.Name)
			}
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsRequestEntityTooLargeError(err):
			// No retry can cure it: a 503 would make Alertmanager resend it forever.
			s.log.Error(err, "the API server refused the alert's RemediationRequest", "alertname", sig.Name, "fingerprint", sig.Fingerprint, "target", sig.Target.String())
			res.Invalid++
			fieldErrs = append(fieldErrs, FieldError{Pointer: fmt.Sprintf("/alerts/%d", i), Detail: "refused by the API server: " + err.Error()})
			s.metrics.signal("invalid")
		default:
			s.log.Error(err, "cannot record the alert now; answering 503 so Alertmanager retries", "alertname", sig.Name, "fingerprint", sig.Fingerprint, "target", sig.Target.String())
			res.Failed++
			transient = append(transient, fmt.Sprintf("alert %d: %v", i, err))
			s.metrics.signal("failed")
		}
	}
	switch {
	case len(transient) > 0:
		outcome = "unavailable"
		writeUnavailable(c, ProblemUnavailable, "Cannot record alerts now",
			fmt.Sprintf("%d of %d alerts could not be written; retry: %s", len(transient), len(msg.Alerts), strings.Join(transient, "; ")),
			s.cfg.RetryAfter, res)
	case len(fieldErrs) > 0:
		outcome = "partially-invalid"
		sortFieldErrors(fieldErrs)
		writeProblem(c, Problem{Type: ProblemInvalid, Title: "Invalid alerts", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%d of %d alerts are invalid and were not recorded; the others were", res.Invalid, len(msg.Alerts)),
			Errors: fieldErrs, Result: res})
	default:
		c.JSON(http.StatusOK, res)
	}
}

// levelOf is the log level of an alert recorded with outcome o: info for a new remediation
// or a resolution, debug for a count on an existing one.
func levelOf(o Outcome) int {
	if o == OutcomeDuplicate || o == OutcomeStormMember {
		return 1
	}
	return 0
}

// buildSignal validates one alert and turns it into a Signal bounded to what a
// RemediationRequest keeps.
func buildSignal(i int, msg *WebhookMessage, a *WebhookAlert, limits DecodeLimits) (Signal, []FieldError) {
	fp, errs := ValidateAlert(i, a, limits)
	target, err := ExtractTarget(a.Labels)
	if err != nil {
		errs = append(errs, FieldError{Pointer: fmt.Sprintf("/alerts/%d/labels", i), Detail: err.Error()})
	}
	if name := a.Labels["alertname"]; len(name) > 253 {
		errs = append(errs, FieldError{Pointer: fmt.Sprintf("/alerts/%d/labels/alertname", i), Detail: "longer than 253 characters"})
	}
	if len(errs) > 0 {
		return Signal{}, errs
	}
	return Signal{
		Signal: kubernautv1.Signal{
			Fingerprint:  fp,
			Name:         a.Labels["alertname"],
			Source:       kubernautv1.SignalSourceAlertmanager,
			Severity:     NormalizeSeverity(a.Labels["severity"]),
			Labels:       a.Labels,
			Annotations:  boundAnnotations(a.Annotations),
			StartsAt:     metav1.NewTime(a.StartsAt.UTC().Truncate(time.Second)),
			GeneratorURL: kubernautv1.Truncate(a.GeneratorURL, maxURL),
			ExternalURL:  kubernautv1.Truncate(msg.ExternalURL, maxURL),
			GroupKey:     kubernautv1.Truncate(msg.GroupKey, maxURL),
			Receiver:     kubernautv1.Truncate(msg.Receiver, 253),
		},
		Target: target,
		Firing: a.Status == StatusFiring,
		EndsAt: a.EndsAt,
	}, nil
}

// boundAnnotations keeps at most maxAnnotations annotations (in key order) with values of at
// most maxAnnotationValue bytes; names longer than maxAnnotationName are dropped. Nothing is
// refused: annotations are for people, and a 4xx would lose the alert.
func boundAnnotations(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		if len(k) <= maxAnnotationName {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	if len(keys) > maxAnnotations {
		keys = keys[:maxAnnotations]
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = kubernautv1.Truncate(in[k], maxAnnotationValue)
	}
	return out
}
