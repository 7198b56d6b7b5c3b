package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// kustomize renders a kustomization with the kustomize API (what Argo CD and Flux use).
func kustomize(dir string) []*unstructured.Unstructured {
	GinkgoHelper()
	resmap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	Expect(err).NotTo(HaveOccurred(), "rendering %s", dir)
	out, err := resmap.AsYaml()
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
	return objs
}

// monitoringOf reports whether the rendered objects carry the monitoring component, and checks
// it when they do: each ServiceMonitor selects a Service of the same namespace by its labels
// and scrapes a port that Service names; the dashboards' ConfigMap has Grafana's sidecar label
// and three dashboards that parse as JSON with a uid and panels.
func monitoringOf(objs []*unstructured.Unstructured) bool {
	GinkgoHelper()
	var services []corev1.Service
	var monitors []*unstructured.Unstructured
	var dashboards *corev1.ConfigMap
	rules := 0
	for _, o := range objs {
		switch o.GetKind() {
		case "Service":
			var svc corev1.Service
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &svc)).To(Succeed())
			services = append(services, svc)
		case "ServiceMonitor":
			monitors = append(monitors, o)
		case "PrometheusRule":
			rules++
			Expect(o.GetNamespace()).To(Equal("kubernaut-system"))
		case "ConfigMap":
			if o.GetName() == "kubernaut-dashboards" {
				dashboards = &corev1.ConfigMap{}
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dashboards)).To(Succeed())
			}
		}
	}
	if len(monitors) == 0 && rules == 0 && dashboards == nil {
		return false
	}
	Expect(monitors).To(HaveLen(2))
	Expect(rules).To(Equal(1))
	for _, m := range monitors {
		selector, _, _ := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
		endpoints, _, _ := unstructured.NestedSlice(m.Object, "spec", "endpoints")
		Expect(endpoints).To(HaveLen(1), m.GetName())
		port := endpoints[0].(map[string]any)["port"]
		matched := 0
		for _, svc := range services {
			if svc.Namespace != m.GetNamespace() || !labels.SelectorFromSet(selector).Matches(labels.Set(svc.Labels)) {
				continue
			}
			matched++
			var names []string
			for _, p := range svc.Spec.Ports {
				names = append(names, p.Name)
			}
			Expect(names).To(ContainElement(port), "ServiceMonitor %s scrapes port %v of Service %s", m.GetName(), port, svc.Name)
		}
		Expect(matched).To(Equal(1), "ServiceMonitor %s must select exactly one Service", m.GetName())
	}
	Expect(dashboards).NotTo(BeNil())
	Expect(dashboards.Namespace).To(Equal("kubernaut-system"))
	Expect(dashboards.Labels).To(HaveKeyWithValue("grafana_dashboard", "1"))
	Expect(dashboards.Data).To(HaveLen(3))
	for key, body := range dashboards.Data {
		var d struct {
			UID    string           `json:"uid"`
			Panels []map[string]any `json:"panels"`
		}
		Expect(json.Unmarshal([]byte(body), &d)).To(Succeed(), key)
		Expect(d.UID + ".json").To(Equal(key))
		Expect(d.Panels).NotTo(BeEmpty(), key)
	}
	return true
}

