package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/hack/image"
)

// ArgoController is Argo's own workflow-controller, built from source into the bin folder,
// watching one namespace of the cluster.
type ArgoController struct {
	c         *Cluster
	namespace string
	extra     string
	executor  string
	// env and args are appended to the defaults (a later environment variable or flag wins).
	env, args []string
	proc      *process
	starts    int
}

// StartArgo starts Argo's workflow-controller for namespace (namespaced mode), with its
// ConfigMap (no artifact repository; the executor image is never pulled: kwok runs no
// containers) and quick requeues. Argo's CRDs must be installed (Options.CRDDirs).
func (c *Cluster) StartArgo(ctx context.Context, namespace string) (*ArgoController, error) {
	return c.StartArgoWithConfig(ctx, namespace, "")
}

// StartArgoWithConfig is StartArgo with more of Argo's controller configuration (YAML keys of
// its ConfigMap's "config", e.g. workflowRestrictions).
func (c *Cluster) StartArgoWithConfig(ctx context.Context, namespace, extra string) (*ArgoController, error) {
	return c.StartArgoWithExecutor(ctx, namespace, extra, "")
}

// StartArgoWithExecutor is StartArgoWithConfig with the executor image Argo's pods run
// (executorImage; Argo's own reference, never pulled, when empty): on the real node,
// ArgoExecutorImage, which BuildArgoexecImage builds.
func (c *Cluster) StartArgoWithExecutor(ctx context.Context, namespace, extra, executorImage string) (*ArgoController, error) {
	bin := c.bin("workflow-controller")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("Argo's workflow-controller is not built (run 'make argo-bin'): %w", err)
	}
	if executorImage == "" {
		executorImage = "quay.io/argoproj/argoexec:v3.7.18"
	}
	a := &ArgoController{c: c, namespace: namespace, extra: extra, executor: executorImage}
	return a, a.Start(ctx)
}

// StartArgoTuned is StartArgoWithConfig (extra) with the controller's settings changed: env
// (NAME=value) and args (flags) are appended to the defaults, so that they win — to measure
// Argo's knobs (DEFAULT_REQUEUE_TIME, --workflow-workers, --qps, --burst, nodeEvents) under load.
func (c *Cluster) StartArgoTuned(ctx context.Context, namespace, extra string, env, args []string) (*ArgoController, error) {
	bin := c.bin("workflow-controller")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("Argo's workflow-controller is not built (run 'make argo-bin'): %w", err)
	}
	a := &ArgoController{c: c, namespace: namespace, extra: extra, executor: "quay.io/argoproj/argoexec:v3.7.18", env: env, args: args}
	return a, a.Start(ctx)
}

// ArgoExecutorImage is Argo's argoexec as the real node knows it (BuildArgoexecImage).
const ArgoExecutorImage = "localhost/kubernaut/argoexec:v3.7.18"

// ArgoOnRealNode is the configuration (StartArgoWithExecutor's extra) that places Argo's pods
// on the real node: the controller's workflowDefaults.
const ArgoOnRealNode = `workflowDefaults:
  spec:
    nodeSelector: {"` + RealNodeLabel + `": "true"}
    tolerations: [{key: "` + RealNodeLabel + `", operator: Exists, effect: NoSchedule}]
`

// BuildArgoexecImage writes the image of bin/cluster/argoexec (make argoexec-bin), with the C
// library it links, as ArgoExecutorImage into dir, and returns the archive's path.
func BuildArgoexecImage(dir string) (string, error) {
	bin, err := FindBinDir()
	if err != nil {
		return "", err
	}
	exe := filepath.Join(bin, "argoexec")
	if _, err := os.Stat(exe); err != nil {
		return "", fmt.Errorf("Argo's argoexec is not built (run 'make argoexec-bin'): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Argo runs its executor as user 8737 (workflow/common/security_context.go), which may not
	// read /home/nonroot: HOME is /tmp (argoexec's kubectl looks there for a kubeconfig).
	img, err := image.Build(image.Spec{Binary: exe, Name: "/argoexec", Home: "/tmp", Files: map[string]string{
		"/lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
		"/lib64/ld-linux-x86-64.so.2":     "/lib64/ld-linux-x86-64.so.2",
	}})
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "argoexec.oci.tar")
	return out, image.WriteArchive(img, ArgoExecutorImage, out)
}

// configure writes Argo's ConfigMap with free ports for its metrics and telemetry servers
// (Argo's defaults are fixed ports, which parallel controllers would fight over).
func (a *ArgoController) configure(ctx context.Context) error {
	k, err := client.New(a.c.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	config := fmt.Sprintf("executor:\n  imagePullPolicy: IfNotPresent\nmetricsConfig:\n  enabled: true\n  secure: false\n  port: %d\ntelemetryConfig:\n  enabled: true\n  secure: false\n  port: %d\n", ports[0], ports[1]) + a.extra
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace, Name: "workflow-controller-configmap"}, Data: map[string]string{"config": config}}
	if err := k.Create(ctx, cm); apierrors.IsAlreadyExists(err) {
		err = k.Update(ctx, cm)
	} else if err != nil {
		return fmt.Errorf("writing Argo's ConfigMap: %w", err)
	}
	return nil
}

// Start (re)starts the controller process.
func (a *ArgoController) Start(ctx context.Context) error {
	if err := a.configure(ctx); err != nil {
		return err
	}
	a.starts++
	env := append([]string{
		// Argo's knobs for speed: requeue after 1 s, wait at most 2 s for a task result.
		"DEFAULT_REQUEUE_TIME=1s", "TASK_RESULT_TIMEOUT_DURATION=2s", "LEADER_ELECTION_DISABLE=true",
		"ARGO_EXECUTOR_PLUGINS=false", "WORKFLOW_GC_PERIOD=30s",
	}, a.env...)
	args := append([]string{
		"--kubeconfig=" + a.c.Kubeconfig, "--namespaced", "--namespace=" + a.namespace, "--managed-namespace=" + a.namespace,
		"--configmap=workflow-controller-configmap", "--executor-image=" + a.executor,
		"--loglevel=info", "--qps=200", "--burst=400", "--workflow-workers=8",
	}, a.args...)
	p, err := startProcessEnv(a.c.Dir, "workflow-controller-"+strconv.Itoa(a.starts), a.c.bin("workflow-controller"), env, args...)
	if err != nil {
		return err
	}
	a.proc = p
	a.c.procs = append(a.c.procs, p)
	return nil
}

// Kill kills the controller (SIGKILL: a crash, not a shutdown) and forgets it, so the
// cluster's health no longer counts it.
func (a *ArgoController) Kill() {
	if a.proc != nil {
		a.c.kill(a.proc)
	}
}

// Log is the path of the current process' log.
func (a *ArgoController) Log() string {
	return filepath.Join(a.c.Dir, "workflow-controller-"+strconv.Itoa(a.starts)+".log")
}

// Running reports whether the process is alive.
func (a *ArgoController) Running() bool { return a.proc != nil && !a.proc.exited() }
