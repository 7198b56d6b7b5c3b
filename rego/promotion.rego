# Promotion of a trust scope (docs/autonomy.md): whether the evidence of a scope (a namespace
# group × a signal type × an action) earned its next level. Input: the scope's level, its
# evidence within the evidence window (counts of outcomes), and the thresholds (flags
# --trust-*). The query is data.kubernaut.promotion.decision: {"promote": bool, "to": level,
# "reason": string}. The trust controller bounds the result by the scope's ceiling and, unless
# a limit allows automatic promotion, proposes it to people. Operators override it with the key
# promotion.rego of the policy ConfigMap. Demotion is not a rule: any failed verification or
# undo demotes at once.
package kubernaut.promotion

default observed_needed := 10

observed_needed := input.thresholds.observed

default agreement_needed := 0.9

agreement_needed := input.thresholds.agreement

default verified_needed := 20

verified_needed := input.thresholds.verified

e := input.evidence

# Agreement is the share of the judged observed plans that people agreed with: a plan is judged
# when a person changed its target (agreed or disagreed) or its alert resolved with no change
# (the plan would have acted for nothing); one that kept firing untouched judges nothing.
judged := (e.agreed + e.disagreed) + e.resolvedAlone

agreement := e.agreed / judged if judged > 0

default agreement := 0

# percent is a share as a whole percentage (Rego's numbers print as integers when whole).
percent(x) := round(x * 100)

# observe → approve: enough shadow plans, people made the change the plan proposed often
# enough, and the safety policy denied none of the scope's plans.
observe_reasons contains sprintf("%d observed plans, %d needed", [e.observed, observed_needed]) if e.observed < observed_needed

observe_reasons contains sprintf("agreement %d%%, %d%% needed", [percent(agreement), percent(agreement_needed)]) if agreement < agreement_needed

observe_reasons contains sprintf("%d plans denied by the safety policy", [e.policyDenied]) if e.policyDenied > 0

# approve → automate: enough approved and verified remediations, and not one rejected, failed
# or undone within the window.
approve_reasons contains sprintf("%d verified remediations, %d needed", [e.verified, verified_needed]) if e.verified < verified_needed

approve_reasons contains sprintf("%d rejected", [e.rejected]) if e.rejected > 0

approve_reasons contains sprintf("%d failed", [e.failed]) if e.failed > 0

approve_reasons contains sprintf("%d undone", [e.undone]) if e.undone > 0

approve_reasons contains sprintf("%d plans denied by the safety policy", [e.policyDenied]) if e.policyDenied > 0

default decision := {"promote": false, "to": "", "reason": "automate is the highest level"}

decision := {"promote": true, "to": "approve", "reason": sprintf("%d observed plans, agreement %d%%, none denied by the safety policy", [e.observed, percent(agreement)])} if {
	input.level == "observe"
	count(observe_reasons) == 0
}

decision := {"promote": false, "to": "", "reason": concat("; ", observe_reasons)} if {
	input.level == "observe"
	count(observe_reasons) > 0
}

decision := {"promote": true, "to": "automate", "reason": sprintf("%d approved and verified remediations, none rejected, failed or undone", [e.verified])} if {
	input.level == "approve"
	count(approve_reasons) == 0
}

decision := {"promote": false, "to": "", "reason": concat("; ", approve_reasons)} if {
	input.level == "approve"
	count(approve_reasons) > 0
}
