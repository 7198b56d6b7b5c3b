package kubernaut.approval_test

import data.kubernaut.approval

base := {
	"confidence": 0.95, "fallback": false, "environment": "staging", "severity": "critical",
	"failedDetections": [], "thresholds": {"auto": 0.9, "reject": 0.7},
	"steps": [{"name": "rollback", "action": "rollback_deployment", "risk": "medium", "targetKind": "Deployment"}],
}

test_auto if {
	approval.decision.mode == "Auto" with input as base
}

test_rejected_below_reject_threshold if {
	d := approval.decision with input as object.union(base, {"confidence": 0.5})
	d.mode == "Rejected"
	d.reasons == ["confidence 0.50 is below 0.70"]
}

test_manual_between_thresholds if {
	d := approval.decision with input as object.union(base, {"confidence": 0.8})
	d.mode == "Manual"
	d.reasons == ["confidence 0.80 is below 0.90 for automatic approval"]
}

test_fallback_never_auto if {
	d := approval.decision with input as object.union(base, {"fallback": true})
	d.mode == "Manual"
}

test_production_manual if {
	approval.decision.mode == "Manual" with input as object.union(base, {"environment": "production"})
}

test_high_risk_manual if {
	approval.decision.mode == "Manual" with input as object.union(base, {"steps": [{"name": "d", "action": "drain_node", "risk": "high", "targetKind": "Node"}]})
}

test_node_action_manual if {
	d := approval.decision with input as object.union(base, {"steps": [{"name": "c", "action": "cordon_node", "risk": "medium", "targetKind": "Node"}]})
	d.mode == "Manual"
	d.reasons == ["step c acts on a node"]
}

test_failed_detections_manual if {
	d := approval.decision with input as object.union(base, {"failedDetections": ["events", "logs"]})
	d.mode == "Manual"
	d.reasons == ["1 context lookups failed (events)"]
}

test_missing_logs_alone_stays_auto if {
	approval.decision.mode == "Auto" with input as object.union(base, {"failedDetections": ["logs"]})
}

test_thresholds_configurable if {
	approval.decision.mode == "Auto" with input as object.union(base, {"confidence": 0.8, "thresholds": {"auto": 0.75, "reject": 0.5}})
}

test_rejection_wins_over_manual if {
	approval.decision.mode == "Rejected" with input as object.union(base, {"confidence": 0.3, "fallback": true, "environment": "production"})
}

test_unknown_environment_counts_as_production if {
	d := approval.decision with input as object.union(base, {"environment": "unknown"})
	d.mode == "Manual"
	d.reasons == ["the target's environment is unknown (its namespace has no environment label): treated as production"]
}

test_unknown_environment_as_the_operator_says if {
	d := approval.decision with input as object.union(base, {"environment": "unknown", "unknownEnvironment": "staging"})
	d.mode == "Auto"
	d.reasons == ["confidence 0.95, staging, no high-risk step"]
}

test_learning_alone_never_crosses_the_threshold if {
	d := approval.decision with input as object.union(base, {"confidence": 0.92, "analyzerConfidence": 0.87})
	d.mode == "Manual"
	d.reasons == ["past outcomes alone lifted confidence 0.87 to 0.92, across 0.90: learning never approves on its own"]
	approval.decision.mode == "Auto" with input as object.union(base, {"confidence": 0.95, "analyzerConfidence": 0.91})
}

test_production_needs_two_approvers if {
	d := approval.decision with input as object.union(base, {"environment": "production"})
	d.quorum == {"approvers": 2, "separationWindow": "1h"}
}

test_unknown_environment_needs_two_approvers if {
	d := approval.decision with input as object.union(base, {"environment": "unknown", "confidence": 0.8})
	d.quorum.approvers == 2
}

test_staging_needs_one_approver if {
	d := approval.decision with input as object.union(base, {"confidence": 0.8})
	d.quorum == {"approvers": 1, "separationWindow": "1h"}
}

test_unknown_declared_staging_needs_one_approver if {
	d := approval.decision with input as object.union(base, {"environment": "unknown", "unknownEnvironment": "staging", "confidence": 0.8})
	d.quorum.approvers == 1
}

test_former_manual_name_still_read if {
	old := object.remove(base, ["thresholds"])
	d := approval.decision with input as object.union(old, {"confidence": 0.6, "thresholds": {"auto": 0.9, "manual": 0.5}})
	d.mode == "Manual"
	d2 := approval.decision with input as object.union(old, {"confidence": 0.6, "thresholds": {"auto": 0.9, "manual": 0.65}})
	d2.mode == "Rejected"
}
