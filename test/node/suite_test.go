// Package node is the end-to-end suite on a real node: the full local control plane with a
// kubelet, containerd, runc, CNI and kube-proxy on this machine (test/cluster, Options.RealNode),
// where pods really run, crash, run out of memory and fail readiness, and what Kubernaut does
// to them is what a production cluster would see.
package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var (
	env       *cluster.Cluster
	k8s       client.Client
	clientset kubernetes.Interface
)

func TestRealNode(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	EnforceDefaultTimeoutsWhenUsingContexts()
	RunSpecs(t, "Real node suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	root, err := cluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	// The actions image, built from this tree as `make images` builds it, imported into the
	// node's containerd.
	images := GinkgoT().TempDir()
	actions, err := cluster.BuildActionsImage(ctx, images, ActionsImage)
	Expect(err).NotTo(HaveOccurred())
	// Argo's own executor (make argoexec-bin), for the resource templates of the plans.
	argoexec, err := cluster.BuildArgoexecImage(images)
	Expect(err).NotTo(HaveOccurred())
	argoCRDs, err := cluster.ArgoCRDs()
	Expect(err).NotTo(HaveOccurred())
	env, err = cluster.Start(ctx, cluster.Options{
		Full:         true,
		KwokNodes:    1,
		RealNode:     true,
		NodeImages:   []string{actions, argoexec},
		CRDDirs:      []string{filepath.Join(root, "manifests", "crd", "bases"), argoCRDs},
		StartTimeout: 4 * time.Minute,
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	k8s, err = client.New(env.Config, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())
	// The actions' ServiceAccounts and roles (bound to nothing: each step is granted its
	// rights), as manifests/base installs them.
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: actionsNamespace}})).To(Succeed())
	for _, obj := range catalog.RBAC(actionsNamespace) {
		Expect(k8s.Create(ctx, obj.(client.Object))).To(Succeed())
	}
	// Approvals the API server vouches for, as manifests/base installs them.
	Expect(cluster.InstallApprovalAdmission(ctx, env.Config, root)).To(Succeed())
	// The people who approve plans (the administrator makes the situations: the separation
	// of duties would not count its approvals).
	Expect(cluster.InstallApprovers(ctx, env.Config)).To(Succeed())
	// The ClusterWorkflowTemplates, as Argo CD or Flux syncs templates/.
	set, err := templates.Embedded()
	Expect(err).NotTo(HaveOccurred())
	for _, t := range set {
		Expect(k8s.Create(ctx, t.DeepCopy())).To(Succeed())
	}
}, NodeTimeout(5*time.Minute))

// ActionsImage is the actions image as the node knows it.
const ActionsImage = "localhost/kubernaut/actions:test"

// actionsNamespace holds the actions' ServiceAccounts and runs their Jobs.
const actionsNamespace = "kubernaut-system"

// onRealNode places a pod spec on the real node: it selects and tolerates it, and never
// pulls (the images were imported).
func onRealNode(spec *corev1.PodSpec) {
	spec.NodeSelector = map[string]string{cluster.RealNodeLabel: "true"}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: cluster.RealNodeLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	for i := range spec.Containers {
		spec.Containers[i].ImagePullPolicy = corev1.PullNever
	}
}

// newNamespace creates a namespace for one spec.
func newNamespace(ctx SpecContext, prefix string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	Expect(cluster.WaitForDefaultServiceAccount(ctx, clientset, ns.Name)).To(Succeed())
	return ns.Name
}

// kubectl runs the control plane's kubectl against the cluster and returns its output.
func kubectl(ctx context.Context, args ...string) (string, error) {
	return tool(ctx, "kubectl", args...)
}

// argo runs the argo CLI built from Argo's module (make argoexec-bin) against the cluster,
// in its kube mode (no Argo server), as a person at a terminal would.
func argo(ctx context.Context, args ...string) (string, error) {
	return tool(ctx, "argo", args...)
}

// tool runs a command line tool of bin/cluster with the cluster's kubeconfig.
func tool(ctx context.Context, name string, args ...string) (string, error) {
	return env.Tool(ctx, name, args...)
}

// healthy fails the spec when a process of the cluster or the node died.
func healthy(context.Context) {
	Expect(env.Healthy()).To(Succeed())
}
