package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	json2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/common/model"
)

// WebhookMessage is Alertmanager's webhook payload, version 4 (notify/webhook.Message and
// template.Data in Alertmanager v0.34). The newer keys (notification_reason, routeLabels) are
// optional: older Alertmanagers omit them.
type WebhookMessage struct {
	// Version is always "4".
	Version string `json:"version"`
	// GroupKey identifies the aggregation group; opaque.
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts the alerts left out by max_alerts.
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
	// Receiver is the receiver's name, regexp-quoted by Alertmanager.
	Receiver string `json:"receiver"`
	// Status is "firing" when any alert fires, else "resolved".
	Status string `json:"status"`
	// Alerts of the group, firing and resolved.
	Alerts []WebhookAlert `json:"alerts"`
	// NotificationReason says why this notification was sent (since v0.32).
	NotificationReason string `json:"notification_reason,omitempty"`
	// GroupLabels are the values of the route's group_by labels.
	GroupLabels map[string]string `json:"groupLabels"`
	// CommonLabels are the labels every alert shares.
	CommonLabels map[string]string `json:"commonLabels"`
	// CommonAnnotations are the annotations every alert shares.
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	// RouteLabels are the route's labels (since v0.34).
	RouteLabels map[string]string `json:"routeLabels,omitempty"`
	// ExternalURL is the Alertmanager's external URL.
	ExternalURL string `json:"externalURL"`
}

// WebhookAlert is one alert of a webhook payload.
type WebhookAlert struct {
	// Status is "firing" or "resolved".
	Status string `json:"status"`
	// Labels identify the alert.
	Labels map[string]string `json:"labels"`
	// Annotations describe it.
	Annotations map[string]string `json:"annotations"`
	// StartsAt is when it started firing.
	StartsAt time.Time `json:"startsAt"`
	// EndsAt is when it resolved; the zero time while firing.
	EndsAt time.Time `json:"endsAt"`
	// GeneratorURL links to the rule's expression.
	GeneratorURL string `json:"generatorURL"`
	// Fingerprint is the hash of the labels (16 hex digits).
	Fingerprint string `json:"fingerprint"`
}

// Alert statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// FieldError is a problem with one field of a payload: where (a JSON pointer such as
// /alerts/3/labels/alertname) and what.
type FieldError struct {
	// Pointer locates the field (RFC 6901).
	Pointer string `json:"pointer"`
	// Detail says what is wrong.
	Detail string `json:"detail"`
}

func (e FieldError) Error() string { return e.Pointer + ": " + e.Detail }

// DecodeLimits bound what one payload may hold.
type DecodeLimits struct {
	// MaxAlerts is the most alerts one payload may carry.
	MaxAlerts int
	// MaxLabels is the most labels one alert may carry.
	MaxLabels int
	// MaxAnnotations is unused: an alert's annotations are never refused, only truncated to
	// what a RemediationRequest keeps (boundAnnotations), since Alertmanager drops a 4xx for good.
	MaxAnnotations int
	// MaxLabelValue is the longest label value accepted.
	MaxLabelValue int
	// MaxLabelName is the longest label name accepted (three 1 MiB names made a
	// RemediationRequest the API server refused, which became a 503 retried forever).
	MaxLabelName int
}

// DefaultDecodeLimits are generous for real Alertmanager payloads.
var DefaultDecodeLimits = DecodeLimits{MaxAlerts: 1000, MaxLabels: 64, MaxAnnotations: 32, MaxLabelValue: 1024, MaxLabelName: 256}

// ErrPayload marks an error that no retry can fix: the request is malformed.
var ErrPayload = errors.New("invalid payload")

