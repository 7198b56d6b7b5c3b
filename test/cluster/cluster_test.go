package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "KUBERNAUT_CLUSTER_HELPER"

// TestHelperProcess is not a test: run by TestNoProcessOutlivesAKilledTest as a child, it
// starts a control plane, prints its PIDs and waits to be killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process")
	}
	c, err := Start(context.Background(), Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(c.PIDs()), "[]"))
	select {}
}

// TestNoProcessOutlivesAKilledTest kills (SIGKILL, no cleanup possible) a test process that
// runs a control plane, and checks that etcd and kube-apiserver die with it.
func TestNoProcessOutlivesAKilledTest(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ERROR") {
			t.Fatal(line)
		}
		if rest, ok := strings.CutPrefix(line, "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				pids = append(pids, pid)
			}
			break
		}
	}
	if len(pids) != 2 {
		_ = cmd.Process.Kill()
		t.Fatalf("want the PIDs of etcd and kube-apiserver, got %v", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the kill", pid)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d outlived the killed test process", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S …".
	stat := string(data)
	i := strings.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestFailedStartLeavesNothingBehind gives Start an API server that cannot start: the error
// carries its log, and etcd, already started, is stopped.
func TestFailedStartLeavesNothingBehind(t *testing.T) {
	real, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(filepath.Join(real, "etcd"), filepath.Join(bin, "etcd")); err != nil {
		t.Fatal(err)
	}
	broken := "#!/bin/sh\necho 'error: unknown flag --made-up' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "kube-apiserver"), []byte(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Start(context.Background(), Options{BinDir: bin, Dir: dir, StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("Start succeeded with a broken kube-apiserver")
	}
	for _, want := range []string{"kube-apiserver exited before it was ready", "unknown flag --made-up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if pids := etcdPIDsIn(dir); len(pids) > 0 {
		t.Fatalf("etcd (pids %v) still runs after the failed start", pids)
	}
}

// TestMissingBinariesSayWhatToRun checks the error for a machine without the control plane.
func TestMissingBinariesSayWhatToRun(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make cluster-bin") {
		t.Fatalf("want an error telling to run 'make cluster-bin', got %v", err)
	}
}

// etcdPIDsIn finds etcd processes whose data dir is inside dir.
func etcdPIDsIn(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if errors.Is(err, os.ErrNotExist) || err != nil {
			continue
		}
		if strings.Contains(string(cmdline), "--data-dir="+filepath.Join(dir, "etcd")) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
