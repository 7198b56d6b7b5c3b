// Package integration runs Kubernaut's API and controllers against a real kube-apiserver and
// etcd (controller-runtime envtest pointed at the binaries the Makefile builds into
// bin/cluster).
package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubernaut/kubernaut/test/cluster"
)

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	k8s     client.Client
	root    string
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Integration suite")
}

var _ = BeforeSuite(func(_ SpecContext) {
	binDir, err := cluster.FindBinDir()
	Expect(err).NotTo(HaveOccurred())
	root, err = cluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	testEnv = &envtest.Environment{
		BinaryAssetsDirectory: binDir,
		CRDDirectoryPaths:     []string{filepath.Join(root, "manifests", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                cluster.Scheme(),
	}
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(testEnv.Stop()).To(Succeed()) })

	k8s, err = client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(time.Minute))

// newNamespace creates a namespace with a random name for one test.
func newNamespace(ctx SpecContext) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "it-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// envtestAdmin is a user in system:masters.
func envtestAdmin() envtest.User {
	return envtest.User{Name: "kubernaut-admin", Groups: []string{"system:masters"}}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }
