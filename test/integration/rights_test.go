package integration

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var update = flag.Bool("update", false, "rewrite docs/rbac-proof.md from what the API server answers")

const (
	system     = "kubernaut-system"
	controller = "system:serviceaccount:kubernaut-system:kubernaut-controller"
)

// installBaseRBAC applies the ServiceAccounts, roles and bindings of manifests/base, as
// kustomize renders them, and removes those it created when the container's specs end (the
// other specs of the suite, such as the manifests' dry run, expect a cluster without them; the
// approval roles the suite installed stay).
func installBaseRBAC(ctx SpecContext) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: system}}
	Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, ns))).To(Succeed())
	for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
		switch o.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
			// What the suite installed already (the approval roles) stays.
			existing := o.DeepCopy()
			err := k8s.Get(ctx, client.ObjectKeyFromObject(o), existing)
			Expect(client.IgnoreNotFound(err)).To(Succeed())
			Expect(k8s.Patch(ctx, o, client.Apply, client.FieldOwner("kubernaut-test"), client.ForceOwnership)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			if apierrors.IsNotFound(err) {
				DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, o))).To(Succeed()) })
			}
		}
	}
}

// tokenConfig is a configuration that authenticates as a ServiceAccount of kubernaut-system with
// a token the API server issued (as the pod would): impersonation from it is the
// ServiceAccount's own, not the suite admin's.
func tokenConfig(ctx SpecContext, name string) *rest.Config {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	tok, err := cs.CoreV1().ServiceAccounts(system).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	c := rest.AnonymousClientConfig(cfg)
	c.BearerToken = tok.Status.Token
	return c
}

// configAs is the suite's configuration impersonating user.
func configAs(user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	return c
}

// can asks the API server's authorizer whether user may verb resource in ns ("" cluster-wide).
func can(ctx context.Context, user, verb, group, resource, ns string) bool {
	GinkgoHelper()
	res, sub, _ := strings.Cut(resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + system, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Subresource: sub, Namespace: ns}}}
	Expect(k8s.Create(ctx, sar)).To(Succeed())
	return sar.Status.Allowed
}

func actionSA(a kubernautv1.ActionName) string {
	return "system:serviceaccount:" + system + ":" + catalog.ServiceAccountName(a)
}

// countedRules counts the rules reviews the API server answered.
type countedRules struct {
	kubernetesexecution.RulesReviewer
	answered atomic.Int32
}

func (c *countedRules) Rules(ctx context.Context, name kubernautv1.ActionName, ns string) ([]authorizationv1.ResourceRule, bool, error) {
	rules, incomplete, err := c.RulesReviewer.Rules(ctx, name, ns)
	if err == nil {
		c.answered.Add(1)
	}
	return rules, incomplete, err
}

// eventuallyCan waits until the authorizer (an informer) agrees.
func eventuallyCan(ctx SpecContext, want bool, user, verb, group, resource, ns string) {
	GinkgoHelper()
	Eventually(func() bool { return can(ctx, user, verb, group, resource, ns) }).WithContext(ctx).WithTimeout(10*time.Second).
		Should(Equal(want), "%s %s %s in %q", user, verb, resource, ns)
}

