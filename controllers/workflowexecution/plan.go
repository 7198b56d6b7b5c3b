package workflowexecution

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// planDocument is what a plan hash covers: everything that decides what will change.
type planDocument struct {
	Target       kubernautv1.Target       `json:"target"`
	ApprovalMode kubernautv1.ApprovalMode `json:"approvalMode"`
	DryRun       bool                     `json:"dryRun"`
	Steps        []kubernautv1.PlanStep   `json:"steps"`
}

// PlanHash is the SHA-256 (hex) of a plan: its target, approval mode, dry-run flag and steps
// with their actions, targets, parameters and dependencies (rationales included: an approver
// approves what they read). An approval names it, so it approves exactly this plan.
func PlanHash(spec kubernautv1.WorkflowExecutionSpec) (string, error) {
	// encoding/json writes struct fields in declaration order and map keys sorted: canonical.
	raw, err := json.Marshal(planDocument{Target: spec.Target, ApprovalMode: spec.ApprovalMode, DryRun: spec.DryRun, Steps: spec.Steps})
	if err != nil {
		return "", fmt.Errorf("encoding the plan: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}
