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

	"github.com/kubernaut/kubernaut/test/cluster"
)

func main() {
	dir := flag.String("dir", "bin/dev-cluster", "folder for the cluster's data, certificates, logs and kubeconfig (emptied at start)")
	nodes := flag.Int("nodes", 2, "number of kwok nodes")
	crds := flag.String("crds", "manifests/crd/bases", "folder of CRDs to install")
	flag.Parse()

	if err := run(*dir, *nodes, *crds); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(dir string, nodes int, crds string) error {
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
	c, err := cluster.Start(ctx, cluster.Options{
		Dir: dir, Full: true, KwokNodes: nodes, CRDDirs: []string{crds}, StartTimeout: 2 * time.Minute,
	})
	if err != nil {
		return err
	}
	defer c.Stop()
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
