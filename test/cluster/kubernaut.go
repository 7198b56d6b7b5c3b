package cluster

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BuildKubernaut builds Kubernaut's binary from the working tree into dir and returns its
// path. The Go build cache makes a rebuild cost only the link.
func BuildKubernaut(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "kubernaut")
}

// BuildPlugin builds the kubectl plugin (cmd/kubectl-kubernaut) into dir and returns its path.
func BuildPlugin(ctx context.Context, dir string) (string, error) {
	return build(ctx, dir, "kubectl-kubernaut")
}

// build builds ./cmd/<name> of the working tree into dir.
func build(ctx context.Context, dir, name string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, out)
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
	// Command is the subcommand: local (the default: the controllers and the gateway) or
	// gateway (the gateway alone).
	Command string
	// GatewayBinary says Binary is kubernaut-gateway: the gateway alone, no subcommand.
	GatewayBinary bool
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
	// MetricsURL is the controllers' metrics endpoint's base URL.
	MetricsURL string

	c      *Cluster
	name   string
	bin    string
	args   []string
	proc   *process
	starts int
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
	k := &Kubernaut{c: c, name: o.Name, bin: o.Binary, Token: fmt.Sprintf("e2e-%d", time.Now().UnixNano()),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ProbeURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]), GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2])}
	tokens := filepath.Join(c.Dir, o.Name+".tokens")
	if err := os.WriteFile(tokens, []byte(k.Token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the gateway's token file: %w", err)
	}
	k.args = []string{"--kubeconfig=" + c.Kubeconfig}
	if !o.GatewayBinary {
		k.args = append([]string{cmp.Or(o.Command, "local")}, k.args...)
	}
	if o.GatewayBinary || o.Command == "gateway" {
		k.ProbeURL = k.GatewayURL // the gateway alone serves its probes on its own address
	} else {
		k.args = append(k.args, fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
			fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]))
	}
	k.args = append(append(k.args, fmt.Sprintf("--gateway-bind-address=127.0.0.1:%d", ports[2]), "--gateway-token-file="+tokens), o.Args...)
	return k, k.start(ctx)
}

// start runs the process (again) with the same flags and ports and waits until it is ready.
// Each start after the first logs to <name>.<n>.log.
func (k *Kubernaut) start(ctx context.Context) error {
	logName := k.name
	if k.starts > 0 {
		logName = fmt.Sprintf("%s.%d", k.name, k.starts)
	}
	k.starts++
	p, err := startProcess(k.c.Dir, logName, k.bin, k.args...)
	if err != nil {
		return err
	}
	k.proc = p
	k.c.procs = append(k.c.procs, p)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	return p.waitReady(ctx, func(ctx context.Context) error {
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

// Kill ends the process at once (SIGKILL), as an OOM kill or a lost node does: nothing is
// flushed and no lease is released.
func (k *Kubernaut) Kill() { k.c.kill(k.proc) }

// Restart starts the process again after Stop or Kill, with the same flags and ports.
func (k *Kubernaut) Restart(ctx context.Context) error {
	if !k.proc.exited() {
		return fmt.Errorf("%s is still running", k.name)
	}
	return k.start(ctx)
}

// PID is the process ID of the running process.
func (k *Kubernaut) PID() int { return k.proc.cmd.Process.Pid }

// LogTail is the end of the process' log, for failure messages.
func (k *Kubernaut) LogTail(lines int) string { return k.proc.logTail(lines) }

// LogLines returns the lines of the current process' log that contain every one of parts.
func (k *Kubernaut) LogLines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(k.proc.logTail(math.MaxInt), "\n") {
		found := true
		for _, p := range parts {
			found = found && strings.Contains(line, p)
		}
		if found {
			out = append(out, line)
		}
	}
	return out
}

// Usage is what the process has used so far, from /proc.
type Usage struct {
	// RSS is the resident memory now, in bytes (VmRSS).
	RSS int64
	// PeakRSS is the largest resident memory so far, in bytes (VmHWM).
	PeakRSS int64
	// CPU is the CPU time used, user and system.
	CPU time.Duration
}

// Usage reads the process' memory and CPU time (Linux only).
func (k *Kubernaut) Usage() (Usage, error) { return procUsage(k.PID()) }
