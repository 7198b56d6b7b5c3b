package catalog

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Permission is one verb on one resource that an action needs.
type Permission struct {
	// Verb is the API verb (get, list, patch, create, delete, update).
	Verb string
	// Group is the API group ("" for the core group).
	Group string
	// Resource is the plural resource name.
	Resource string
	// Subresource is the subresource (scale, eviction, exec), if any.
	Subresource string
	// AllNamespaces is true when the action needs it across namespaces (drain lists the
	// node's pods everywhere).
	AllNamespaces bool
}

func perms(group, resource, sub string, verbs ...string) []Permission {
	var out []Permission
	for _, v := range verbs {
		out = append(out, Permission{Verb: v, Group: group, Resource: resource, Subresource: sub})
	}
	return out
}

func cluster(ps []Permission) []Permission {
	for i := range ps {
		ps[i].AllNamespaces = true
	}
	return ps
}

func join(lists ...[]Permission) []Permission {
	var out []Permission
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var workloadRead = join(perms("apps", "deployments", "", "get", "list"), perms("apps", "statefulsets", "", "get", "list"), perms("apps", "daemonsets", "", "get", "list"))
var workloadPatch = join(perms("apps", "deployments", "", "patch"), perms("apps", "statefulsets", "", "patch"), perms("apps", "daemonsets", "", "patch"))
var nodePatch = join(perms("", "nodes", "", "get", "patch", "update"))

// permissions is the RBAC each action needs: what its ServiceAccount is granted and what the
// SubjectAccessReview before each step checks. No wildcard, no escalate, bind or impersonate,
// no Secrets.
var permissions = map[kubernautv1.ActionName][]Permission{
	kubernautv1.ActionRestartPod:          join(perms("", "pods", "", "get", "delete"), perms("apps", "replicasets", "", "get")),
	kubernautv1.ActionDeletePod:           join(perms("", "pods", "", "get", "delete"), perms("apps", "replicasets", "", "get")),
	kubernautv1.ActionRestartDeployment:   join(workloadRead, workloadPatch),
	kubernautv1.ActionScaleDeployment:     join(workloadRead, perms("apps", "deployments", "scale", "get", "patch"), perms("apps", "statefulsets", "scale", "get", "patch"), perms("autoscaling", "horizontalpodautoscalers", "", "list")),
	kubernautv1.ActionRollbackDeployment:  join(perms("apps", "deployments", "", "get", "patch"), perms("apps", "replicasets", "", "get", "list")),
	kubernautv1.ActionUpdateConfig:        perms("", "configmaps", "", "get", "patch"),
	kubernautv1.ActionUpdateHPA:           perms("autoscaling", "horizontalpodautoscalers", "", "get", "patch"),
	kubernautv1.ActionIncreaseMemoryLimit: join(workloadRead, workloadPatch),
	kubernautv1.ActionCordonNode:          nodePatch,
	kubernautv1.ActionUncordonNode:        nodePatch,
	kubernautv1.ActionDrainNode:           join(nodePatch, cluster(perms("", "pods", "", "get", "list", "delete")), cluster(perms("", "pods", "eviction", "create")), cluster(perms("apps", "daemonsets", "", "get"))),
	kubernautv1.ActionRestartService:      join(perms("", "services", "", "get"), workloadRead, workloadPatch),
	kubernautv1.ActionClearCache:          join(workloadRead, perms("", "pods", "", "list"), perms("", "pods", "exec", "create")),
	kubernautv1.ActionCustomScript:        join(workloadRead, perms("batch", "jobs", "", "get", "create")),
}

// Permissions returns what an action needs.
func (a Action) Permissions() []Permission { return permissions[a.Name] }

// ServiceAccountName is the ServiceAccount an action runs as: kubernaut-action-<action>.
func ServiceAccountName(name kubernautv1.ActionName) string {
	return "kubernaut-action-" + name.DNSName()
}

// RBAC returns, for every action, its ServiceAccount in namespace, a ClusterRole holding
// exactly its permissions, and the binding between them.
func RBAC(namespace string) []any {
	var out []any
	for _, a := range Actions {
		sa := ServiceAccountName(a.Name)
		labels := map[string]string{"app.kubernetes.io/part-of": "kubernaut", "kubernaut.io/action": string(a.Name)}
		out = append(out,
			&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
				ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: namespace, Labels: labels}, AutomountServiceAccountToken: boolPtr(true)},
			&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{Name: sa, Labels: labels}, Rules: rules(a.Permissions())},
			&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: sa, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: sa},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}},
		)
	}
	return out
}

// InProcessRules are what the controller needs to run every action itself (the inprocess
// executor): the union of the actions' permissions, without exec (clear_cache needs the job
// executor and its own ServiceAccount).
func InProcessRules() []rbacv1.PolicyRule {
	var all []Permission
	for _, a := range Actions {
		for _, p := range a.Permissions() {
			if p.Subresource != "exec" {
				all = append(all, p)
			}
		}
	}
	return rules(all)
}

// rules groups permissions into policy rules: one per group and resource, verbs sorted.
func rules(ps []Permission) []rbacv1.PolicyRule {
	type gr struct{ group, resource string }
	verbs := map[gr]map[string]bool{}
	var order []gr
	for _, p := range ps {
		res := p.Resource
		if p.Subresource != "" {
			res += "/" + p.Subresource
		}
		k := gr{p.Group, res}
		if verbs[k] == nil {
			verbs[k] = map[string]bool{}
			order = append(order, k)
		}
		verbs[k][p.Verb] = true
	}
	var out []rbacv1.PolicyRule
	for _, k := range order {
		var vs []string
		for v := range verbs[k] {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: []string{k.resource}, Verbs: vs})
	}
	return out
}

func boolPtr(b bool) *bool { return &b }
