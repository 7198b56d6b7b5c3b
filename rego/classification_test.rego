package kubernaut.classification_test

import data.kubernaut.classification

base := {
	"signal": {"name": "KubePodCrashLooping", "severity": "critical", "labels": {}},
	"target": {"kind": "Pod", "namespace": "shop-prod", "name": "web-1"},
	"namespace": {"name": "shop-prod", "labels": {}, "annotations": {}},
	"workload": {"annotations": {}, "labels": {}},
	"facts": {
		"oomKilled": false, "crashLooping": true, "nodeNotReady": false, "nodePressure": false,
		"hpaAtMax": false, "replicasMissing": 0, "notReadyPods": 1, "configChangedRecently": false,
	},
}

test_environment_from_label if {
	classification.environment == "staging" with input as object.union(base, {"namespace": {"name": "shop-prod", "labels": {"kubernaut.io/environment": "staging"}, "annotations": {}}})
}

test_environment_from_name if {
	classification.environment == "production" with input as base
	classification.environment == "development" with input as object.union(base, {"namespace": {"name": "team-dev", "labels": {}, "annotations": {}}})
	classification.environment == "unknown" with input as object.union(base, {"namespace": {"name": "shop", "labels": {}, "annotations": {}}})
}

test_unknown_environment_label_ignored if {
	classification.environment == "production" with input as object.union(base, {"namespace": {"name": "prod", "labels": {"kubernaut.io/environment": "moon"}, "annotations": {}}})
}

test_oom_beats_crashloop if {
	classification.signal_type == "oom" with input as object.union(base, {"facts": object.union(base.facts, {"oomKilled": true})})
}

test_crashloop if {
	classification.signal_type == "crashloop" with input as base
}

test_node if {
	classification.signal_type == "node" with input as object.union(base, {"signal": {"name": "KubeNodeNotReady", "severity": "warning"}, "target": {"kind": "Node", "name": "w1"}, "facts": object.union(base.facts, {"crashLooping": false})})
}

test_hpa_maxed if {
	classification.signal_type == "hpa-maxed" with input as object.union(base, {"signal": {"name": "KubeHpaMaxedOut", "severity": "warning"}, "facts": object.union(base.facts, {"crashLooping": false})})
}

test_replica_mismatch if {
	classification.signal_type == "replica-mismatch" with input as object.union(base, {"signal": {"name": "KubeDeploymentReplicasMismatch", "severity": "warning"}, "facts": object.union(base.facts, {"crashLooping": false, "replicasMissing": 2})})
}

test_config if {
	classification.signal_type == "config" with input as object.union(base, {"signal": {"name": "HighErrorRate", "severity": "warning"}, "facts": object.union(base.facts, {"crashLooping": false, "notReadyPods": 0, "configChangedRecently": true})})
}

test_unknown_signal if {
	classification.signal_type == "unknown" with input as object.union(base, {"signal": {"name": "Something", "severity": "warning"}, "facts": object.union(base.facts, {"crashLooping": false, "notReadyPods": 0})})
}

test_criticality_workload_beats_namespace if {
	classification.business_criticality == "low" with input as object.union(base, {
		"workload": {"annotations": {"kubernaut.io/criticality": "low"}},
		"namespace": {"name": "shop-prod", "labels": {"kubernaut.io/criticality": "high"}, "annotations": {}},
	})
}

test_priority_p0_critical_production if {
	classification.priority == "P0" with input as base
}

test_priority_p1_critical_low_criticality if {
	classification.priority == "P1" with input as object.union(base, {"workload": {"annotations": {"kubernaut.io/criticality": "low"}}})
}

test_priority_p3_info_dev if {
	classification.priority == "P3" with input as object.union(base, {"signal": {"name": "X", "severity": "info"}, "namespace": {"name": "dev", "labels": {}, "annotations": {}}})
}

test_severity_raised_for_crash_in_production if {
	classification.severity == "warning" with input as object.union(base, {"signal": {"name": "KubePodCrashLooping", "severity": "info"}})
}

test_result_shape if {
	r := classification.result with input as base
	r.environment == "production"
	r.signalType == "crashloop"
	count(r.reasons) == 4
}
