# Safety policy for one step of a plan, evaluated when the plan is validated and again right
# before the step runs (the world may have changed). Query: data.kubernaut.safety.deny — every
# message is a reason to refuse; none means allowed. Operators override it with the key
# safety.rego of the policy ConfigMap and tune it through input.config.
package kubernaut.safety

config := object.union(defaults, object.get(input, "config", {}))

defaults := {
	"protectedNamespaces": ["kube-system", "kube-public", "kube-node-lease", "kubernaut-system"],
	"maxReplicas": 50,
	"maxScaleFactor": 2,
	"maxHPAMax": 100,
	"maxMemoryIncreasePercent": 100,
	"allowNodeActions": true,
	"allowScaleToZeroInProduction": false,
	"allowGitOpsManaged": false,
	"allowCustomScript": false,
	"customScriptImages": [],
	"maxRemediationsPerTargetPerHour": 3,
	"freezeWindows": [],
	"unknownEnvironment": "production",
	"maxConfigKeys": 8,
	"maxConfigValueBytes": 4096,
	"protectedConfigKeys": ["*password*", "*passwd*", "*secret*", "*token*", "*credential*", "*private*key*", "*api*key*", "*cert*"],
}

# The environment the rules weigh. A target whose namespace says nothing of its environment
# ("unknown") counts as config.unknownEnvironment: production unless the operator says
# otherwise.
environment := config.unknownEnvironment if {
	object.get(input.context, "environment", "unknown") in {"unknown", ""}
} else := input.context.environment

step := input.step

target := step.target

params := object.get(step, "parameters", {})

# The undo of a step restores its recorded pre-state: the rules about how much, how often and
# when a change may be made do not hold it back (a half-applied remediation is worse); those
# about whether Kubernaut may touch the object at all (protected namespaces, node actions,
# custom scripts, GitOps-managed objects) do.
compensating if object.get(input.context, "compensation", false) == true

deny contains sprintf("namespace %s is protected: Kubernaut never changes it", [target.namespace]) if {
	target.namespace in config.protectedNamespaces
}

deny contains sprintf("%s would scale %s/%s to %d replicas, above the limit of %d", [step.action, target.namespace, target.name, r, config.maxReplicas]) if {
	not compensating
	r := params.scaleDeployment.replicas
	r > config.maxReplicas
}

deny contains sprintf("scaling %s/%s to 0 in production is not allowed", [target.namespace, target.name]) if {
	not compensating
	params.scaleDeployment.replicas == 0
	environment == "production"
	not config.allowScaleToZeroInProduction
}

deny contains sprintf("scaling %s/%s from %d to %d replicas changes it by more than a factor of %d", [target.namespace, target.name, cur, r, config.maxScaleFactor]) if {
	not compensating
	r := params.scaleDeployment.replicas
	cur := input.context.current.replicas
	cur > 0
	r > 0
	any_beyond_factor(cur, r)
}

any_beyond_factor(cur, r) if r > cur * config.maxScaleFactor

any_beyond_factor(cur, r) if r * config.maxScaleFactor < cur

deny contains sprintf("HPA %s/%s maximum %d is above the limit of %d", [target.namespace, target.name, m, config.maxHPAMax]) if {
	not compensating
	m := params.updateHPA.maxReplicas
	m > config.maxHPAMax
}

deny contains sprintf("HPA %s/%s maximum from %d to %d changes it by more than a factor of %d", [target.namespace, target.name, cur, m, config.maxScaleFactor]) if {
	not compensating
	m := params.updateHPA.maxReplicas
	cur := input.context.current.hpaMax
	cur > 0
	m > 0
	any_beyond_factor(cur, m)
}

deny contains sprintf("raising memory by %d%% is above the limit of %d%%", [p, config.maxMemoryIncreasePercent]) if {
	not compensating
	p := params.increaseMemoryLimit.percent
	p > config.maxMemoryIncreasePercent
}

node_actions := {"cordon_node", "uncordon_node", "drain_node"}

deny contains sprintf("node actions are not allowed (%s on node %s)", [step.action, target.name]) if {
	step.action in node_actions
	not config.allowNodeActions
}

# A node action needs the node's own opt-in (label kubernaut.io/remediate=true on the Node, or
# --cluster-wide): an alert about a pod in an opted-in namespace does not open its node.
deny contains sprintf("node %s has not opted in (label kubernaut.io/remediate=true on the Node): %s needs the node's own opt-in", [target.name, step.action]) if {
	step.action in node_actions
	not input.context.node.optedIn
}

# Protected namespaces hold for what a drain evicts too.
deny contains sprintf("draining node %s would evict %d pod(s) of protected namespaces (%s): Kubernaut never changes them", [target.name, count(evicted), concat(", ", shown)]) if {
	step.action == "drain_node"
	evicted := [p | some p in object.get(input.context.node, "evicted", []); split(p, "/")[0] in config.protectedNamespaces]
	count(evicted) > 0
	shown := array.slice(evicted, 0, 5)
}

deny contains "custom scripts are off (allowCustomScript is false)" if {
	step.action == "custom_script"
	not config.allowCustomScript
}

deny contains sprintf("image %s is not on the custom-script allow-list", [img]) if {
	step.action == "custom_script"
	config.allowCustomScript
	img := params.customScript.image
	not img in config.customScriptImages
}

deny contains sprintf("%s is managed by %s (%s): the next sync would revert the change", [sprintf("%s/%s", [target.namespace, target.name]), g.tool, g.owner]) if {
	g := input.context.gitOps
	g != null
	not config.allowGitOpsManaged
}

deny contains sprintf("%d remediations of %s/%s in the last hour, the limit is %d", [n, target.namespace, target.name, config.maxRemediationsPerTargetPerHour]) if {
	not compensating
	n := input.context.recentRemediations
	n >= config.maxRemediationsPerTargetPerHour
}

deny contains sprintf("change freeze %s until %s", [w.name, w.end]) if {
	not compensating
	some w in config.freezeWindows
	now := time.parse_rfc3339_ns(input.context.now)
	now >= time.parse_rfc3339_ns(w.start)
	now < time.parse_rfc3339_ns(w.end)
}

# update_config: a bounded change of ordinary keys. Keys that look like credentials are never
# the AI's to set or delete (glob patterns, case-insensitive); a compensation restoring them
# is not held back.
config_keys := object.keys(object.get(params.updateConfig, "data", {})) | {k | some k in object.get(params.updateConfig, "removeKeys", [])}

deny contains sprintf("update_config changes %d keys of %s/%s, more than the limit of %d", [count(config_keys), target.namespace, target.name, config.maxConfigKeys]) if {
	step.action == "update_config"
	not compensating
	count(config_keys) > config.maxConfigKeys
}

deny contains sprintf("update_config would set %s of %s/%s to %d bytes, more than the limit of %d", [k, target.namespace, target.name, count(v), config.maxConfigValueBytes]) if {
	step.action == "update_config"
	not compensating
	some k, v in object.get(params.updateConfig, "data", {})
	count(v) > config.maxConfigValueBytes
}

deny contains sprintf("key %s of %s/%s is protected (%s): Kubernaut never changes it", [k, target.namespace, target.name, p]) if {
	step.action == "update_config"
	not compensating
	some k in config_keys
	some p in config.protectedConfigKeys
	glob.match(lower(p), null, lower(k))
}
