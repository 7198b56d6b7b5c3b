// Package integration runs Kubernaut's API and controllers against a real kube-apiserver and
// etcd, built from source into bin/cluster and started by test/cluster (not envtest's own
// launcher: it starts them in a process group of their own without a parent-death signal, so
// an interrupted test leaves them running).
package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/cluster"
)

var (
	env  *cluster.Cluster
	cfg  *rest.Config
	k8s  client.Client
	root string
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	// An Eventually given the spec's context would wait for what it expects until go test's
	// own timeout; a failing spec waits at most a minute, then says what it saw.
	SetDefaultEventuallyTimeout(time.Minute)
	EnforceDefaultTimeoutsWhenUsingContexts()
	RunSpecs(t, "Integration suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	root, err = cluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	argoCRDs, err := cluster.ArgoCRDs()
	Expect(err).NotTo(HaveOccurred())
	monitoringCRDs, err := cluster.PrometheusOperatorCRDs(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	env, err = cluster.Start(ctx, cluster.Options{CRDDirs: []string{filepath.Join(root, "manifests", "crd", "bases"), argoCRDs, monitoringCRDs}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop)
	cfg = env.Config

	k8s, err = client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	// The ClusterWorkflowTemplates, as Argo CD or Flux syncs templates/.
	set, err := templates.Embedded()
	Expect(err).NotTo(HaveOccurred())
	for _, t := range set {
		Expect(k8s.Create(ctx, t.DeepCopy())).To(Succeed())
	}
	// Approvals the API server vouches for, as manifests/base installs them.
	Expect(cluster.InstallApprovalAdmission(ctx, cfg, root)).To(Succeed())
}, NodeTimeout(time.Minute))

// newNamespace creates a namespace with a random name for one test.
func newNamespace(ctx SpecContext) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// runManager runs a controller manager whose cache sees one namespace, with the controllers
// that setup registers, until the spec ends. Each test has its own manager (and so its own
// configuration); controller names may repeat across them.
func runManager(ns string, setup func(ctx context.Context, mgr ctrl.Manager) error) {
	GinkgoHelper()
	stop, err := cluster.RunManager(cfg, ctrl.Options{Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}}}, setup)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(stop()).To(Succeed()) })
}
