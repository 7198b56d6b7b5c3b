package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTokens(t *testing.T, path, content string) {
	t.Helper()
	// Replace the file the way a Secret volume does: write elsewhere, then rename.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, path, "# current\nold-token\n\n")
	tf, err := NewTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := tf.Authenticate(ctx, "old-token"); err != nil {
		t.Fatalf("old-token: %v", err)
	}
	for _, bad := range []string{"", "old-toke", "old-token ", "# current", "OLD-TOKEN"} {
		if _, err := tf.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("token %q accepted (%v)", bad, err)
		}
	}

	// Rotation: both tokens valid while Alertmanager's configuration is updated.
	writeTokens(t, path, "old-token\nnew-token\n")
	if changed, err := tf.Reload(); err != nil || !changed {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	for _, tok := range []string{"old-token", "new-token"} {
		if _, err := tf.Authenticate(ctx, tok); err != nil {
			t.Errorf("%s during rotation: %v", tok, err)
		}
	}
	writeTokens(t, path, "new-token\n")
	if _, err := tf.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := tf.Authenticate(ctx, "old-token"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("old-token still accepted after rotation")
	}

	// A broken update keeps the previous tokens in force.
	writeTokens(t, path, "# nothing\n")
	if _, err := tf.Reload(); err == nil || !strings.Contains(err.Error(), "holds no token") {
		t.Fatalf("an empty token file must be refused, got %v", err)
	}
	if _, err := tf.Authenticate(ctx, "new-token"); err != nil {
		t.Errorf("the previous tokens must stay valid after a bad update: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := tf.Reload(); err == nil {
		t.Fatal("a missing token file must be reported")
	}
	if _, err := tf.Authenticate(ctx, "new-token"); err != nil {
		t.Errorf("the previous tokens must stay valid when the file disappears: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "Bearer  abc ": "abc",
		"Basic YWxhZGRpbjpvcGVu": "", "Bearer": "", "Bearer ": "", "": "", "abc": "",
	} {
		got, ok := bearerToken(header)
		if got != want || ok != (want != "") {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", header, got, ok, want)
		}
	}
}

type authFunc func(context.Context, string) (string, error)

func (f authFunc) Authenticate(ctx context.Context, t string) (string, error) { return f(ctx, t) }

func TestAnyOf(t *testing.T) {
	ok := authFunc(func(context.Context, string) (string, error) { return "am", nil })
	unknown := authFunc(func(context.Context, string) (string, error) { return "", ErrUnauthenticated })
	denied := authFunc(func(context.Context, string) (string, error) { return "", ErrForbidden })
	down := authFunc(func(context.Context, string) (string, error) { return "", errors.New("apiserver unreachable") })
	for _, tc := range []struct {
		name string
		a    AnyOf
		want error
	}{
		{"first refuses, second accepts", AnyOf{unknown, ok}, nil},
		{"nobody knows the token", AnyOf{unknown, unknown}, ErrUnauthenticated},
		{"empty", AnyOf{}, ErrUnauthenticated},
		{"known but denied", AnyOf{unknown, denied}, ErrForbidden},
		{"undecided: retry", AnyOf{unknown, down}, nil},
		{"accepted despite an outage elsewhere", AnyOf{down, ok}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.a.Authenticate(context.Background(), "t")
			switch {
			case tc.name == "undecided: retry":
				if err == nil || errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) {
					t.Fatalf("want the outage's error (a 503), got %v", err)
				}
			case !errors.Is(err, tc.want) || (tc.want == nil && err != nil):
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