var _ = Describe("The base manifests", func() {
	It("render with the kustomize API", func() {
		kinds := map[string]int{}
		for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
			kinds[o.GetKind()]++
			switch o.GetKind() {
			case "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
				// The kustomize API does not know these GA kinds yet and gives them the base's
				// namespace; the API server clears a namespace on a cluster-scoped object
				// (the dry run below applies them).
			case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
				"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
				Expect(o.GetNamespace()).To(BeEmpty(), "%s %s is cluster-scoped", o.GetKind(), o.GetName())
			default:
				Expect(o.GetNamespace()).To(Equal("kubernaut-system"), "%s %s", o.GetKind(), o.GetName())
			}
		}
		// Approvals the API server vouches for.
		Expect(kinds).To(HaveKeyWithValue("MutatingAdmissionPolicy", 3)) // the approvers' and the changes' authors
		Expect(kinds).To(HaveKeyWithValue("ValidatingAdmissionPolicy", 5))
		Expect(kinds).To(HaveKeyWithValue("CustomResourceDefinition", 6))
		Expect(kinds).To(HaveKeyWithValue("Deployment", 2))
		Expect(kinds).To(HaveKeyWithValue("NetworkPolicy", 7))
	})

	It("let the steps' pods (action Jobs, Argo's step pods) reach the API server past the default deny", func() {
		egress := map[string]bool{}
		for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
			if o.GetKind() != "NetworkPolicy" {
				continue
			}
			var np networkingv1.NetworkPolicy
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &np)).To(Succeed())
			for _, e := range np.Spec.PodSelector.MatchExpressions {
				for _, rule := range np.Spec.Egress {
					for _, p := range rule.Ports {
						if e.Operator == metav1.LabelSelectorOpExists && p.Port != nil && p.Port.IntValue() == 443 {
							egress[e.Key] = true
						}
					}
				}
			}
		}
		Expect(egress).To(HaveKey(kubernautv1.LabelAction), "the job executor's Jobs carry it")
		Expect(egress).To(HaveKey("workflows.argoproj.io/workflow"), "Argo labels its step pods with it")
	})

	It("let only Alertmanager reach the webhooks and only Prometheus the metrics", func() {
		// who may reach each port of each component, as "namespace/pod-name-label"
		peers := map[string][]string{}
		for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
			if o.GetKind() != "NetworkPolicy" {
				continue
			}
			var np networkingv1.NetworkPolicy
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &np)).To(Succeed())
			for _, rule := range np.Spec.Ingress {
				for _, p := range rule.Ports {
					key := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] + ":" + p.Port.String()
					for _, from := range rule.From {
						Expect(from.NamespaceSelector).NotTo(BeNil(), "%s: a peer without a namespace selector", np.Name)
						Expect(from.PodSelector).NotTo(BeNil(), "%s: a whole namespace may reach %s", np.Name, key)
						peers[key] = append(peers[key], from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]+"/"+from.PodSelector.MatchLabels["app.kubernetes.io/name"])
					}
				}
			}
		}
		Expect(peers).To(Equal(map[string][]string{
			"kubernaut-gateway:8090":    {"monitoring/alertmanager"},
			"kubernaut-gateway:8091":    {"monitoring/prometheus"},
			"kubernaut-controller:8080": {"monitoring/prometheus"},
		}))
	})

	It("include an example TrustPolicy the API server takes, and whose floor-above-ceiling is refused", func(ctx SpecContext) {
		out := kubectl(ctx, "apply", "-k", filepath.Join(root, "manifests", "trust"), "--dry-run=server")
		Expect(out).To(ContainSubstring("trustpolicy.kubernaut.io/default created (server dry run)"))
		bad := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bad-limits"}, Spec: kubernautv1.TrustPolicySpec{
			Limits: []kubernautv1.TrustLimit{{Floor: kubernautv1.TrustAutomate, Ceiling: kubernautv1.TrustApprove}}}}
		err := k8s.Create(ctx, bad, client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring("floor is above ceiling")))
	})

	It("apply to the API server (server-side dry run)", func(ctx SpecContext) {
		// A dry run creates nothing, so the namespace the other objects go to must exist.
		err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubernaut-system"}})
		Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		out := kubectl(ctx, "apply", "-k", filepath.Join(root, "manifests", "base"), "--dry-run=server")
		Expect(out).To(ContainSubstring("deployment.apps/kubernaut-gateway created (server dry run)"))
		Expect(out).To(ContainSubstring("clusterrole.rbac.authorization.k8s.io/kubernaut-controller-read created (server dry run)"))
		Expect(out).To(ContainSubstring("networkpolicy.networking.k8s.io/default-deny created (server dry run)"))
		// The suite installed them already.
		Expect(out).To(MatchRegexp(`mutatingadmissionpolicy.admissionregistration.k8s.io/kubernaut-approval-identity (created|configured|unchanged) \(server dry run\)`))
		Expect(out).To(MatchRegexp(`validatingadmissionpolicy.admissionregistration.k8s.io/kubernaut-approvals (created|configured|unchanged) \(server dry run\)`))
	})

	DescribeTable("overlays render with the kustomize API and apply to the API server (server-side dry run)",
		func(ctx SpecContext, overlay string, controllerReplicas, gatewayReplicas int64, monitored bool, want []string) {
			dir := filepath.Join(root, "manifests", "overlays", overlay)
			deployments := map[string]appsv1.Deployment{}
			objs := kustomize(dir)
			Expect(monitoringOf(objs)).To(Equal(monitored), "the monitoring component")
			for _, o := range objs {
				if o.GetKind() != "Deployment" {
					continue
				}
				var d appsv1.Deployment
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d)).To(Succeed())
				deployments[d.Name] = d
			}
			ctrl, gw := deployments["kubernaut-controller"], deployments["kubernaut-gateway"]
			Expect(int64(*ctrl.Spec.Replicas)).To(Equal(controllerReplicas))
			Expect(int64(*gw.Spec.Replicas)).To(Equal(gatewayReplicas))
			Expect(ctrl.Spec.Template.Spec.Containers[0].Args).To(ContainElements(want))
			Expect(ctrl.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--leader-elect=true"), "the base's leader election stays")
			if overlay != "development" {
				Expect(ctrl.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/platform/kubernaut:v0.1.0"))
				Expect(gw.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/platform/kubernaut:v0.1.0"))
			}
			for _, d := range deployments {
				var limit bool
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					limit = limit || e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil
				}
				Expect(limit).To(BeTrue(), "%s: GOMEMLIMIT from the container's memory limit", d.Name)
			}

			err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubernaut-system"}})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
			out := kubectl(ctx, "apply", "-k", dir, "--dry-run=server")
			Expect(out).To(ContainSubstring("deployment.apps/kubernaut-controller created (server dry run)"))
			Expect(out).To(ContainSubstring("deployment.apps/kubernaut-gateway created (server dry run)"))
			if monitored {
				Expect(out).To(ContainSubstring("servicemonitor.monitoring.coreos.com/kubernaut-controller created (server dry run)"))
				Expect(out).To(ContainSubstring("servicemonitor.monitoring.coreos.com/kubernaut-gateway created (server dry run)"))
				Expect(out).To(ContainSubstring("prometheusrule.monitoring.coreos.com/kubernaut created (server dry run)"))
				Expect(out).To(ContainSubstring("configmap/kubernaut-dashboards created (server dry run)"))
			}
		},
		Entry("development: one of each, builtin engine, in-process executor, dry run", "development", int64(1), int64(1), false,
			[]string{"--engine=builtin", "--executor=inprocess", "--dry-run", "--zap-log-level=debug"}),
		Entry("staging: HolmesGPT, the job executor, monitoring", "staging", int64(2), int64(2), true,
			[]string{"--engine=builtin", "--executor=job", "--analyzer=holmesgpt", "--holmesgpt-url=http://holmesgpt.holmes.svc",
				"--actions-image=registry.example.com/platform/kubernaut-actions:v0.1.0"}),
		Entry("production: Argo, the job executor, HolmesGPT, monitoring", "production", int64(2), int64(3), true,
			[]string{"--engine=argo", "--executor=job", "--analyzer=holmesgpt", "--holmesgpt-url=http://holmesgpt.holmes.svc",
				"--argo-ui-url=https://argo.example.com", "--argo-workflow-template-ref", "--auto-approve-threshold=0.9"}),
	)

	It("grant least privilege: no wildcard, no escalation, no Secrets, no exec but clear_cache's own", func() {
		var rules []rbacv1.PolicyRule
		roles := map[string]bool{}
		for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
			if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
				continue
			}
			var r rbacv1.ClusterRole
			Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r)).To(Succeed())
			roles[r.Name] = true
			switch r.Name {
			case catalog.ServiceAccountName(kubernautv1.ActionClearCache):
				// The one place exec is granted: the command a workload declares, by its own
				// ServiceAccount, for the step's duration.
				Expect(r.Rules).To(ContainElement(HaveField("Resources", ContainElement("pods/exec"))))
				continue
			case "kubernaut-controller-grants":
				// The one place bind and impersonate are granted: the catalog's own roles and
				// ServiceAccounts, by name.
				for _, rule := range r.Rules {
					if slices.Contains(rule.Verbs, "bind") {
						Expect(rule.ResourceNames).To(ConsistOf(catalog.RoleNames()))
					}
					if slices.Contains(rule.Verbs, "impersonate") {
						Expect(rule.ResourceNames).To(ConsistOf(catalog.ServiceAccountNames()))
					}
					rule.Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == "bind" || v == "impersonate" })
					rules = append(rules, rule)
				}
				continue
			}
			rules = append(rules, r.Rules...)
		}
		for _, a := range catalog.Actions {
			Expect(roles).To(HaveKey(catalog.ServiceAccountName(a.Name)), "every action has its own ClusterRole")
		}
		Expect(rules).NotTo(BeEmpty())
		for _, r := range rules {
			for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
				Expect(field).NotTo(ContainElement("*"), "rule %+v", r)
			}
			Expect(r.Verbs).NotTo(ContainElements("escalate", "bind", "impersonate"), "rule %+v", r)
			for _, res := range r.Resources {
				Expect(res).NotTo(Equal("secrets"), "rule %+v", r)
				Expect(strings.HasSuffix(res, "/exec")).To(BeFalse(), "rule %+v", r)
			}
		}
	})

	It("bind nothing standing that escalates: no cluster-wide create of workloads or pods/exec, no cluster-wide ConfigMap writes, no action role bound at rest", func() {
		clusterRoles := map[string]rbacv1.ClusterRole{}
		var bindings []rbacv1.ClusterRoleBinding
		for _, o := range kustomize(filepath.Join(root, "manifests", "base")) {
			switch o.GetKind() {
			case "ClusterRole":
				var r rbacv1.ClusterRole
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &r)).To(Succeed())
				clusterRoles[r.Name] = r
			case "ClusterRoleBinding":
				var b rbacv1.ClusterRoleBinding
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b)).To(Succeed())
				bindings = append(bindings, b)
			case "RoleBinding":
				var b rbacv1.RoleBinding
				Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &b)).To(Succeed())
				Expect(catalog.RoleNames()).NotTo(ContainElement(b.RoleRef.Name), "RoleBinding %s binds an action's role at rest", b.Name)
			}
		}
		Expect(bindings).NotTo(BeEmpty())
		workloads := []string{"pods", "jobs", "cronjobs", "deployments", "daemonsets", "statefulsets", "replicasets", "pods/exec"}
		for _, b := range bindings {
			Expect(catalog.RoleNames()).NotTo(ContainElement(b.RoleRef.Name), "ClusterRoleBinding %s binds an action's role at rest", b.Name)
			role, ok := clusterRoles[b.RoleRef.Name]
			Expect(ok).To(BeTrue(), "ClusterRoleBinding %s binds %s, which the manifests do not define", b.Name, b.RoleRef.Name)
			for _, r := range role.Rules {
				for _, res := range r.Resources {
					if slices.Contains(workloads, res) {
						Expect(r.Verbs).NotTo(ContainElement("create"), "cluster-wide create %s by %s", res, b.Name)
					}
					if res == "configmaps" && len(r.ResourceNames) == 0 {
						Expect(r.Verbs).NotTo(ContainElements("create", "update", "patch", "delete"), "cluster-wide writes to ConfigMaps by %s", b.Name)
					}
				}
			}
		}
	})
})