// DecodeWebhook parses a version 4 payload. A malformed document or a payload-level problem
// (version, alert count) is returned as an error wrapping ErrPayload with its FieldErrors;
// problems with single alerts do not fail the payload: they are returned per alert index by
// ValidateAlert so the good alerts can still be recorded.
func DecodeWebhook(r io.Reader, limits DecodeLimits) (*WebhookMessage, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if tooDeep(data) {
		// The slow walk names where; the fast scan only says whether.
		if fe := depthError(data); fe != nil {
			return nil, &PayloadError{Errors: []FieldError{*fe}}
		}
	}
	// One pass: encoding/json v2 (github.com/go-json-experiment/json) refuses a repeated key
	// (compared unescaped) and invalid UTF-8 itself, at twice encoding/json's speed; the
	// repeated-key scan before encoding/json cost a third of the decode (make bench-gateway).
	var msg WebhookMessage
	if err := json2.Unmarshal(data, &msg); err != nil {
		return nil, &PayloadError{Errors: []FieldError{jsonError(err, data)}}
	}
	var errs []FieldError
	if msg.Version != "4" {
		errs = append(errs, FieldError{"/version", fmt.Sprintf("unsupported webhook version %q: want \"4\"", msg.Version)})
	}
	if len(msg.Alerts) == 0 {
		errs = append(errs, FieldError{"/alerts", "no alerts"})
	}
	if limits.MaxAlerts > 0 && len(msg.Alerts) > limits.MaxAlerts {
		errs = append(errs, FieldError{"/alerts", fmt.Sprintf("%d alerts, more than the limit of %d per payload", len(msg.Alerts), limits.MaxAlerts)})
	}
	if len(errs) > 0 {
		return nil, &PayloadError{Errors: errs}
	}
	return &msg, nil
}

// PayloadError is a payload that can never be accepted.
type PayloadError struct {
	// Errors say what is wrong and where.
	Errors []FieldError
}

func (e *PayloadError) Error() string {
	if len(e.Errors) == 1 {
		return "invalid payload: " + e.Errors[0].Error()
	}
	return fmt.Sprintf("invalid payload: %d problems, first %s", len(e.Errors), e.Errors[0].Error())
}

// Unwrap makes errors.Is(err, ErrPayload) true.
func (e *PayloadError) Unwrap() error { return ErrPayload }

// jsonError describes a decode error: where (a JSON pointer, when the decoder knows one) and
// what, with the byte offset.
func jsonError(err error, data []byte) FieldError {
	var syn *jsontext.SyntacticError
	var sem *json2.SemanticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if len(bytes.TrimSpace(data)) == 0 {
			return FieldError{Detail: "empty body"}
		}
		return FieldError{Detail: "truncated JSON document"}
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return FieldError{Pointer: string(syn.JSONPointer), Detail: fmt.Sprintf("key %q repeated in one object at byte %d", syn.JSONPointer.LastToken(), syn.ByteOffset+1)}
	case errors.As(err, &syn) && syn.JSONPointer == "" && syn.ByteOffset > 0 && len(bytes.TrimSpace(data[syn.ByteOffset:])) > 0 && validPrefix(data[:syn.ByteOffset]):
		return FieldError{Detail: fmt.Sprintf("trailing data after the JSON document at byte %d", syn.ByteOffset+1)}
	case errors.As(err, &syn):
		return FieldError{Pointer: string(syn.JSONPointer), Detail: fmt.Sprintf("malformed JSON at byte %d: %v", syn.ByteOffset+1, syn.Err)}
	case errors.As(err, &sem):
		field := strings.TrimPrefix(string(sem.JSONPointer), "/")
		if field == "" {
			field = "(document)"
		}
		return FieldError{Detail: fmt.Sprintf("field %s: want %v, got JSON %s at byte %d", strings.ReplaceAll(field, "/", "."), sem.GoType, kindName(sem.JSONKind), sem.ByteOffset+1)}
	default:
		return FieldError{Detail: err.Error()}
	}
}

// validPrefix reports whether b is one whole JSON value (what came before trailing data).
func validPrefix(b []byte) bool { return jsontext.Value(b).IsValid() }

// kindName names a JSON kind as a person says it.
func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "value"
}

// tooDeep reports whether the document nests deeper than maxJSONDepth: one tight pass over
// the bytes, skipping strings.
func tooDeep(data []byte) bool {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return true
			}
		case '}', ']':
			depth--
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}

