// Package e2e runs Kubernaut against a full local control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok nodes, all built from source.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var (
	env       *cluster.Cluster
	k8s       client.Client
	clientset kubernetes.Interface
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	// An Eventually given the spec's context would wait for what it expects until go test's
	// own timeout; a failing spec waits at most a minute, then says what it saw.
	SetDefaultEventuallyTimeout(time.Minute)
	EnforceDefaultTimeoutsWhenUsingContexts()
	RunSpecs(t, "End-to-end suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	root, err := cluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	argoCRDs, err := cluster.ArgoCRDs()
	Expect(err).NotTo(HaveOccurred())
	env, err = cluster.Start(ctx, cluster.Options{
		Full:      true,
		KwokNodes: 2,
		CRDDirs:   []string{filepath.Join(root, "manifests", "crd", "bases"), argoCRDs},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)

	k8s, err = client.New(env.Config, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())

	// The actions' ServiceAccounts and their least-privilege RBAC, as the manifests install
	// them: the SubjectAccessReview before each step asks about these.
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: actionsNamespace}})).To(Succeed())
	for _, obj := range catalog.RBAC(actionsNamespace) {
		Expect(k8s.Create(ctx, obj.(client.Object))).To(Succeed())
	}
	// The blast-radius semaphores, as manifests/base/configmaps.yaml installs them (the kill
	// switch and policy ConfigMaps are the specs' own).
	Expect(k8s.Create(ctx, baseConfigMap(filepath.Join(root, "manifests", "base", "configmaps.yaml"), "kubernaut-semaphores"))).To(Succeed())
	// The ClusterWorkflowTemplates, as Argo CD or Flux syncs templates/.
	set, err := templates.Embedded()
	Expect(err).NotTo(HaveOccurred())
	for _, t := range set {
		Expect(k8s.Create(ctx, t.DeepCopy())).To(Succeed())
	}
	// Approvals the API server vouches for, as manifests/base installs them.
	Expect(cluster.InstallApprovalAdmission(ctx, env.Config, root)).To(Succeed())
	// The people who approve plans (the administrator makes the situations: the separation
	// of duties would not count its approvals).
	Expect(cluster.InstallApprovers(ctx, env.Config)).To(Succeed())
}, NodeTimeout(2*time.Minute))

// baseConfigMap reads one ConfigMap of a manifests file, in actionsNamespace.
func baseConfigMap(path, name string) *corev1.ConfigMap {
	GinkgoHelper()
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		var cm corev1.ConfigMap
		if err := dec.Decode(&cm); err != nil {
			Fail(fmt.Sprintf("no ConfigMap %s in %s: %v", name, path, err))
		}
		if cm.Kind == "ConfigMap" && cm.Name == name {
			cm.Namespace = actionsNamespace
			return &cm
		}
	}
}

// actionsNamespace holds the actions' ServiceAccounts.
const actionsNamespace = "kubernaut-system"

// runManager runs a controller manager (cluster-wide cache) with the controllers setup
// registers, until the spec ends; ctx ends with it.
func runManager(setup func(ctx context.Context, mgr ctrl.Manager) error) {
	GinkgoHelper()
	stop, err := cluster.RunManager(env.Config, ctrl.Options{Scheme: k8s.Scheme()}, setup)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(stop()).To(Succeed()) })
}

// granter grants each step its action's rights just in time, as the kubernaut binary does: the
// actions' ServiceAccounts hold nothing at rest (catalog.RBAC binds nothing).
func granter(mgr ctrl.Manager) *grants.Granter {
	return &grants.Granter{Client: k8s, Namespace: actionsNamespace, Config: env.Config, Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()}
}

// authorizer is the steps' Authorizer as kubernaut runs it: one rules review per namespace,
// as the action's ServiceAccount.
func authorizer(mgr ctrl.Manager) *kubernetesexecution.Authorizer {
	return &kubernetesexecution.Authorizer{Client: mgr.GetClient(), Namespace: actionsNamespace, Rules: granter(mgr)}
}

// healthy fails the spec when a control-plane process died.
func healthy(context.Context) {
	Expect(env.Healthy()).To(Succeed())
}
