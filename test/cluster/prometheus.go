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

// Prometheus is a real Prometheus server (bin/cluster/prometheus) serving a data folder.
type Prometheus struct {
	// URL is its base URL.
	URL string
	cmd *exec.Cmd
}

// StartPrometheus starts bin/cluster/prometheus on the TSDB in dataDir (blocks a test wrote:
// it scrapes nothing, and keeps 400 days), and returns once it is ready.
func StartPrometheus(ctx context.Context, dataDir string) (*Prometheus, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(binDir, "prometheus")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no Prometheus at %s: run make prometheus-bin", bin)
	}
	cfg := filepath.Join(dataDir, "..", "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 1m\n"), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+dataDir, "--storage.tsdb.retention.time=400d",
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Prometheus: %w", err)
	}
	p := &Prometheus{URL: "http://" + addr, cmd: cmd}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Stop()
	return nil, fmt.Errorf("Prometheus at %s not ready after a minute", addr)
}

// Stop kills it.
func (p *Prometheus) Stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
