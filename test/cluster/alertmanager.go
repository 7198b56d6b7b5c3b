package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Alertmanager is a real Alertmanager (make alertmanager-bin) on a loopback port, alone:
// no cluster, no peers.
type Alertmanager struct {
	// URL is its base URL (http://127.0.0.1:PORT).
	URL string
	cmd *exec.Cmd
}

// StartAlertmanager starts bin/cluster/alertmanager with config (its YAML) and its data in
// dir, and returns once it is ready.
func StartAlertmanager(ctx context.Context, dir, config string) (*Alertmanager, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "alertmanager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no Alertmanager at %s: run make alertmanager-bin", bin)
	}
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Alertmanager: %w", err)
	}
	am := &Alertmanager{URL: "http://" + addr, cmd: cmd}
	if err := untilOK(ctx, am.URL+"/-/ready", 30*time.Second); err != nil {
		am.Stop()
		return nil, fmt.Errorf("Alertmanager at %s not ready after 30s: %w", addr, err)
	}
	return am, nil
}

// PID is the process' id.
func (a *Alertmanager) PID() int { return a.cmd.Process.Pid }

// Stop kills it.
func (a *Alertmanager) Stop() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
}
