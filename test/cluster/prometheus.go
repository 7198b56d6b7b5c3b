package cluster

import (
	"context"
	"fmt"
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
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+dataDir, "--storage.tsdb.retention.time=400d",
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Prometheus: %w", err)
	}
	p := &Prometheus{URL: "http://" + addr, cmd: cmd}
	if err := untilOK(ctx, p.URL+"/-/ready", time.Minute); err != nil {
		p.Stop()
		return nil, fmt.Errorf("Prometheus at %s not ready after a minute: %w", addr, err)
	}
	return p, nil
}

// Stop kills it.
func (p *Prometheus) Stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}
