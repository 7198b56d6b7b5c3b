// Package rego holds Kubernaut's Rego (v1) policies — classification now; approval and
// safety with their issues — embedded in the binary, and a loader that lets an operator
// override a policy with a ConfigMap, re-read whenever the ConfigMap changes.
package rego

import (
	"context"
	"embed"
	"fmt"
	"sync"

	"github.com/kubernaut/kubernaut/terminal"
	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

//go:embed *.rego
var files embed.FS

// Embedded returns the source of an embedded policy file, e.g. "classification.rego".
func Embedded(name string) (string, error) {
	data, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("no embedded policy %s: %w", name, err)
	}
	return string(data), nil
}

// Policy is one policy module with its query, prepared once per version: the embedded
// source, or the key File of an override ConfigMap when it exists.
type Policy struct {
	// File names the embedded module and the ConfigMap key that overrides it.
	File string
	// Query is the Rego query evaluated, e.g. "data.kubernaut.classification.result".
	Query string
	// Reader reads the override ConfigMap (straight from the API server); nil: no override.
	Reader client.Reader
	// Namespace and ConfigMap locate the override.
	Namespace, ConfigMap string
	// Source, when set, is the module's source instead of the embedded one and of any
	// override (a candidate version under review: kubernaut backtest --policy-dir); Origin
	// names it in the version.
	Source, Origin string

	mu       sync.Mutex
	version  string
	prepared rego.PreparedEvalQuery
}

// Prepared returns the prepared query of the current version of the policy and that
// version ("embedded" or "configmap <ns>/<name>@<resourceVersion>"). A ConfigMap that does
// not compile is a terminal error (it is never silently replaced by the embedded policy); one
// that cannot be read is a transient one.
func (p *Policy) Prepared(ctx context.Context) (rego.PreparedEvalQuery, string, error) {
	pq, version, _, err := p.PreparedWithConfig(ctx)
	return pq, version, err
}

// PreparedWithConfig is Prepared that also returns the policy ConfigMap as read for this
// evaluation (nil when there is none), for the settings a policy's caller keeps beside it.
func (p *Policy) PreparedWithConfig(ctx context.Context) (rego.PreparedEvalQuery, string, *corev1.ConfigMap, error) {
	src, version := "", "embedded"
	var found *corev1.ConfigMap
	if p.Reader != nil && p.ConfigMap != "" {
		var cm corev1.ConfigMap
		err := p.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.ConfigMap}, &cm)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return rego.PreparedEvalQuery{}, "", nil, fmt.Errorf("reading policy override %s/%s: %w", p.Namespace, p.ConfigMap, err)
		default:
			found = &cm
			if s, ok := cm.Data[p.File]; ok {
				src, version = s, fmt.Sprintf("configmap %s/%s@%s", p.Namespace, p.ConfigMap, cm.ResourceVersion)
			}
		}
	}
	if p.Source != "" {
		// The candidate replaces the module; the ConfigMap's settings still apply.
		src, version = p.Source, "file "+p.Origin
	}
	pq, version, err := p.prepare(ctx, src, version)
	return pq, version, found, err
}

// prepare compiles src (the embedded policy when empty) unless version is the one prepared.
func (p *Policy) prepare(ctx context.Context, src, version string) (rego.PreparedEvalQuery, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.version == version {
		return p.prepared, version, nil
	}
	if src == "" {
		var err error
		if src, err = Embedded(p.File); err != nil {
			return rego.PreparedEvalQuery{}, "", terminal.Error(err)
		}
	}
	// Strict builtin errors: a value a builtin cannot take (a freeze window that is not RFC 3339)
	// fails the evaluation, and so the decision, instead of leaving its rule silently undefined.
	pq, err := rego.New(rego.Query(p.Query), rego.Module(p.File, src), rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
	if err != nil {
		return rego.PreparedEvalQuery{}, "", terminal.Errorf("compiling policy %s (%s): %w", p.File, version, err)
	}
	p.prepared, p.version = pq, version
	return pq, version, nil
}
