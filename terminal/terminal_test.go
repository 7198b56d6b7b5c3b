package terminal

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestMarkedErrorsAreControllerRuntimes(t *testing.T) {
	cause := errors.New("template missing")
	err := fmt.Errorf("planning: %w", Errorf("the cluster has no %s: %w", "template", cause))
	if !Is(err) || !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("%v: not terminal through a wrap", err)
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is lost")
	}
	if got, want := Message(err), "planning: the cluster has no template: template missing"; got != want {
		t.Fatalf("Message = %q, want %q", got, want)
	}
	if twice := Error(Error(cause)); Message(twice) != "template missing" || twice.Error() != "terminal error: template missing" {
		t.Fatalf("marked twice: %q", twice.Error())
	}
	if Is(cause) || Is(nil) || Error(nil) != nil || Message(nil) != "" {
		t.Fatal("an unmarked or nil error is terminal")
	}
}

func TestAPIAnswers(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for name, tc := range map[string]struct {
		err      error
		terminal bool
	}{
		"not found":           {apierrors.NewNotFound(gr, "web"), true},
		"forbidden":           {apierrors.NewForbidden(gr, "web", errors.New("no")), true},
		"invalid":             {apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web", nil), true},
		"bad request":         {apierrors.NewBadRequest("no"), true},
		"method unsupported":  {apierrors.NewMethodNotSupported(gr, "patch"), true},
		"conflict":            {apierrors.NewConflict(gr, "web", errors.New("changed")), false},
		"too many requests":   {apierrors.NewTooManyRequests("slow down", 1), false},
		"internal error":      {apierrors.NewInternalError(errors.New("etcd")), false},
		"server timeout":      {apierrors.NewServerTimeout(gr, "patch", 1), false},
		"unavailable":         {apierrors.NewServiceUnavailable("restarting"), false},
		"a broken connection": {errors.New("connection refused"), false},
		"wrapped not found":   {fmt.Errorf("reading web: %w", apierrors.NewNotFound(gr, "web")), true},
	} {
		t.Run(name, func(t *testing.T) {
			got := API(tc.err)
			if Is(got) != tc.terminal {
				t.Fatalf("API(%v) terminal = %v, want %v", tc.err, Is(got), tc.terminal)
			}
			if !errors.Is(got, tc.err) {
				t.Fatal("the API server's answer is lost")
			}
		})
	}
	if API(nil) != nil {
		t.Fatal("API(nil) != nil")
	}
}