var _ = Describe("Just-in-time rights (manifests/base RBAC and admission on the real API server)", Ordered, func() {
	var granter *grants.Granter
	BeforeAll(func(ctx SpecContext) {
		installBaseRBAC(ctx)
		c := tokenConfig(ctx, "kubernaut-controller")
		kc, err := client.New(c, client.Options{Scheme: cluster.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		// The controller's own identity does the granting: its RBAC and admission are what is tested.
		granter = &grants.Granter{Client: kc, Namespace: system, Config: c, Scheme: cluster.Scheme(), Mapper: k8s.RESTMapper()}
	})

	holder := func(ctx SpecContext, ns string) (*kubernautv1.KubernetesExecution, grants.Holder) {
		GinkgoHelper()
		ke := &kubernautv1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{Namespace: system, GenerateName: "step-"},
			Spec: kubernautv1.KubernetesExecutionSpec{Mode: kubernautv1.ExecutionModeExecute, StepName: "restart",
				ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionRestartDeployment, Target: kubernautv1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}}}}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		return ke, grants.HolderOf("KubernetesExecution", ke)
	}

	It("gives a step's ServiceAccount its action's rights only while it runs and only where its target is", func(ctx SpecContext) {
		shop, other := newNamespace(ctx), newNamespace(ctx)
		sa := actionSA(kubernautv1.ActionRestartDeployment)
		Expect(can(ctx, sa, "patch", "apps", "deployments", shop)).To(BeFalse(), "no standing right")
		_, h := holder(ctx, shop)
		entry, err := catalog.Lookup(kubernautv1.ActionRestartDeployment)
		Expect(err).NotTo(HaveOccurred())
		target := kubernautv1.Target{Kind: "Deployment", Namespace: shop, Name: "web"}
		Expect(granter.Grant(ctx, h, entry, target)).To(Succeed())
		Expect(can(ctx, sa, "patch", "apps", "deployments", shop)).To(BeTrue(), "Grant returns once the authorizer sees it")
		Expect(can(ctx, sa, "patch", "apps", "deployments", other)).To(BeFalse(), "only where the target is")
		Expect(can(ctx, sa, "patch", "apps", "deployments", "")).To(BeFalse(), "not cluster-wide")
		Expect(can(ctx, actionSA(kubernautv1.ActionUpdateConfig), "patch", "", "configmaps", shop)).To(BeFalse(), "only the step's action")
		Expect(granter.Grant(ctx, h, entry, target)).To(Succeed(), "granting again finds the grant")

		// The env acts as the ServiceAccount: the API server authorizes its requests, not the controller's.
		e, err := granter.Env(actions.Env{Log: GinkgoLogr}, kubernautv1.ActionRestartDeployment)
		Expect(err).NotTo(HaveOccurred())
		Expect(e.Client.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(shop))).To(Satisfy(apierrors.IsForbidden))

		Expect(granter.Revoke(ctx, h, entry, target)).To(Succeed())
		eventuallyCan(ctx, false, sa, "patch", "apps", "deployments", shop)
		Expect(granter.Revoke(ctx, h, entry, target)).To(Succeed(), "revoking again is fine")
	})

	It("answers a step's access review with one rules review per namespace, as SubjectAccessReviews answer it", func(ctx SpecContext) {
		shop := newNamespace(ctx)
		_, h := holder(ctx, shop)
		bySAR := &kubernetesexecution.Authorizer{Client: k8s, Namespace: system}
		reviews := &countedRules{RulesReviewer: granter}
		byRules := &kubernetesexecution.Authorizer{Client: k8s, Namespace: system, Rules: reviews}
		both := func(a catalog.Action, t kubernautv1.Target) (*kubernautv1.AuthorizationResult, *kubernautv1.AuthorizationResult) {
			GinkgoHelper()
			s, err := bySAR.Authorize(ctx, a, t)
			Expect(err).NotTo(HaveOccurred())
			r, err := byRules.Authorize(ctx, a, t)
			Expect(err).NotTo(HaveOccurred())
			return s, r
		}
		for _, a := range catalog.Actions {
			t := kubernautv1.Target{Kind: a.Targets[0], Namespace: shop, Name: "x"}
			if t.Kind.IsClusterScoped() {
				t.Namespace = ""
			}
			s, r := both(a, t)
			Expect(r).To(Equal(s), "%s on %s, no grant", a.Name, t)
			Expect(r.Allowed).To(BeFalse(), "%s: no standing right", a.Name)
			Expect(r.Denied).NotTo(BeEmpty(), "%s: the refused permissions named", a.Name)

			Expect(granter.Grant(ctx, h, a, t)).To(Succeed())
			Eventually(func() *kubernautv1.AuthorizationResult { _, r := both(a, t); return r }).WithContext(ctx).WithTimeout(10*time.Second).
				Should(HaveField("Allowed", BeTrue()), "%s on %s, granted", a.Name, t)
			s, r = both(a, t)
			Expect(r).To(Equal(s), "%s on %s, granted", a.Name, t)

			Expect(granter.Revoke(ctx, h, a, t)).To(Succeed())
			Eventually(func() *kubernautv1.AuthorizationResult { _, r := both(a, t); return r }).WithContext(ctx).WithTimeout(10*time.Second).
				Should(HaveField("Allowed", BeFalse()), "%s on %s, revoked", a.Name, t)
		}
		// The rules answered (the ServiceAccounts may review their own rules): one review per
		// namespace and Authorize, none for what is cluster-wide.
		Expect(reviews.answered.Load()).To(BeNumerically(">", 3*len(catalog.Actions)/2), "rules reviews answered")
	})

	It("binds node actions cluster-wide for the step only, and custom_script's Job rights only in Kubernaut's namespace", func(ctx SpecContext) {
		shop := newNamespace(ctx)
		_, h := holder(ctx, shop)
		drain, err := catalog.Lookup(kubernautv1.ActionDrainNode)
		Expect(err).NotTo(HaveOccurred())
		node := kubernautv1.Target{Kind: "Node", Name: "worker-1"}
		sa := actionSA(kubernautv1.ActionDrainNode)
		Expect(granter.Grant(ctx, h, drain, node)).To(Succeed())
		eventuallyCan(ctx, true, sa, "create", "", "pods/eviction", shop)
		Expect(granter.Revoke(ctx, h, drain, node)).To(Succeed())
		eventuallyCan(ctx, false, sa, "create", "", "pods/eviction", shop)

		script, err := catalog.Lookup(kubernautv1.ActionCustomScript)
		Expect(err).NotTo(HaveOccurred())
		web := kubernautv1.Target{Kind: "Deployment", Namespace: shop, Name: "web"}
		sa = actionSA(kubernautv1.ActionCustomScript)
		Expect(granter.Grant(ctx, h, script, web)).To(Succeed())
		eventuallyCan(ctx, true, sa, "create", "batch", "jobs", system)
		Expect(can(ctx, sa, "create", "batch", "jobs", shop)).To(BeFalse(), "no Job (a pod as any ServiceAccount) in the target's namespace")
		Expect(can(ctx, sa, "get", "apps", "deployments", shop)).To(BeTrue())
		Expect(granter.Revoke(ctx, h, script, web)).To(Succeed())
		eventuallyCan(ctx, false, sa, "create", "batch", "jobs", system)
	})

	It("lets the controller bind only the catalog's roles, each to its own ServiceAccount, and act as nobody else", func(ctx SpecContext) {
		shop := newNamespace(ctx)
		ctl := as(controller)
		bind := func(role, saName, saNamespace string) error {
			return ctl.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: shop, GenerateName: "probe-",
				Labels: map[string]string{grants.LabelGrant: "kubernetesexecution"}},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: saName, Namespace: saNamespace}}})
		}
		updateConfig := catalog.RoleName(kubernautv1.ActionUpdateConfig)
		Expect(bind("admin", updateConfig, system)).To(Satisfy(apierrors.IsForbidden), "RBAC: bind only the catalog's roles")
		err := bind(updateConfig, "default", shop)
		Expect(err).To(Satisfy(apierrors.IsForbidden), "admission: only to the action's own ServiceAccount")
		Expect(err.Error()).To(ContainSubstring("only to that action's own ServiceAccount in kubernaut-system"))
		Expect(bind(updateConfig, catalog.ServiceAccountName(kubernautv1.ActionDrainNode), system)).To(Satisfy(apierrors.IsForbidden))
		Expect(bind(updateConfig, updateConfig, system)).To(Succeed(), "the one shape a grant has")
		// It deletes its grants, and nobody else's bindings (RBAC cannot limit delete by name).
		var grantsMade rbacv1.RoleBindingList
		Expect(k8s.List(ctx, &grantsMade, client.InNamespace(shop), client.HasLabels{grants.LabelGrant})).To(Succeed())
		Expect(grantsMade.Items).To(HaveLen(1))
		Expect(ctl.Delete(ctx, &grantsMade.Items[0])).To(Succeed())
		grant(ctx, shop, "carol", "view")
		var others rbacv1.RoleBindingList
		Expect(k8s.List(ctx, &others, client.InNamespace(shop))).To(Succeed())
		Expect(others.Items).To(HaveLen(1))
		err = ctl.Delete(ctx, &others.Items[0])
		Expect(err).To(Satisfy(apierrors.IsForbidden))
		Expect(err.Error()).To(ContainSubstring("Kubernaut deletes only its own grants"))

		// The controller holds none of the actions' rights itself.
		for _, p := range [][4]string{{"patch", "apps", "deployments", shop}, {"patch", "", "configmaps", shop}, {"create", "", "pods/exec", shop},
			{"create", "batch", "jobs", shop}, {"delete", "", "pods", shop}, {"patch", "", "nodes", ""}, {"create", "", "pods/eviction", shop}} {
			Expect(can(ctx, controller, p[0], p[1], p[2], p[3])).To(BeFalse(), "the controller may %s %s in %q", p[0], p[2], p[3])
		}
		// It impersonates the actions' ServiceAccounts only (not the same names elsewhere).
		g := &grants.Granter{Client: granter.Client, Namespace: "kube-system", Config: granter.Config, Scheme: cluster.Scheme(), Mapper: k8s.RESTMapper()}
		e, err := g.Env(actions.Env{}, kubernautv1.ActionRestartPod)
		Expect(err).NotTo(HaveOccurred())
		Expect(e.Client.List(ctx, &corev1.PodList{}, client.InNamespace(shop))).To(MatchError(ContainSubstring("cannot impersonate")))
	})

	It("sweeps the grants whose step is gone or done, and keeps a running step's", func(ctx SpecContext) {
		shop := newNamespace(ctx)
		entry, err := catalog.Lookup(kubernautv1.ActionRestartDeployment)
		Expect(err).NotTo(HaveOccurred())
		target := kubernautv1.Target{Kind: "Deployment", Namespace: shop, Name: "web"}
		_, hRunning := holder(ctx, shop)
		done, hDone := holder(ctx, shop)
		gone, hGone := holder(ctx, shop)
		for _, h := range []grants.Holder{hRunning, hDone, hGone} {
			Expect(granter.Grant(ctx, h, entry, target)).To(Succeed())
		}
		done.Status.Phase = kubernautv1.ExecutionSucceeded
		Expect(k8s.Status().Update(ctx, done)).To(Succeed())
		Expect(k8s.Delete(ctx, gone)).To(Succeed())

		s := &grants.Sweeper{Client: k8s, Reader: k8s, Log: GinkgoLogr, Kinds: map[string]grants.HolderKind{
			"KubernetesExecution": {New: func() client.Object { return &kubernautv1.KubernetesExecution{} },
				Needs: func(o client.Object, _, _ time.Time) bool {
					return kubernetesexecution.NeedsGrant(o.(*kubernautv1.KubernetesExecution))
				}}}}
		Expect(s.Sweep(ctx, time.Now())).To(BeNumerically(">=", 2))
		var left rbacv1.RoleBindingList
		Expect(k8s.List(ctx, &left, client.InNamespace(shop), client.HasLabels{grants.LabelGrant})).To(Succeed())
		Expect(left.Items).To(HaveLen(1))
		Expect(left.Items[0].Annotations[grants.AnnotationHolder]).To(Equal(hRunning.String()))
	})

	It("proves it with what `kubectl auth can-i --list` answers for each of Kubernaut's ServiceAccounts (docs/rbac-proof.md)", func(ctx SpecContext) {
		shop := "shop"
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shop}}); err != nil {
			Expect(apierrors.IsAlreadyExists(err)).To(BeTrue())
		}
		_, h := holder(ctx, shop)
		entry, err := catalog.Lookup(kubernautv1.ActionRestartDeployment)
		Expect(err).NotTo(HaveOccurred())
		target := kubernautv1.Target{Kind: "Deployment", Namespace: shop, Name: "web"}
		users := []string{controller, "system:serviceaccount:kubernaut-system:kubernaut-gateway",
			"system:serviceaccount:kubernaut-system:kubernaut-workflow", actionSA(kubernautv1.ActionRestartDeployment)}

		var doc strings.Builder
		doc.WriteString("# What Kubernaut's ServiceAccounts may do, before, during and after a step\n\n")
		doc.WriteString("Generated by `test/integration/rights_test.go` from the API server's answers (a SelfSubjectRulesReview per\n")
		doc.WriteString("ServiceAccount in the opted-in namespace `shop`, what `kubectl auth can-i --list -n shop --as …` prints) with\n")
		doc.WriteString("`manifests/base` installed. The step is `restart_deployment` on `Deployment shop/web`. Regenerate with\n")
		doc.WriteString("`go test ./test/integration/ -run TestIntegration -args -update -ginkgo.focus='rbac-proof'`; the suite fails\n")
		doc.WriteString("when this file and the API server disagree. The rules every authenticated user holds (discovery,\n")
		doc.WriteString("self-reviews) are left out.\n")
		stage := func(title string) {
			fmt.Fprintf(&doc, "\n## %s\n", title)
			for _, u := range users {
				fmt.Fprintf(&doc, "\n### %s\n\n", strings.TrimPrefix(u, "system:serviceaccount:"))
				doc.WriteString(rulesOf(ctx, u, shop))
			}
		}
		stage("Before the step (at rest)")
		Expect(granter.Grant(ctx, h, entry, target)).To(Succeed())
		stage("During the step (granted just in time)")
		Expect(granter.Revoke(ctx, h, entry, target)).To(Succeed())
		eventuallyCan(ctx, false, actionSA(kubernautv1.ActionRestartDeployment), "patch", "apps", "deployments", shop)
		stage("After the step (revoked)")

		path := filepath.Join(root, "docs", "rbac-proof.md")
		if *update {
			Expect(os.WriteFile(path, []byte(doc.String()), 0o644)).To(Succeed())
		}
		want, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred(), "run with -update to write it")
		Expect(doc.String()).To(Equal(string(want)), "docs/rbac-proof.md is stale: run with -update")
	})
})

// everyone are the resource rules every authenticated user holds (system:basic-user and
// friends): left out of the proof.
var everyone = []string{"selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io",
	"selfsubjectreviews.authentication.k8s.io"}

// rulesOf is what `kubectl auth can-i --list` prints for user in ns, as a Markdown table sorted
// by resource.
func rulesOf(ctx SpecContext, user, ns string) string {
	GinkgoHelper()
	kc, err := client.New(configAs(user), client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	r := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}
	Expect(kc.Create(ctx, r)).To(Succeed())
	var rows []string
	for _, rule := range r.Status.ResourceRules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				name := res
				if g != "" {
					name += "." + g
				}
				if slices.Contains(everyone, name) {
					continue
				}
				verbs := slices.Clone(rule.Verbs)
				slices.Sort(verbs)
				names := slices.Clone(rule.ResourceNames)
				slices.Sort(names)
				rows = append(rows, fmt.Sprintf("| %s | %s | %s |", name, strings.Join(names, " "), strings.Join(verbs, " ")))
			}
		}
	}
	slices.Sort(rows)
	rows = slices.Compact(rows)
	if len(rows) == 0 {
		return "nothing\n"
	}
	return "| resource | names | verbs |\n|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
}
