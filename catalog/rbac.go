package catalog

import (
	"sort"

	authorizationv1 "k8s.io/api/authorization/v1"
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
	// ActionsNamespace is true when the action needs it in the namespace that runs the
	// actions, not the target's (custom_script's Job runs there, with no token).
	ActionsNamespace bool
}

// Attributes is what the permission asks of a step's target t: in its namespace, unless the
// permission is cluster-wide or the target is cluster-scoped, or the permission is one the action
// needs in the actions' own namespace (actionsNamespace).
func (p Permission) Attributes(t kubernautv1.Target, actionsNamespace string) *authorizationv1.ResourceAttributes {
	attrs := &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: p.Resource, Subresource: p.Subresource}
	switch {
	case p.ActionsNamespace:
		attrs.Namespace = actionsNamespace
	case !p.AllNamespaces && !t.Kind.IsClusterScoped():
		attrs.Namespace = t.Namespace
	}
	return attrs
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

func local(ps []Permission) []Permission {
	for i := range ps {
		ps[i].ActionsNamespace = true
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
	kubernautv1.ActionCustomScript:        join(workloadRead, local(perms("batch", "jobs", "", "get", "create"))),
}

// Permissions returns what an action needs.
func (a Action) Permissions() []Permission { return permissions[a.Name] }

// ServiceAccountName is the ServiceAccount an action runs as: kubernaut-action-<action>.
func ServiceAccountName(name kubernautv1.ActionName) string {
	return "kubernaut-action-" + name.DNSName()
}

// RoleName is the ClusterRole holding what an action needs on its target (in the target's
// namespace, or cluster-wide for node actions): named as its ServiceAccount.
func RoleName(name kubernautv1.ActionName) string { return ServiceAccountName(name) }

// LocalRoleName is the ClusterRole holding what an action needs in the actions' own namespace
// (only actions with such permissions have one).
func LocalRoleName(name kubernautv1.ActionName) string { return ServiceAccountName(name) + "-local" }

// Binding is one binding of a step's just-in-time grant: the ClusterRole Role bound to the
// action's ServiceAccount by a RoleBinding in Namespace, or by a ClusterRoleBinding when
// Namespace is empty.
type Binding struct {
	// Namespace of the RoleBinding; empty for a ClusterRoleBinding.
	Namespace string
	// Role is the ClusterRole bound.
	Role string
}

// Bindings are what a step of the action on t needs, no more: its role in the target's
// namespace, or cluster-wide when the target is cluster-scoped or a permission spans
// namespaces (drain evicts the node's pods everywhere); and its local role in
// actionsNamespace when it has one.
func (a Action) Bindings(t kubernautv1.Target, actionsNamespace string) []Binding {
	clusterWide, own, targeted := t.Kind.IsClusterScoped(), false, false
	for _, p := range a.Permissions() {
		switch {
		case p.ActionsNamespace:
			own = true
		case p.AllNamespaces:
			clusterWide, targeted = true, true
		default:
			targeted = true
		}
	}
	var out []Binding
	if targeted {
		b := Binding{Namespace: t.Namespace, Role: RoleName(a.Name)}
		if clusterWide {
			b.Namespace = ""
		}
		out = append(out, b)
	}
	if own {
		out = append(out, Binding{Namespace: actionsNamespace, Role: LocalRoleName(a.Name)})
	}
	return out
}

// RoleNames are every ClusterRole of the catalog: what the controller may bind (and nothing
// else).
func RoleNames() []string {
	var out []string
	for _, a := range Actions {
		for _, r := range roles(a) {
			out = append(out, r.Name)
		}
	}
	return out
}

// ServiceAccountNames are every action's ServiceAccount: what the controller may impersonate.
func ServiceAccountNames() []string {
	var out []string
	for _, a := range Actions {
		out = append(out, ServiceAccountName(a.Name))
	}
	return out
}

// roles are an action's ClusterRoles: what it needs where its target is, and (when it has
// any) what it needs in the actions' namespace.
func roles(a Action) []*rbacv1.ClusterRole {
	labels := map[string]string{"app.kubernetes.io/part-of": "kubernaut", kubernautv1.LabelAction: string(a.Name)}
	var target, own []Permission
	for _, p := range a.Permissions() {
		if p.ActionsNamespace {
			own = append(own, p)
		} else {
			target = append(target, p)
		}
	}
	role := func(name string, ps []Permission) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules(ps)}
	}
	out := []*rbacv1.ClusterRole{role(RoleName(a.Name), target)}
	if len(own) > 0 {
		out = append(out, role(LocalRoleName(a.Name), own))
	}
	return out
}

// RBAC returns, for every action, its ServiceAccount in namespace and the ClusterRoles holding
// exactly its permissions — bound to nothing: each step binds them just in time, where its
// target is, for as long as it runs.
func RBAC(namespace string) []any {
	var out []any
	for _, a := range Actions {
		sa := ServiceAccountName(a.Name)
		labels := map[string]string{"app.kubernetes.io/part-of": "kubernaut", kubernautv1.LabelAction: string(a.Name)}
		out = append(out, &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: namespace, Labels: labels}, AutomountServiceAccountToken: boolPtr(true)})
		for _, r := range roles(a) {
			out = append(out, r)
		}
	}
	return out
}

// GrantorRBAC is what the controller (ServiceAccount controller in namespace) needs to grant
// the actions their rights just in time, and nothing of the rights themselves: bind on the
// catalog's ClusterRoles by name, create and delete the bindings (admission limits them to
// those roles and the actions' ServiceAccounts), and impersonate the actions' ServiceAccounts
// by name (the controller's dry runs and the inprocess executor act as the step's
// ServiceAccount).
func GrantorRBAC(namespace, controller string) []any {
	labels := map[string]string{"app.kubernetes.io/part-of": "kubernaut"}
	const name = "kubernaut-controller-grants"
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: controller, Namespace: namespace}}
	ref := func(kind string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: name}
	}
	return []any{
		&rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: RoleNames()},
				{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings", "clusterrolebindings"}, Verbs: []string{"create", "delete", "get", "list"}},
			}},
		&rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, RoleRef: ref("ClusterRole"), Subjects: subjects},
		&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"impersonate"}, ResourceNames: ServiceAccountNames()},
			}},
		&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}, RoleRef: ref("Role"), Subjects: subjects},
	}
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
