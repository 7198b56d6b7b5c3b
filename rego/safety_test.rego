package kubernaut.safety_test

import data.kubernaut.safety

scale(n) := {"step": {"name": "scale", "action": "scale_deployment", "target": {"kind": "Deployment", "namespace": "shop", "name": "web"}, "parameters": {"scaleDeployment": {"replicas": n}}},
	"context": {"environment": "staging", "now": "2026-11-25T12:00:00Z", "current": {"replicas": 3}, "recentRemediations": 0, "gitOps": null}}

test_allowed if {
	count(safety.deny) == 0 with input as scale(4)
}

test_protected_namespace if {
	i := json.patch(scale(4), [{"op": "replace", "path": "/step/target/namespace", "value": "kube-system"}])
	safety.deny == {"namespace kube-system is protected: Kubernaut never changes it"} with input as i
}

test_replicas_above_limit if {
	i := json.patch(scale(60), [{"op": "replace", "path": "/context/current/replicas", "value": 40}])
	safety.deny == {"scale_deployment would scale shop/web to 60 replicas, above the limit of 50"} with input as i
}

test_scale_factor if {
	safety.deny == {"scaling shop/web from 3 to 7 replicas changes it by more than a factor of 2"} with input as scale(7)
	safety.deny == {"scaling shop/web from 3 to 1 replicas changes it by more than a factor of 2"} with input as scale(1)
}

test_scale_to_zero_in_production if {
	i := json.patch(scale(0), [{"op": "replace", "path": "/context/environment", "value": "production"}])
	safety.deny == {"scaling shop/web to 0 in production is not allowed"} with input as i
}

test_config_overrides if {
	i := object.union(scale(7), {"config": {"maxScaleFactor": 3}})
	count(safety.deny) == 0 with input as i
}

test_gitops_managed if {
	i := json.patch(scale(4), [{"op": "replace", "path": "/context/gitOps", "value": {"tool": "argocd", "owner": "shop"}}])
	safety.deny == {"shop/web is managed by argocd (shop): the next sync would revert the change"} with input as i
	count(safety.deny) == 0 with input as object.union(i, {"config": {"allowGitOpsManaged": true}})
}

test_rate_limit if {
	i := json.patch(scale(4), [{"op": "replace", "path": "/context/recentRemediations", "value": 3}])
	safety.deny == {"3 remediations of shop/web in the last hour, the limit is 3"} with input as i
}

test_freeze_window if {
	i := object.union(scale(4), {"config": {"freezeWindows": [{"name": "black-friday", "start": "2026-11-25T00:00:00Z", "end": "2026-11-28T00:00:00Z"}]}})
	safety.deny == {"change freeze black-friday until 2026-11-28T00:00:00Z"} with input as i
	count(safety.deny) == 0 with input as json.patch(i, [{"op": "replace", "path": "/context/now", "value": "2026-11-28T00:00:00Z"}])
}

test_node_actions_need_the_nodes_own_opt_in if {
	i := {"step": {"name": "cordon", "action": "cordon_node", "target": {"kind": "Node", "name": "w1"}},
		"context": {"environment": "staging", "node": {"optedIn": false}}}
	safety.deny == {"node w1 has not opted in (label kubernaut.io/remediate=true on the Node): cordon_node needs the node's own opt-in"} with input as i
	no_node := {"step": i.step, "context": {"environment": "staging"}}
	count(safety.deny) == 1 with input as no_node
	opted := {"step": i.step, "context": {"environment": "staging", "node": {"optedIn": true}}}
	count(safety.deny) == 0 with input as opted
}

test_drain_never_evicts_protected_pods if {
	i := {"step": {"name": "drain", "action": "drain_node", "target": {"kind": "Node", "name": "w1"}},
		"context": {"environment": "staging", "node": {"optedIn": true, "evicted": ["kube-system/coredns-1", "shop/web-1"]}}}
	safety.deny == {"draining node w1 would evict 1 pod(s) of protected namespaces (kube-system/coredns-1): Kubernaut never changes them"} with input as i
	ok := {"step": i.step, "context": {"environment": "staging", "node": {"optedIn": true, "evicted": ["shop/web-1"]}}}
	count(safety.deny) == 0 with input as ok
}

test_node_actions_can_be_forbidden if {
	i := {"step": {"name": "drain", "action": "drain_node", "target": {"kind": "Node", "name": "w1"}},
		"context": {"environment": "production", "now": "2026-11-25T12:00:00Z", "recentRemediations": 0, "gitOps": null, "node": {"optedIn": true}},
		"config": {"allowNodeActions": false}}
	safety.deny == {"node actions are not allowed (drain_node on node w1)"} with input as i
}