// ValidateAlert checks one alert and returns its fingerprint: the one Alertmanager sent, or
// the one computed from the labels (prometheus/common/model, as Alertmanager does) when it
// sent none. Problems are reported with JSON pointers below /alerts/<index>.
func ValidateAlert(i int, a *WebhookAlert, limits DecodeLimits) (string, []FieldError) {
	at := func(field string) string { return fmt.Sprintf("/alerts/%d%s", i, field) }
	var errs []FieldError
	switch a.Status {
	case StatusFiring, StatusResolved:
	default:
		errs = append(errs, FieldError{at("/status"), fmt.Sprintf("status %q: want firing or resolved", a.Status)})
	}
	if a.Labels["alertname"] == "" {
		errs = append(errs, FieldError{at("/labels/alertname"), "missing: every alert needs an alertname label"})
	}
	if limits.MaxLabels > 0 && len(a.Labels) > limits.MaxLabels {
		errs = append(errs, FieldError{at("/labels"), fmt.Sprintf("%d labels, more than the limit of %d", len(a.Labels), limits.MaxLabels)})
	}
	for k, v := range a.Labels {
		switch {
		case limits.MaxLabelName > 0 && len(k) > limits.MaxLabelName:
			errs = append(errs, FieldError{at("/labels/" + escapePointer(strings.ToValidUTF8(k[:64], "")+"…")),
				fmt.Sprintf("a label name of %d bytes, more than the limit of %d", len(k), limits.MaxLabelName)})
			continue
		case !model.LabelName(k).IsValid():
			errs = append(errs, FieldError{at("/labels/" + escapePointer(k)), "not a valid Prometheus label name"})
		}
		if limits.MaxLabelValue > 0 && len(v) > limits.MaxLabelValue {
			errs = append(errs, FieldError{at("/labels/" + escapePointer(k)), fmt.Sprintf("value of %d bytes, more than the limit of %d", len(v), limits.MaxLabelValue)})
		}
	}
	if a.StartsAt.IsZero() {
		errs = append(errs, FieldError{at("/startsAt"), "missing"})
	}
	if a.Status == StatusResolved && a.EndsAt.IsZero() {
		errs = append(errs, FieldError{at("/endsAt"), "a resolved alert needs its end time"})
	}
	fp := a.Fingerprint
	switch own := Fingerprint(a.Labels); {
	case fp == "":
		fp = own
	case !fingerprintRE.MatchString(fp):
		errs = append(errs, FieldError{at("/fingerprint"), fmt.Sprintf("%q is not 16 lowercase hex digits", fp)})
	case fp != own:
		// Alertmanager's fingerprint is its labels' (prometheus/common/model): another would let
		// one alert fold into, or resolve, another alert's remediation.
		errs = append(errs, FieldError{at("/fingerprint"), fmt.Sprintf("%s is not the fingerprint of the alert's labels (%s)", fp, own)})
	}
	sortFieldErrors(errs)
	return fp, errs
}

// Fingerprint is Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted labels,
// as 16 hex digits (prometheus/common/model).
func Fingerprint(labels map[string]string) string {
	// LabelSet.Fingerprint's hash, without copying the labels into a LabelSet.
	return model.Fingerprint(model.LabelsToSignature(labels)).String()
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '~':
			b.WriteString("~0")
		case '/':
			b.WriteString("~1")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxJSONDepth bounds how deep a payload nests: Alertmanager's is four levels deep.
const maxJSONDepth = 32

// depthError names where the document nests deeper than maxJSONDepth (its JSON pointer and
// byte offset), or nil. It runs only when tooDeep said so: the decoder refuses repeated keys
// itself, so this walk is needed only to say where a document is too deep. Syntax errors are
// left to the decoder, which names them.
func depthError(data []byte) *FieldError {
	type frame struct {
		object bool
		key    string
		index  int
		expect bool // an object's next string is a key
	}
	var stack []frame
	pointer := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.object {
				b.WriteString("/" + escapePointer(f.key))
			} else {
				fmt.Fprintf(&b, "/%d", f.index)
			}
		}
		return b.String()
	}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return &FieldError{Pointer: pointer(), Detail: fmt.Sprintf("JSON nested deeper than %d levels at byte %d", maxJSONDepth, i+1)}
			}
			stack = append(stack, frame{object: c == '{', expect: c == '{'})
		case '}', ']':
			if len(stack) == 0 {
				return nil // malformed: the decoder says where
			}
			stack = stack[:len(stack)-1]
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].expect = true
				} else {
					stack[n-1].index++
				}
			}
		case '"':
			start := i
			escaped := false
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					escaped = true
					i++
				}
			}
			if i >= len(data) {
				return nil // unterminated: the decoder says where
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expect {
				top := &stack[n-1]
				top.expect = false
				top.key = string(data[start+1 : i])
				if escaped {
					_ = json.Unmarshal(data[start:i+1], &top.key)
				}
			}
		}
	}
	return nil
}
