// Package aianalysis runs the analysis of a signal: an analyzer (the built-in rules, or
// HolmesGPT) proposes a root cause and a plan of catalog actions; nothing it says is trusted
// until the plan is validated against the catalog, the API's own schema and the remediation's
// scope; then the approval policy decides who must approve.
package aianalysis

import (
	"context"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Result is an analyzer's answer, untrusted until validated.
type Result struct {
	// RootCause is the analyzer's root cause with its evidence and confidence.
	RootCause kubernautv1.RootCause
	// Recommendation is the proposed plan; no steps means no action.
	Recommendation kubernautv1.Recommendation
	// Raw is the answer as received, kept (bounded) for audit.
	Raw string
	// InvestigationID is the analyzer's own identifier of the investigation, if any.
	InvestigationID string
	// Tokens is the number of LLM tokens the analyzer reported using, if any.
	Tokens int
}

// Analyzer proposes a root cause and a plan for a signal with its context.
type Analyzer interface {
	// Name names the analyzer.
	Name() kubernautv1.AnalyzerName
	// Analyze investigates the analysis' signal.
	Analyze(ctx context.Context, aia *kubernautv1.AIAnalysis) (*Result, error)
}
