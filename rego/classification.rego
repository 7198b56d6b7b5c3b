# Classification of a signal: environment, severity, priority, signal type and business
# criticality, from the signal, its namespace, its workload and the facts the enrichment
# gathered. Operators override this policy with a ConfigMap (key classification.rego); the
# query is data.kubernaut.classification.result.
package kubernaut.classification

envs := {"production", "staging", "development"}

# Environment: an explicit label wins, then the namespace's name.
environment := e if {
	e := object.get(input.namespace.labels, "kubernaut.io/environment", "")
	e in envs
} else := e if {
	e := object.get(input.namespace.labels, "environment", "")
	e in envs
} else := "production" if {
	regex.match(`(^|-)(prod|production|prd)($|-)`, input.namespace.name)
} else := "staging" if {
	regex.match(`(^|-)(stag|staging|stg|preprod)($|-)`, input.namespace.name)
} else := "development" if {
	regex.match(`(^|-)(dev|development|test|sandbox)($|-)`, input.namespace.name)
} else := "unknown"

# Signal type, most specific first.
signal_type := "oom" if {
	input.facts.oomKilled
} else := "oom" if {
	contains(lower(input.signal.name), "oom")
} else := "crashloop" if {
	input.facts.crashLooping
} else := "crashloop" if {
	input.signal.name == "KubePodCrashLooping"
} else := "node" if {
	input.target.kind == "Node"
} else := "node" if {
	input.facts.nodeNotReady
} else := "hpa-maxed" if {
	input.facts.hpaAtMax
} else := "hpa-maxed" if {
	input.signal.name == "KubeHpaMaxedOut"
} else := "resource-pressure" if {
	input.facts.nodePressure
} else := "resource-pressure" if {
	regex.match(`(?i)(pressure|throttl|quota|overcommit)`, input.signal.name)
} else := "replica-mismatch" if {
	input.facts.replicasMissing > 0
} else := "replica-mismatch" if {
	regex.match(`ReplicasMismatch$`, input.signal.name)
} else := "config" if {
	input.facts.configChangedRecently
} else := "not-ready" if {
	input.facts.notReadyPods > 0
} else := "not-ready" if {
	regex.match(`NotReady$`, input.signal.name)
} else := "unknown"

crits := {"high", "medium", "low"}

# Business criticality: the workload's annotation, then the namespace's label or annotation.
business_criticality := c if {
	c := object.get(input.workload.annotations, "kubernaut.io/criticality", "")
	c in crits
} else := c if {
	c := object.get(input.namespace.labels, "kubernaut.io/criticality", "")
	c in crits
} else := c if {
	c := object.get(input.namespace.annotations, "kubernaut.io/criticality", "")
	c in crits
} else := "unknown"

# Severity: the alert's, raised one step for a crash or an OOM kill in production.
severity := "warning" if {
	input.signal.severity == "info"
	environment == "production"
	signal_type in {"oom", "crashloop"}
} else := input.signal.severity

# Priority: severity × environment × criticality.
priority := "P0" if {
	severity == "critical"
	environment == "production"
	business_criticality in {"high", "unknown"}
} else := "P1" if {
	severity == "critical"
} else := "P1" if {
	severity == "warning"
	environment == "production"
	business_criticality == "high"
} else := "P2" if {
	severity in {"warning", "unknown"}
	environment in {"production", "staging", "unknown"}
} else := "P3"

reasons := [
	sprintf("environment %s (namespace %s)", [environment, input.namespace.name]),
	sprintf("signal type %s (alert %s)", [signal_type, input.signal.name]),
	sprintf("business criticality %s", [business_criticality]),
	sprintf("priority %s from severity %s in %s", [priority, severity, environment]),
]

result := {
	"environment": environment,
	"severity": severity,
	"priority": priority,
	"signalType": signal_type,
	"businessCriticality": business_criticality,
	"reasons": reasons,
}
