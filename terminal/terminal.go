// Package terminal is Kubernaut's one way of saying "no retry will cure this": a failure is
// marked where it is known with controller-runtime's reconcile.TerminalError (the
// ecosystem's mark: controller-runtime does not requeue it and counts it in
// controller_runtime_terminal_reconcile_errors_total), and tested with Is. Every error not
// marked is transient: returned, and the request retried with backoff. The rule for
// contributors is in docs/errors.md.
package terminal

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// marker is the text controller-runtime puts before a terminal error's own.
const marker = "terminal error: "

// Error marks err as one no retry can cure (nil stays nil; a marked error is not marked twice).
func Error(err error) error {
	if err == nil || Is(err) {
		return err
	}
	return reconcile.TerminalError(err)
}

// Errorf is fmt.Errorf marked as terminal; %w keeps the cause in the chain.
func Errorf(format string, args ...any) error {
	return reconcile.TerminalError(fmt.Errorf(format, args...))
}

// Is reports whether err, or an error it wraps, is marked terminal.
func Is(err error) bool {
	return err != nil && errors.Is(err, reconcile.TerminalError(nil))
}

// Message is err's text as a person reads it in a condition or an event: without the
// marker controller-runtime puts in front of a terminal error's own text.
func Message(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), marker, "")
}

// API marks an API server's answer terminal when it says the request itself is wrong — it
// is invalid, malformed, forbidden, names an object that does not exist, or uses a method or
// media type the resource does not take — so that sending it again cannot succeed. Any other
// answer (a conflict, 429, 5xx, a timeout, a broken connection) is returned as it is:
// transient.
func API(err error) error {
	if err == nil || Is(err) {
		return err
	}
	if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) ||
		apierrors.IsMethodNotSupported(err) || apierrors.IsUnsupportedMediaType(err) {
		return reconcile.TerminalError(err)
	}
	return err
}
