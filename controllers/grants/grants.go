// Package grants gives an action's ServiceAccount its rights just in time: for one step (or
// one plan's dry run), the action's ClusterRole is bound to its ServiceAccount where the target
// is — a RoleBinding in the target's namespace, a ClusterRoleBinding for node actions — and
// unbound when the step has executed. At rest no action ServiceAccount holds any right, and the
// controller holds none of them either: it may bind the catalog's roles by name and
// impersonate the actions' ServiceAccounts by name (its dry runs and the inprocess executor act
// as the step's ServiceAccount, so the API server checks the step's rights, not the
// controller's).
//
// A binding cannot be owned by its step: the step lives in Kubernaut's namespace and the
// binding in the target's (or none), and the garbage collector ignores owner references across
// namespaces. Each binding therefore names its holder in annotations, and a Sweeper deletes the
// bindings whose holder is gone or done — the net under a revocation that failed, or a
// controller that died mid-step.
package grants

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// Labels and annotations on a grant's bindings.
const (
	// LabelGrant marks a binding as a just-in-time grant; its value is the holder's kind in
	// lower case ("kubernetesexecution", "workflowexecution").
	LabelGrant = "kubernaut.io/grant"
	// AnnotationHolder names the holder: "<Kind>/<namespace>/<name>/<uid>".
	AnnotationHolder = "kubernaut.io/grant-holder"
)

// Holder is what a grant is for: a step, or a plan while its steps are dry-run.
type Holder struct {
	// Kind is KubernetesExecution or WorkflowExecution.
	Kind string
	// Namespace and Name locate the holder.
	Namespace, Name string
	// UID tells the holder from a later object of the same name.
	UID types.UID
}

// HolderOf is the holder an object is.
func HolderOf(kind string, obj client.Object) Holder {
	return Holder{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
}

func (h Holder) String() string {
	return fmt.Sprintf("%s/%s/%s/%s", h.Kind, h.Namespace, h.Name, h.UID)
}

// parseHolder reads AnnotationHolder.
func parseHolder(s string) (Holder, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 4 || parts[0] == "" || parts[2] == "" {
		return Holder{}, false
	}
	return Holder{Kind: parts[0], Namespace: parts[1], Name: parts[2], UID: types.UID(parts[3])}, true
}

// Granter creates and deletes the bindings of just-in-time grants, and gives the clients that
// act as an action's ServiceAccount.
type Granter struct {
	// Client creates, reads and deletes the bindings and the SubjectAccessReviews (direct, no
	// cache).
	Client client.Client
	// Namespace holds the actions' ServiceAccounts (and runs custom_script's Jobs).
	Namespace string
	// Config is the controller's own client configuration; the actions' clients impersonate
	// from it.
	Config *rest.Config
	// Scheme and Mapper serve the impersonating clients.
	Scheme *runtime.Scheme
	Mapper meta.RESTMapper
	// Settle bounds how long Grant waits for the API server's authorizer to see a new binding
	// (its RBAC informer; 10 s when zero).
	Settle time.Duration

	mu   sync.Mutex
	envs map[kubernautv1.ActionName]actions.Env
}

// ServiceAccount is the user name of an action's ServiceAccount.
func (g *Granter) ServiceAccount(name kubernautv1.ActionName) string {
	return "system:serviceaccount:" + g.Namespace + ":" + catalog.ServiceAccountName(name)
}

// bindingName is a binding's name: derived from the holder and the binding, so a retry finds it.
func bindingName(h Holder, b catalog.Binding) string {
	f := fnv.New64a()
	_, _ = fmt.Fprintf(f, "%s|%s|%s", h, b.Namespace, b.Role)
	return fmt.Sprintf("kubernaut-grant-%016x", f.Sum64())
}

// object is the binding b of h's grant for action.
func (g *Granter) object(h Holder, action kubernautv1.ActionName, b catalog.Binding) client.Object {
	meta := metav1.ObjectMeta{Name: bindingName(h, b), Namespace: b.Namespace,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kubernaut", LabelGrant: strings.ToLower(h.Kind),
			kubernautv1.LabelAction: action.DNSName()},
		Annotations: map[string]string{AnnotationHolder: h.String()}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.Role}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: catalog.ServiceAccountName(action), Namespace: g.Namespace}}
	if b.Namespace == "" {
		return &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
	}
	return &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
}

