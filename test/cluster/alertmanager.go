package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Alertmanager: %w", err)
	}
	am := &Alertmanager{URL: "http://" + addr, cmd: cmd}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return am, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	am.Stop()
	return nil, fmt.Errorf("Alertmanager at %s not ready after 30s", addr)
}

// PID is the process' id.
func (a *Alertmanager) PID() int { return a.cmd.Process.Pid }

// Stop kills it.
func (a *Alertmanager) Stop() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
}