var _ = Describe("Argo's settings (manifests/argo)", func() {
	It("patch an Argo install's workflow-controller as docs/benchmarks.md measured", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "argo.yaml"), []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: workflow-controller, namespace: argo}
spec:
  selector: {matchLabels: {app: workflow-controller}}
  template:
    metadata: {labels: {app: workflow-controller}}
    spec:
      containers:
      - name: workflow-controller
        image: quay.io/argoproj/workflow-controller:v3.7.18
        args: [--configmap, workflow-controller-configmap, --executor-image, quay.io/argoproj/argoexec:v3.7.18]
        env:
        - {name: LEADER_ELECTION_IDENTITY, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: workflow-controller-configmap, namespace: argo}
data:
  namespace: argo
`), 0o600)).To(Succeed())
		component, err := filepath.Rel(dir, filepath.Join(root, "manifests", "argo")) // kustomize takes no absolute path
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [argo.yaml]\ncomponents: ["+component+"]\n"), 0o600)).To(Succeed())
		opts := krusty.MakeDefaultOptions()
		opts.LoadRestrictions = kusttypes.LoadRestrictionsNone
		resmap, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
		Expect(err).NotTo(HaveOccurred())
		out, err := resmap.AsYaml()
		Expect(err).NotTo(HaveOccurred())
		var d appsv1.Deployment
		var cm corev1.ConfigMap
		for _, doc := range strings.Split(string(out), "\n---\n") {
			switch {
			case strings.Contains(doc, "kind: Deployment"):
				Expect(sigsyaml.Unmarshal([]byte(doc), &d)).To(Succeed())
			case strings.Contains(doc, "kind: ConfigMap"):
				Expect(sigsyaml.Unmarshal([]byte(doc), &cm)).To(Succeed())
			}
		}
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(Equal([]string{"--configmap", "workflow-controller-configmap", "--executor-image", "quay.io/argoproj/argoexec:v3.7.18",
			"--qps=200", "--burst=400", "--workflow-workers=32"}))
		Expect(c.Env).To(ContainElements(HaveField("Name", "LEADER_ELECTION_IDENTITY"), corev1.EnvVar{Name: "INFORMER_WRITE_BACK", Value: "false"}), "merged, not replaced")
		Expect(cm.Data).To(Equal(map[string]string{"namespace": "argo", "nodeEvents": "enabled: false"}), "merged, not replaced")
	})
})
