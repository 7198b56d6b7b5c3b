package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// BinDirEnv names the environment variable that points at the control-plane binaries.
const BinDirEnv = "KUBERNAUT_CLUSTER_BIN"

// FindBinDir returns the folder of the control-plane binaries: $KUBERNAUT_CLUSTER_BIN, or
// bin/cluster at the root of the module (found from the working directory upwards).
func FindBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir, checkBinDir(dir, "etcd", "kube-apiserver")
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "cluster")
	return dir, checkBinDir(dir, "etcd", "kube-apiserver")
}

// ModuleRoot returns the folder of the project's go.mod, searched from the working directory
// upwards (test/tools holds go.mod files of its own, which are skipped).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/kubernaut/kubernaut\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the kubernaut module root above the working directory")
		}
		dir = parent
	}
}

// ModuleDir returns where the Go module cache holds a dependency of the project (the version
// go.mod requires), for the files it ships: Argo's CRDs, kwok's stages.
func ModuleDir(module string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not in the module cache (go mod download)", module)
	}
	return dir, nil
}

// ArgoCRDs is the folder of Argo's minimal CRDs in its module.
func ArgoCRDs() (string, error) {
	dir, err := ModuleDir("github.com/argoproj/argo-workflows/v3")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "manifests", "base", "crds", "minimal"), nil
}

// PrometheusOperatorVersion is the Prometheus Operator release whose CRDs (ServiceMonitor,
// PrometheusRule) the tests install to apply manifests/monitoring.
const PrometheusOperatorVersion = "v0.89.0"

// PrometheusOperatorCRDs downloads the Prometheus Operator's module (it is not a dependency:
// only its CRD files are used) and copies the ServiceMonitor and PrometheusRule CRDs into a
// folder under dir, which it returns for Options.CRDDirs.
func PrometheusOperatorCRDs(dir string) (string, error) {
	module := "github.com/prometheus-operator/prometheus-operator@" + PrometheusOperatorVersion
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = dir // outside the module: nothing is added to go.mod or go.sum
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s%s", err, ee.Stderr, out)
		}
		return "", fmt.Errorf("downloading %s: %w", module, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("downloading %s: no folder in %q: %v", module, out, err)
	}
	crds := filepath.Join(dir, "prometheus-operator-crds")
	if err := os.MkdirAll(crds, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		data, err := os.ReadFile(filepath.Join(info.Dir, "example", "prometheus-operator-crd", name))
		if err != nil {
			return "", fmt.Errorf("reading the Prometheus Operator's CRD: %w", err)
		}
		if err := os.WriteFile(filepath.Join(crds, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return crds, nil
}

// checkBinDir checks that dir holds the named binaries.
func checkBinDir(dir string, names ...string) error {
	for _, b := range names {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Errorf("control-plane binary %s missing in %s: run 'make cluster-bin' first: %w", b, dir, err)
		}
	}
	return nil
}

// writeKubeconfig writes an admin kubeconfig for cfg.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubernaut"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["kubernaut"] = &clientcmdapi.Context{Cluster: "kubernaut", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "kubernaut"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// installCRDs creates the CRDs found in dirs and waits until they are established, with
// envtest's installer.
func installCRDs(ctx context.Context, cfg *rest.Config, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	deadline, ok := ctx.Deadline()
	timeout := 30 * time.Second
	if ok {
		timeout = time.Until(deadline)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: dirs, ErrorIfPathMissing: true, MaxTime: timeout, PollInterval: 100 * time.Millisecond,
	}); err != nil {
		return fmt.Errorf("installing CRDs from %v: %w", dirs, err)
	}
	return nil
}

// KwokNode returns a Node that kwok manages (it becomes Ready and runs pods).
func KwokNode(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{KwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
	}
}

// createKwokNodes creates n kwok nodes (kwok-node-0…) and waits until they are Ready.
func createKwokNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := range n {
		node := KwokNode(fmt.Sprintf("kwok-node-%d", i))
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("kwok-node-%d", i)
		if err := WaitForNodeReady(ctx, cs, name); err != nil {
			return err
		}
	}
	return nil
}

// WaitForNodeReady waits until the node's Ready condition is True.
func WaitForNodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not there yet
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready: %w", name, err)
	}
	return nil
}

// WaitForDefaultServiceAccount waits until the namespace's default ServiceAccount exists:
// pods of a namespace are refused until it does.
func WaitForDefaultServiceAccount(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("default ServiceAccount of namespace %s not created: %w", namespace, err)
	}
	return nil
}

// Scheme returns a scheme with the Kubernetes built-in kinds, the CRD kinds and Kubernaut's
// kinds, for the test suites' clients.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(kubernautv1.AddToScheme(s))
	utilruntime.Must(wfv1.AddToScheme(s))
	return s
}
