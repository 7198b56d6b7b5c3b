# Approval of a plan: Auto, Manual or Rejected, with reasons. Input: the analysis' confidence
# (adjusted by past outcomes; analyzerConfidence before that),
# whether it was a fallback, the classification (environment, severity), the failed
# detections, each step's action, risk and target kind, and the thresholds. Operators override
# it with the key approval.rego of the policy ConfigMap; the query is
# data.kubernaut.approval.decision. A Manual decision carries its quorum: how many distinct
# people must approve, and the separation window within which a person who changed one of
# the plan's targets does not count as its approver.
package kubernaut.approval

default auto_threshold := 0.9

auto_threshold := input.thresholds.auto

# Below the rejection threshold (--reject-threshold) a plan is Rejected. Its input was named
# "manual" before; that name is still read, for one release, when "reject" is absent.
default reject_threshold := 0.7

reject_threshold := input.thresholds.reject

reject_threshold := input.thresholds.manual if not input.thresholds.reject

# Reasons to refuse outright.
rejections contains sprintf("confidence %.2f is below %.2f", [input.confidence, reject_threshold]) if {
	input.confidence < reject_threshold
}

# Reasons a person must approve.
manual contains "the analysis is a fallback: a fallback never auto-approves" if input.fallback

manual contains sprintf("confidence %.2f is below %.2f for automatic approval", [input.confidence, auto_threshold]) if {
	input.confidence < auto_threshold
}

# An environment nobody declared counts as input.unknownEnvironment: production unless the
# operator says otherwise.
environment := object.get(input, "unknownEnvironment", "production") if {
	input.environment in {"unknown", ""}
} else := input.environment

manual contains sprintf("past outcomes alone lifted confidence %.2f to %.2f, across %.2f: learning never approves on its own", [input.analyzerConfidence, input.confidence, auto_threshold]) if {
	input.analyzerConfidence < auto_threshold
	input.confidence >= auto_threshold
}

manual contains "the target runs in production" if input.environment == "production"

manual contains sprintf("the target's environment is unknown (its namespace has no environment label): treated as %s", [environment]) if {
	input.environment in {"unknown", ""}
	environment == "production"
}

manual contains sprintf("step %s (%s) is high risk", [s.name, s.action]) if {
	some s in input.steps
	s.risk == "high"
}

manual contains sprintf("step %s acts on a node", [s.name]) if {
	some s in input.steps
	s.targetKind == "Node"
}

manual contains sprintf("%d context lookups failed (%s)", [count(significant_failures), concat(", ", significant_failures)]) if {
	count(significant_failures) > 0
}

# Log tails are often unavailable; other failed lookups leave the analysis half-blind.
significant_failures := {d | some d in input.failedDetections; d != "logs"}

# Separation of duties: production plans (an undeclared environment included, unless the
# operator says otherwise) need two distinct approvers; nobody approves a plan for a target
# they changed in the last hour.
default approvers := 1

approvers := 2 if environment == "production"

separation_window := "1h"

quorum := {"approvers": approvers, "separationWindow": separation_window}

decision := {"mode": "Rejected", "reasons": sort(rejections)} if {
	count(rejections) > 0
} else := {"mode": "Manual", "reasons": sort(manual), "quorum": quorum} if {
	count(manual) > 0
} else := {"mode": "Auto", "reasons": [sprintf("confidence %.2f, %s, no high-risk step", [input.confidence, environment])]}