// Grant binds what a step of action on t needs to the action's ServiceAccount, for h, and
// returns once the API server's authorizer allows the ServiceAccount the action's first
// permission (a new binding takes effect when the authorizer's informer sees it; a retry after
// a grant that did not settle in time waits again). A binding of that name that binds anything
// else is an error: it is not Kubernaut's.
func (g *Granter) Grant(ctx context.Context, h Holder, action catalog.Action, t kubernautv1.Target) error {
	for _, b := range action.Bindings(t, g.Namespace) {
		want := g.object(h, action.Name, b)
		err := g.Client.Create(ctx, want)
		switch {
		case err == nil:
			continue
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("granting %s its rights (%s %s): %w", catalog.ServiceAccountName(action.Name), kindOf(want), describe(want), err)
		}
		got := g.object(h, action.Name, b)
		if err := g.Client.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
			return fmt.Errorf("reading %s %s: %w", kindOf(want), describe(want), err)
		}
		if !sameBinding(want, got) {
			return fmt.Errorf("%s %s exists and is not this step's grant: it binds %s", kindOf(want), describe(want), binds(got))
		}
	}
	return g.settle(ctx, action, t)
}

// settle waits until the authorizer allows the ServiceAccount the action's first permission on
// t.
func (g *Granter) settle(ctx context.Context, action catalog.Action, t kubernautv1.Target) error {
	perms := action.Permissions()
	if len(perms) == 0 {
		return nil
	}
	attrs := perms[0].Attributes(t, g.Namespace)
	timeout := g.Settle
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               g.ServiceAccount(action.Name),
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + g.Namespace, "system:authenticated"},
			ResourceAttributes: attrs,
		}}
		if err := g.Client.Create(ctx, sar); err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("the grant of %s did not take effect within %s: %w", catalog.ServiceAccountName(action.Name), timeout, err)
	}
	return nil
}

// Revoke deletes h's grant for action on t; bindings already gone are fine.
func (g *Granter) Revoke(ctx context.Context, h Holder, action catalog.Action, t kubernautv1.Target) error {
	var errs []error
	for _, b := range action.Bindings(t, g.Namespace) {
		obj := g.object(h, action.Name, b)
		if err := g.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("revoking %s %s: %w", kindOf(obj), describe(obj), err))
		}
	}
	return errors.Join(errs...)
}

// Env is base acting as the action's ServiceAccount: its clients impersonate it (the API server
// authorizes every read, dry run and change as the step's own ServiceAccount).
func (g *Granter) Env(base actions.Env, name kubernautv1.ActionName) (actions.Env, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.envs[name]; ok {
		e.Log, e.Now, e.ChangedAt = base.Log, base.Now, base.ChangedAt
		return e, nil
	}
	cfg := rest.CopyConfig(g.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: g.ServiceAccount(name)}
	c, err := client.New(cfg, client.Options{Scheme: g.Scheme, Mapper: g.Mapper})
	if err != nil {
		return actions.Env{}, fmt.Errorf("creating the client of %s: %w", catalog.ServiceAccountName(name), err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return actions.Env{}, fmt.Errorf("creating the clientset of %s: %w", catalog.ServiceAccountName(name), err)
	}
	e := base
	e.Client, e.Kube = c, cs
	if _, ok := base.Exec.(actions.APIExec); ok { // a test's stand-in stays as it is
		e.Exec = actions.APIExec{Config: cfg, Kube: cs}
	}
	if g.envs == nil {
		g.envs = map[kubernautv1.ActionName]actions.Env{}
	}
	g.envs[name] = e
	return e, nil
}

func kindOf(obj client.Object) string {
	if obj.GetNamespace() == "" {
		return "ClusterRoleBinding"
	}
	return "RoleBinding"
}

func describe(obj client.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func parts(obj client.Object) (rbacv1.RoleRef, []rbacv1.Subject) {
	switch b := obj.(type) {
	case *rbacv1.RoleBinding:
		return b.RoleRef, b.Subjects
	case *rbacv1.ClusterRoleBinding:
		return b.RoleRef, b.Subjects
	}
	return rbacv1.RoleRef{}, nil
}

func sameBinding(a, b client.Object) bool {
	ra, sa := parts(a)
	rb, sb := parts(b)
	if ra != rb || len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

func binds(obj client.Object) string {
	ref, subjects := parts(obj)
	var who []string
	for _, s := range subjects {
		who = append(who, s.Kind+" "+strings.TrimPrefix(s.Namespace+"/", "/")+s.Name)
	}
	return fmt.Sprintf("%s %s to %s", ref.Kind, ref.Name, strings.Join(who, ", "))
}
