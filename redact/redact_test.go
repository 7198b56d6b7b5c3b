package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in, keep string
		secret   string
	}{
		{"connecting with password=hunter2 to db", "connecting with password=", "hunter2"},
		{`{"api_key": "abc123def456"}`, `"api_key": `, "abc123def456"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig123", "Authorization", "eyJhbGciOiJIUzI1NiJ9"},
		{"aws AKIAIOSFODNN7EXAMPLE used", "aws ", "AKIAIOSFODNN7EXAMPLE"},
		{"dsn postgres://app:s3cr3t@db:5432/app", "postgres://app:", "s3cr3t"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "", "MIIEow"},
		{"token: ghp_abcdefghijklmnopqrstuvwxyz012345", "token: ", "ghp_abcdefghijklmnop"},
	} {
		out, n := String(tc.in)
		if n == 0 || strings.Contains(out, tc.secret) || !strings.Contains(out, tc.keep) || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("String(%q) = %q (%d); want %q gone and %q kept", tc.in, out, n, tc.secret, tc.keep)
		}
	}
	clean := "panic: runtime error: index out of range [3] with length 3"
	if out, n := String(clean); n != 0 || out != clean {
		t.Errorf("a line without secrets changed: %q (%d)", out, n)
	}
}
