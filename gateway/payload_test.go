package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeRealPayloads(t *testing.T) {
	msg, err := DecodeWebhook(bytes.NewReader(mustRead(t, "crashloop.json")), DefaultDecodeLimits)
	if err != nil {
		t.Fatal(err)
	}
	if msg.NotificationReason != "first notification" || msg.RouteLabels["team"] != "sre" || msg.GroupKey == "" {
		t.Errorf("the newer fields were not read: %+v", msg)
	}
	a := msg.Alerts[0]
	if !a.EndsAt.IsZero() {
		t.Errorf("a firing alert's endsAt 0001-01-01 must decode to the zero time, got %s", a.EndsAt)
	}
	if want := time.Date(2026, 11, 25, 10, 0, 7, 123e6, time.UTC); !a.StartsAt.Equal(want) {
		t.Errorf("startsAt = %s, want %s", a.StartsAt, want)
	}
	fp, errs := ValidateAlert(0, &a, DefaultDecodeLimits)
	if len(errs) > 0 || fp != "c1778740b11f7ae9" {
		t.Errorf("ValidateAlert = %q, %v; want the sent fingerprint and no error", fp, errs)
	}

	msg, err = DecodeWebhook(bytes.NewReader(mustRead(t, "mixed.json")), DefaultDecodeLimits)
	if err != nil {
		t.Fatal(err)
	}
	fp, errs = ValidateAlert(0, &msg.Alerts[0], DefaultDecodeLimits)
	if len(errs) > 0 || fp != Fingerprint(msg.Alerts[0].Labels) {
		t.Errorf("an alert without a fingerprint gets the one computed from its labels; got %q, %v", fp, errs)
	}
}

// referenceFingerprint is Alertmanager's algorithm written out from its description
// (REFERENCE §1.3): FNV-1a 64 over the label names sorted, each label hashed as name, 0xFF,
// value, 0xFF; rendered as 16 zero-padded lowercase hex digits.
func referenceFingerprint(labels map[string]string) string {
	const offset, prime = 14695981039346656037, 1099511628211
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	h := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff
		h *= prime
	}
	for _, n := range names {
		add(n)
		add(labels[n])
	}
	return fmt.Sprintf("%016x", h)
}