test_memory_increase_bound if {
	i := {"step": {"name": "mem", "action": "increase_memory_limit", "target": {"kind": "Deployment", "namespace": "shop", "name": "web"}, "parameters": {"increaseMemoryLimit": {"percent": 150}}},
		"context": {"environment": "staging", "now": "2026-11-25T12:00:00Z", "recentRemediations": 0, "gitOps": null}}
	safety.deny == {"raising memory by 150% is above the limit of 100%"} with input as i
}

test_custom_script if {
	i := {"step": {"name": "fix", "action": "custom_script", "target": {"kind": "Deployment", "namespace": "shop", "name": "web"}, "parameters": {"customScript": {"image": "evil:latest"}}},
		"context": {"environment": "staging", "now": "2026-11-25T12:00:00Z", "recentRemediations": 0, "gitOps": null}}
	safety.deny == {"custom scripts are off (allowCustomScript is false)"} with input as i
	safety.deny == {"image evil:latest is not on the custom-script allow-list"} with input as object.union(i, {"config": {"allowCustomScript": true, "customScriptImages": ["registry.example.com/fix:1"]}})
}

test_hpa_bounds if {
	i := {"step": {"name": "hpa", "action": "update_hpa", "target": {"kind": "HorizontalPodAutoscaler", "namespace": "shop", "name": "web"}, "parameters": {"updateHPA": {"maxReplicas": 120}}},
		"context": {"environment": "staging", "now": "2026-11-25T12:00:00Z", "recentRemediations": 0, "gitOps": null, "current": {"hpaMax": 80}}}
	safety.deny == {"HPA shop/web maximum 120 is above the limit of 100"} with input as i
}

test_unknown_environment_counts_as_production if {
	i := json.patch(scale(0), [{"op": "replace", "path": "/context/environment", "value": "unknown"}])
	safety.deny == {"scaling shop/web to 0 in production is not allowed"} with input as i
}

test_unknown_environment_as_the_operator_says if {
	i := json.patch(scale(0), [{"op": "replace", "path": "/context/environment", "value": "unknown"},
		{"op": "add", "path": "/config", "value": {"unknownEnvironment": "staging"}}])
	count(safety.deny) == 0 with input as i
}

hpa(cur, m) := {"step": {"name": "hpa", "action": "update_hpa", "target": {"kind": "HorizontalPodAutoscaler", "namespace": "shop", "name": "web"}, "parameters": {"updateHPA": {"maxReplicas": m}}},
	"context": {"environment": "production", "now": "2026-11-25T12:00:00Z", "current": {"hpaMax": cur}, "recentRemediations": 0, "gitOps": null}}

test_hpa_maximum_bounded_both_ways if {
	safety.deny == {"HPA shop/web maximum from 80 to 1 changes it by more than a factor of 2"} with input as hpa(80, 1)
	safety.deny == {"HPA shop/web maximum from 10 to 30 changes it by more than a factor of 2"} with input as hpa(10, 30)
	count(safety.deny) == 0 with input as hpa(80, 40)
	count(safety.deny) == 0 with input as hpa(10, 20)
}

test_compensation_keeps_the_rules_about_touching_the_object if {
	undo := json.patch(scale(0), [{"op": "replace", "path": "/context/environment", "value": "production"},
		{"op": "add", "path": "/context/compensation", "value": true},
		{"op": "replace", "path": "/context/recentRemediations", "value": 9}])
	count(safety.deny) == 0 with input as undo
	protected := json.patch(undo, [{"op": "replace", "path": "/step/target/namespace", "value": "kube-system"}])
	safety.deny == {"namespace kube-system is protected: Kubernaut never changes it"} with input as protected
}

config(values, remove) := {"step": {"name": "cfg", "action": "update_config", "target": {"kind": "ConfigMap", "namespace": "shop", "name": "settings"},
	"parameters": {"updateConfig": {"data": values, "removeKeys": remove}}},
	"context": {"environment": "staging", "now": "2026-11-25T12:00:00Z", "recentRemediations": 0, "gitOps": null}}

test_update_config_bounded if {
	count(safety.deny) == 0 with input as config({"POOL": "20"}, ["OLD"])
	safety.deny == {"update_config changes 9 keys of shop/settings, more than the limit of 8"} with input as config({"A": "1", "B": "1", "C": "1", "D": "1", "E": "1"}, ["F", "G", "H", "I"])
	safety.deny == {"update_config would set BIG of shop/settings to 5000 bytes, more than the limit of 4096"} with input as config({"BIG": concat("", [x | some _ in numbers.range(1, 5000); x := "x"])}, [])
}

test_update_config_protected_keys if {
	safety.deny == {"key DB_PASSWORD of shop/settings is protected (*password*): Kubernaut never changes it"} with input as config({"DB_PASSWORD": "x"}, [])
	safety.deny == {"key stripe.api_key of shop/settings is protected (*api*key*): Kubernaut never changes it"} with input as config({}, ["stripe.api_key"])
}
