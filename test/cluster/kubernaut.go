package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// BuildKubernaut builds Kubernaut's binary from the working tree into dir and returns its
// path. The Go build cache makes a rebuild cost only the link.
func BuildKubernaut(ctx context.Context, dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kubernaut")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kubernaut")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kubernaut: %w\n%s", err, out)
	}
	return bin, nil
}

// KubernautOptions says how to run Kubernaut's binary beside the cluster.
type KubernautOptions struct {
	// Binary is the path BuildKubernaut returned.
	Binary string
	// Name names the process' logs (default "kubernaut").
	Name string
	// Args are further flags.
	Args []string
}

// Kubernaut is `kubernaut local` (the controllers and the gateway in one process) running
// beside the control plane, with its kubeconfig, free ports and a gateway token.
type Kubernaut struct {
	// Token is the gateway's bearer token.
	Token string
	// GatewayURL is the gateway's base URL.
	GatewayURL string
	// ProbeURL is the controllers' health endpoint's base URL.
	ProbeURL string

	c    *Cluster
	name string
	proc *process
}

// StartKubernaut starts `kubernaut local` and returns once its controllers and its gateway
// answer /readyz.
func (c *Cluster) StartKubernaut(ctx context.Context, o KubernautOptions) (*Kubernaut, error) {
	if o.Name == "" {
		o.Name = "kubernaut"
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	k := &Kubernaut{c: c, name: o.Name, Token: fmt.Sprintf("e2e-%d", time.Now().UnixNano()),
		ProbeURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2])}
	tokens := filepath.Join(c.Dir, o.Name+".tokens")
	if err := os.WriteFile(tokens, []byte(k.Token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the gateway's token file: %w", err)
	}
	args := append([]string{"local", "--kubeconfig=" + c.Kubeconfig,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("--gateway-bind-address=127.0.0.1:%d", ports[2]), "--gateway-token-file=" + tokens}, o.Args...)
	p, err := startProcess(c.Dir, o.Name, o.Binary, args...)
	if err != nil {
		return nil, err
	}
	k.proc = p
	c.procs = append(c.procs, p)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	return k, p.waitReady(ctx, func(ctx context.Context) error {
		if err := httpOK(ctx, hc, k.ProbeURL+"/readyz"); err != nil {
			return err
		}
		return httpOK(ctx, hc, k.GatewayURL+"/readyz")
	})
}

// Stop asks the process to shut down (SIGTERM) and waits for it, up to its grace period.
func (k *Kubernaut) Stop() {
	k.proc.stop(40 * time.Second)
	k.c.forget(k.proc)
}

// LogTail is the end of the process' log, for failure messages.
func (k *Kubernaut) LogTail(lines int) string { return k.proc.logTail(lines) }