func TestFingerprintIsAlertmanagers(t *testing.T) {
	if got := Fingerprint(nil); got != "cbf29ce484222325" {
		t.Errorf("empty label set: %s, want the FNV-1a offset basis cbf29ce484222325", got)
	}
	for _, labels := range []map[string]string{
		{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-1"},
		{"alertname": "X"},
		{"a": "", "b": "ü", "__name__": "up"},
	} {
		if got, want := Fingerprint(labels), referenceFingerprint(labels); got != want {
			t.Errorf("Fingerprint(%v) = %s, want %s", labels, got, want)
		}
	}
}

func TestDecodeRefusesWhatCanNeverSucceed(t *testing.T) {
	valid := string(mustRead(t, "crashloop.json"))
	many := `{"version":"4","alerts":[` + strings.Repeat(`{"status":"firing"},`, 3) + `{"status":"firing"}]}`
	for _, tc := range []struct {
		name, body, pointer, detail string
	}{
		{"empty body", "", "", "empty body"},
		{"not JSON", "alert!", "", "malformed JSON at byte 1"},
		{"truncated", valid[:200], "", "truncated JSON document"},
		{"wrong type", `{"version":"4","alerts":{"status":"firing"}}`, "", "field alerts: want []gateway.WebhookAlert, got JSON object"},
		{"trailing data", `{"version":"4","alerts":[{}]} {}`, "", "trailing data"},
		{"version 3", strings.Replace(valid, `"version": "4"`, `"version": "3"`, 1), "/version", `unsupported webhook version "3"`},
		{"no alerts", `{"version":"4","alerts":[]}`, "/alerts", "no alerts"},
		{"too many alerts", many, "/alerts", "4 alerts, more than the limit of 3 per payload"},
		// encoding/json keeps the last of repeated keys: a sender could show a reader one
		// namespace and Kubernaut another.
		{"a repeated key", `{"version":"4","alerts":[{"status":"firing","labels":{"namespace":"shop","alertname":"X","namespace":"kube-system"}}]}`,
			"/alerts/0/labels/namespace", `key "namespace" repeated in one object at byte`},
		{"a repeated key, escaped", `{"version":"4","alerts":[{"labels":{"namespace":"shop","\u006eamespace":"kube-system"}}]}`,
			"/alerts/0/labels/namespace", `key "namespace" repeated`},
		{"a repeated top-level key", `{"version":"4","alerts":[],"version":"3"}`, "/version", `key "version" repeated`},
		{"the same key in two objects is fine, then too deep", `{"version":"4","alerts":[{"labels":{"a":"1"}},{"labels":{"a":"1"}}],"x":` +
			strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "/x" + strings.Repeat("/0", 31), "JSON nested deeper than 32 levels at byte"},
		// encoding/json replaced invalid UTF-8 with U+FFFD: a label Kubernaut stored was not
		// the label Alertmanager matched on.
		{"invalid UTF-8", "{\"version\":\"4\",\"alerts\":[{\"labels\":{\"pod\":\"web-\xff\"}}]}", "/alerts/0/labels/pod", "malformed JSON at byte 48: invalid UTF-8"},
		{"very deep", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), strings.Repeat("/0", 32), "JSON nested deeper than 32 levels at byte 33"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := DefaultDecodeLimits
			limits.MaxAlerts = 3
			_, err := DecodeWebhook(strings.NewReader(tc.body), limits)
			var pe *PayloadError
			if !errors.As(err, &pe) || !errors.Is(err, ErrPayload) {
				t.Fatalf("want a PayloadError, got %v", err)
			}
			if pe.Errors[0].Pointer != tc.pointer || !strings.Contains(pe.Errors[0].Detail, tc.detail) {
				t.Fatalf("got %+v, want pointer %q and detail containing %q", pe.Errors, tc.pointer, tc.detail)
			}
		})
	}
}

