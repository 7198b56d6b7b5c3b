// Package remediationrequest is the orchestrator: it drives each RemediationRequest through
// its phases, creating one child at a time (RemediationProcessing, AIAnalysis,
// WorkflowExecution), reading each child's outcome and handing the next what it needs, under
// guards, per-phase timeouts and a retention TTL.
package remediationrequest

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/killswitch"
)

// Config tunes the orchestrator; cmd/kubernaut fills it from flags.
type Config struct {
	// Timeouts bounds each phase; a phase absent here has no timeout.
	Timeouts map[kubernautv1.RemediationPhase]time.Duration
	// ClusterWide remediates every namespace and node without their opt-in label.
	ClusterWide bool
	// Cooldown: a remediation of the same target and signal that finished less than this
	// long ago holds a new one back.
	Cooldown time.Duration
	// FailureLimit consecutive failures of one fingerprint block it for FailureBlock.
	FailureLimit int
	// FailureBlock is how long a fingerprint stays blocked after FailureLimit failures.
	FailureBlock time.Duration
	// KillSwitchNamespace and KillSwitchName locate the kill-switch ConfigMap.
	KillSwitchNamespace, KillSwitchName string
	// Retention is how long a finished RemediationRequest is kept.
	Retention time.Duration
}

// KillSwitch is the kill switch the configuration names, read through reader (nil for its
// name only).
func (c Config) KillSwitch(reader client.Reader) killswitch.Switch {
	return killswitch.Switch{Reader: reader, Namespace: c.KillSwitchNamespace, Name: c.KillSwitchName}
}

// DefaultConfig returns the defaults of the issue: processing 5 m, analysis 10 m, approval
// 1 h, execution 30 m, verification 10 m; cooldown 5 m; 3 failures block 1 h; 7 days kept.
func DefaultConfig() Config {
	return Config{
		Timeouts: map[kubernautv1.RemediationPhase]time.Duration{
			kubernautv1.RemediationPhasePending:          time.Minute,
			kubernautv1.RemediationPhaseProcessing:       5 * time.Minute,
			kubernautv1.RemediationPhaseAnalyzing:        10 * time.Minute,
			kubernautv1.RemediationPhaseAwaitingApproval: time.Hour,
			kubernautv1.RemediationPhaseExecuting:        30 * time.Minute,
			kubernautv1.RemediationPhaseVerifying:        10 * time.Minute,
		},
		Cooldown:            5 * time.Minute,
		FailureLimit:        3,
		FailureBlock:        time.Hour,
		KillSwitchNamespace: "kubernaut-system",
		KillSwitchName:      killswitch.DefaultName,
		Retention:           7 * 24 * time.Hour,
	}
}
