package kubernaut.promotion_test

import data.kubernaut.promotion

evidence(o) := object.union({"observed": 0, "agreed": 0, "disagreed": 0, "resolvedAlone": 0, "keptFiring": 0, "verified": 0, "rejected": 0, "failed": 0, "undone": 0, "policyDenied": 0}, o)

test_observe_promoted_on_ten_agreed_of_eleven if {
	d := promotion.decision with input as {"level": "observe", "evidence": evidence({"observed": 12, "agreed": 10, "disagreed": 1, "keptFiring": 1})}
	d.promote
	d.to == "approve"
	d.reason == "12 observed plans, agreement 91%, none denied by the safety policy"
}

test_observe_not_promoted_below_agreement if {
	d := promotion.decision with input as {"level": "observe", "evidence": evidence({"observed": 10, "agreed": 8, "resolvedAlone": 2})}
	not d.promote
	contains(d.reason, "agreement 80%, 90% needed")
}

test_observe_not_promoted_with_too_few if {
	d := promotion.decision with input as {"level": "observe", "evidence": evidence({"observed": 9, "agreed": 9})}
	not d.promote
	contains(d.reason, "9 observed plans, 10 needed")
}

test_observe_not_promoted_after_a_policy_denial if {
	d := promotion.decision with input as {"level": "observe", "evidence": evidence({"observed": 20, "agreed": 20, "policyDenied": 1})}
	not d.promote
}

test_thresholds_from_input if {
	d := promotion.decision with input as {"level": "observe", "evidence": evidence({"observed": 2, "agreed": 2}), "thresholds": {"observed": 2, "agreement": 1, "verified": 3}}
	d.promote
}

test_approve_promoted_on_twenty_verified if {
	d := promotion.decision with input as {"level": "approve", "evidence": evidence({"verified": 20})}
	d.promote
	d.to == "automate"
}

test_approve_not_promoted_after_one_rejection if {
	d := promotion.decision with input as {"level": "approve", "evidence": evidence({"verified": 40, "rejected": 1})}
	not d.promote
	d.reason == "1 rejected"
}

test_approve_not_promoted_after_an_undo if {
	d := promotion.decision with input as {"level": "approve", "evidence": evidence({"verified": 40, "failed": 1, "undone": 1})}
	not d.promote
}

test_automate_is_the_top if {
	d := promotion.decision with input as {"level": "automate", "evidence": evidence({"verified": 100})}
	not d.promote
}