func TestValidateAlertNamesEveryProblem(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	longValue := strings.Repeat("v", 1025)
	for _, tc := range []struct {
		name  string
		alert WebhookAlert
		want  []string
	}{
		{"unknown status", WebhookAlert{Status: "pending", Labels: map[string]string{"alertname": "A"}, StartsAt: start},
			[]string{`/alerts/7/status: status "pending": want firing or resolved`}},
		{"no alertname", WebhookAlert{Status: "firing", Labels: map[string]string{"namespace": "x"}, StartsAt: start},
			[]string{"/alerts/7/labels/alertname: missing"}},
		{"no start", WebhookAlert{Status: "firing", Labels: map[string]string{"alertname": "A"}},
			[]string{"/alerts/7/startsAt: missing"}},
		{"resolved without end", WebhookAlert{Status: "resolved", Labels: map[string]string{"alertname": "A"}, StartsAt: start},
			[]string{"/alerts/7/endsAt: a resolved alert needs its end time"}},
		{"bad fingerprint", WebhookAlert{Status: "firing", Labels: map[string]string{"alertname": "A"}, StartsAt: start, Fingerprint: "ABC"},
			[]string{`/alerts/7/fingerprint: "ABC" is not 16 lowercase hex digits`}},
		{"another alert's fingerprint", WebhookAlert{Status: "resolved", Labels: map[string]string{"alertname": "A"}, StartsAt: start, EndsAt: start,
			Fingerprint: Fingerprint(map[string]string{"alertname": "B"})},
			[]string{"/alerts/7/fingerprint: " + Fingerprint(map[string]string{"alertname": "B"}) + " is not the fingerprint of the alert's labels (" +
				Fingerprint(map[string]string{"alertname": "A"}) + ")"}},
		{"long label value", WebhookAlert{Status: "firing", Labels: map[string]string{"alertname": "A", "a/b": longValue}, StartsAt: start},
			[]string{"/alerts/7/labels/a~1b: value of 1025 bytes, more than the limit of 1024"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := ValidateAlert(7, &tc.alert, DefaultDecodeLimits)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("got %q, want it to start with %q", got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzDecodeWebhook feeds arbitrary bodies to the decoder and the per-alert validation: they
// must never panic, and anything accepted must be bounded and well-formed.
func FuzzDecodeWebhook(f *testing.F) {
	for _, name := range []string{"crashloop.json", "mixed.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"A"},"startsAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[null]}`))
	limits := DecodeLimits{MaxAlerts: 20, MaxLabels: 16, MaxAnnotations: 8, MaxLabelValue: 256}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := DecodeWebhook(bytes.NewReader(body), limits)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("a decoding error must be a PayloadError, got %T %v", err, err)
			}
			return
		}
		if msg.Version != "4" || len(msg.Alerts) == 0 || len(msg.Alerts) > limits.MaxAlerts {
			t.Fatalf("accepted a payload outside the limits: version %q, %d alerts", msg.Version, len(msg.Alerts))
		}
		for i := range msg.Alerts {
			sig, errs := buildSignal(i, msg, &msg.Alerts[i], limits)
			if len(errs) > 0 {
				continue
			}
			if !fingerprintRE.MatchString(sig.Fingerprint) || sig.Name == "" || len(sig.Annotations) > maxAnnotations {
				t.Fatalf("accepted an alert that breaks the RemediationRequest's rules: %+v", sig)
			}
			for _, v := range sig.Annotations {
				if len(v) > maxAnnotationValue {
					t.Fatalf("annotation of %d bytes kept", len(v))
				}
			}
		}
	})
}

// Label names are bounded like values; annotations are truncated, never a reason to refuse.
func TestLabelNamesBoundedAnnotationsTruncated(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	a := WebhookAlert{Status: StatusFiring, StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Labels: map[string]string{"alertname": "A", long: "x"}, Annotations: map[string]string{}}
	_, errs := ValidateAlert(0, &a, DefaultDecodeLimits)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "a label name of 1048576 bytes, more than the limit of 256") || len(errs[0].Pointer) > 100 {
		t.Fatalf("errors %+v", errs)
	}
	delete(a.Labels, long)
	for i := range 100 {
		a.Annotations[fmt.Sprintf("note-%03d", i)] = strings.Repeat("n", 10000)
	}
	a.Annotations[long] = "dropped"
	if _, errs := ValidateAlert(0, &a, DefaultDecodeLimits); len(errs) != 0 {
		t.Fatalf("100 annotations refused: %+v", errs)
	}
	kept := boundAnnotations(a.Annotations)
	if len(kept) != maxAnnotations || kept["note-000"] == "" || len(kept["note-000"]) > maxAnnotationValue {
		t.Fatalf("kept %d annotations", len(kept))
	}
	if _, ok := kept[long]; ok {
		t.Fatal("a 1 MiB annotation name was kept")
	}
}

// BenchmarkDecodeWebhook measures the decode of a 100-alert notification, and the depth scan
// that runs before it alone: their ratio is the scan's cost.
func BenchmarkDecodeWebhook(b *testing.B) {
	one := `{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"web-%d","severity":"critical"},` +
		`"annotations":{"summary":"crash looping"},"startsAt":"2026-12-06T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":""}`
	var alerts []string
	for i := range 100 {
		alerts = append(alerts, fmt.Sprintf(one, i))
	}
	body := []byte(`{"version":"4","status":"firing","receiver":"kubernaut","groupLabels":{},"commonLabels":{},"commonAnnotations":{},` +
		`"externalURL":"http://am","groupKey":"{}:{}","truncatedAlerts":0,"alerts":[` + strings.Join(alerts, ",") + `]}`)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := DecodeWebhook(bytes.NewReader(body), DefaultDecodeLimits); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("depth-scan-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if tooDeep(body) {
				b.Fatal("too deep")
			}
		}
	})
}
