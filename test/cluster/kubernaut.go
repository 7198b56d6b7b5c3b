package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	// Command is "local" (controllers and gateway; the default) or "controller".
	Command string
	// Name names the process' logs (default "kubernaut").
	Name string
	// Args are further flags.
	Args []string
}

// Kubernaut is Kubernaut's own binary running as a process beside the control plane, with
// its kubeconfig, free ports and (local) a gateway token.
type Kubernaut struct {
	// Token is the gateway's bearer token (local only).
	Token string
	// GatewayURL is the gateway's base URL (local only).
	GatewayURL string
	// MetricsURL is the controllers' metrics endpoint.
	MetricsURL string
	// ProbeURL is the controllers' health endpoint's base URL.
	ProbeURL string

	c      *Cluster
	opts   KubernautOptions
	args   []string
	proc   *process
	starts int
}

// StartKubernaut starts Kubernaut's binary and returns once its controllers (and gateway)
// answer /readyz.
func (c *Cluster) StartKubernaut(ctx context.Context, o KubernautOptions) (*Kubernaut, error) {
	if o.Command == "" {
		o.Command = "local"
	}
	if o.Name == "" {
		o.Name = "kubernaut"
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	k := &Kubernaut{c: c, opts: o,
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]),
		ProbeURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	k.args = []string{o.Command, "--kubeconfig=" + c.Kubeconfig,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1])}
	if o.Command == "local" {
		k.Token = fmt.Sprintf("e2e-%d", time.Now().UnixNano())
		tokens := filepath.Join(c.Dir, o.Name+".tokens")
		if err := os.WriteFile(tokens, []byte(k.Token+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the gateway's token file: %w", err)
		}
		k.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
		k.args = append(k.args, fmt.Sprintf("--gateway-bind-address=127.0.0.1:%d", ports[2]), "--gateway-token-file="+tokens)
	}
	k.args = append(k.args, o.Args...)
	return k, k.Start(ctx)
}

// Start (re)starts the process with the same flags and ports and waits until it is ready.
func (k *Kubernaut) Start(ctx context.Context) error {
	if k.Running() {
		return fmt.Errorf("%s is already running", k.opts.Name)
	}
	k.starts++
	p, err := startProcess(k.c.Dir, k.opts.Name+"-"+strconv.Itoa(k.starts), k.opts.Binary, k.args...)
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
		if k.GatewayURL != "" {
			return httpOK(ctx, hc, k.GatewayURL+"/readyz")
		}
		return nil
	})
}

// Kill kills the process (SIGKILL: a crash, not a shutdown); Start runs it again.
func (k *Kubernaut) Kill() {
	if k.proc != nil {
		k.c.kill(k.proc)
	}
}

// Stop asks the process to shut down (SIGTERM) and waits for it, up to its grace period.
func (k *Kubernaut) Stop() {
	if k.proc != nil {
		k.proc.stop(40 * time.Second)
		k.c.forget(k.proc)
	}
}

// Running reports whether the process is alive.
func (k *Kubernaut) Running() bool { return k.proc != nil && !k.proc.exited() }

// PID is the process' ID (0 when it never started).
func (k *Kubernaut) PID() int {
	if k.proc == nil {
		return 0
	}
	return k.proc.cmd.Process.Pid
}

// Log is the path of the current process' log.
func (k *Kubernaut) Log() string {
	return filepath.Join(k.c.Dir, k.opts.Name+"-"+strconv.Itoa(k.starts)+".log")
}

// LogTail is the end of the current process' log, for failure messages.
func (k *Kubernaut) LogTail(lines int) string {
	if k.proc == nil {
		return ""
	}
	return k.proc.logTail(lines)
}

// Usage is what a process has used so far, read from /proc.
type Usage struct {
	// RSS is its resident memory now, in bytes.
	RSS int64
	// PeakRSS is its highest resident memory, in bytes (VmHWM).
	PeakRSS int64
	// CPU is the processor time it used (user and system).
	CPU time.Duration
}

// Usage reads the process' memory and CPU from /proc (Linux).
func (k *Kubernaut) Usage() (Usage, error) {
	pid := k.PID()
	if pid == 0 || !k.Running() {
		return Usage{}, fmt.Errorf("%s is not running", k.opts.Name)
	}
	return ProcessUsage(pid)
}

// ProcessUsage reads a process' memory and CPU from /proc/<pid>/status and /proc/<pid>/stat.
func ProcessUsage(pid int) (Usage, error) {
	var u Usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, fmt.Errorf("reading the process' memory: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch key {
		case "VmRSS":
			u.RSS = kb * 1024
		case "VmHWM":
			u.PeakRSS = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("reading the process' CPU time: %w", err)
	}
	// Fields after the command (which may hold spaces) start at state; utime and stime
	// are fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return u, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, stat)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	u.CPU = time.Duration(utime+stime) * 10 * time.Millisecond
	return u, nil
}
