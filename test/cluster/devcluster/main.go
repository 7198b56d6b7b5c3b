// Command devcluster runs the full local control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok with fake nodes) in the foreground until it
// is interrupted, with Kubernaut's CRDs installed. `make dev-cluster` starts it in the
// background; `make dev-cluster-down` stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/argoexec"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// startArgo installs what Argo needs in namespace (the namespace, the Workflows'
// ServiceAccount, the semaphore ConfigMap, the ClusterWorkflowTemplates) and starts Argo's
// workflow-controller, with the executor stand-in, or, with a real node, with the real
// argoexec running Argo's pods there.
func startArgo(ctx context.Context, c *cluster.Cluster, ns string, realNode bool) error {
	k, err := client.New(c.Config, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		return err
	}
	set, err := templates.Embedded()
	if err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-workflow"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-semaphores"}, Data: map[string]string{"cluster": "20", "namespace.demo": "2"}},
	}
	for _, t := range set {
		objs = append(objs, t.DeepCopy())
	}
	for _, o := range objs {
		if err := k.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	if realNode {
		_, err := c.StartArgoWithExecutor(ctx, ns, cluster.ArgoOnRealNode, cluster.ArgoExecutorImage)
		return err
	}
	if _, err := c.StartArgo(ctx, ns); err != nil {
		return err
	}
	ex := &argoexec.Executor{Client: k, Namespace: ns, Interval: 200 * time.Millisecond}
	go ex.Run(ctx)
	return nil
}

func main() {
	dir := flag.String("dir", "bin/dev-cluster", "folder for the cluster's data, certificates, logs and kubeconfig (emptied at start)")
	nodes := flag.Int("nodes", 2, "number of kwok nodes")
	crds := flag.String("crds", "manifests/crd/bases", "folder of CRDs to install")
	realNode := flag.Bool("real-node", false, "also join a real node (kubelet, containerd, runc, CNI, kube-proxy from make node-bin; as root) with the workload image and the actions image "+ActionsImage+" imported")
	argo := flag.String("argo", "", "also run Argo's workflow-controller (bin/cluster) for this namespace, with Argo's CRDs, Kubernaut's ClusterWorkflowTemplates and the executor stand-in (test/argoexec)")
	flag.Parse()

	if err := run(*dir, *nodes, *crds, *argo, *realNode); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

// ActionsImage is the actions image the dev cluster's real node has imported (built from this
// tree as make images builds it).
const ActionsImage = "localhost/kubernaut/actions:dev"

func run(dir string, nodes int, crds, argoNamespace string, realNode bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	ready := filepath.Join(dir, "ready")
	for _, sub := range []string{"etcd", "ready", "kubeconfig"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("cleaning %s: %w", dir, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	dirs := []string{crds}
	if argoNamespace != "" {
		argoCRDs, err := cluster.ArgoCRDs()
		if err != nil {
			return err
		}
		dirs = append(dirs, argoCRDs)
	}
	opts := cluster.Options{Dir: dir, Full: true, KwokNodes: nodes, CRDDirs: dirs, StartTimeout: 2 * time.Minute}
	if realNode {
		img, err := cluster.BuildActionsImage(ctx, filepath.Join(dir, "images"), ActionsImage)
		if err != nil {
			return err
		}
		opts.RealNode, opts.NodeImages, opts.StartTimeout = true, []string{img}, 4*time.Minute
		if argoNamespace != "" {
			exec, err := cluster.BuildArgoexecImage(filepath.Join(dir, "images"))
			if err != nil {
				return err
			}
			opts.NodeImages = append(opts.NodeImages, exec)
		}
	}
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Stop()
	if argoNamespace != "" {
		if err := startArgo(ctx, c, argoNamespace, realNode); err != nil {
			return err
		}
		fmt.Printf("Argo's workflow-controller runs for namespace %s (log %s)\n", argoNamespace, filepath.Join(dir, "workflow-controller-1.log"))
	}
	if realNode {
		fmt.Printf("real node %s joined (label and taint %s; images %s, %s)\n", cluster.RealNodeName, cluster.RealNodeLabel, cluster.WorkloadImage, ActionsImage)
	}
	fmt.Printf("control plane ready in %s; kubeconfig %s\n", time.Since(start).Round(time.Millisecond), c.Kubeconfig)
	if err := os.WriteFile(ready, []byte(c.Kubeconfig+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", ready, err)
	}

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("stopping the control plane")
			return nil
		case <-tick.C:
			if err := c.Healthy(); err != nil {
				return err
			}
		}
	}
}
