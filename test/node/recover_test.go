package node

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubernaut/kubernaut/test/cluster"
)

const helperEnv = "KUBERNAUT_REAL_NODE_HELPER"

// TestRealNodeHelper is not a test: run by TestRealNodeRecoversAfterAKilledTest as a child, it
// starts a real node, runs a pod on it, says so and waits to be killed.
func TestRealNodeHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process")
	}
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{Full: true, RealNode: true, StartTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitForDefaultServiceAccount(ctx, cs, "default"); err != nil {
		t.Fatal(err)
	}
	pod := workloadPod("default", "left-behind", "serve")
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	os.Stdout.WriteString("RUNNING\n")
	select {}
}

// hostState is what a real node changes on the host.
func hostState(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/ip_forward"} {
		v, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			t.Fatal(err)
		}
		out[s] = strings.TrimSpace(string(v))
	}
	lo, _ := exec.Command("ip", "addr", "show", "dev", "lo").Output()
	out["lo has the node's address"] = boolString(strings.Contains(string(lo), cluster.RealNodeIP+"/32"))
	rules, _ := exec.Command("iptables", "-S").Output()
	out["iptables names the node or kube-proxy"] = boolString(strings.Contains(string(rules), cluster.RealNodeIP) || strings.Contains(string(rules), "KUBE-"))
	shims, _ := exec.Command("pgrep", "-f", "containerd-shim-runc-v2").Output()
	out["shims running"] = boolString(len(strings.TrimSpace(string(shims))) > 0)
	workload, _ := exec.Command("pgrep", "-x", "workload").Output()
	out["workload processes"] = boolString(len(strings.TrimSpace(string(workload))) > 0)
	_, err := os.Stat("/var/lib/kubelet")
	out["/var/lib/kubelet"] = boolString(err == nil)
	return out
}

func boolString(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// TestRealNodeRecoversAfterAKilledTest kills (SIGKILL: no cleanup possible) a test process
// that runs a real node with a pod on it — its children die with it, the container shims and
// the container do not, and the host keeps the address, rules and sysctls — then starts and
// stops a real node again: the host is as it was before the first.
func TestRealNodeRecoversAfterAKilledTest(t *testing.T) {
	before := hostState(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRealNodeHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		log = append(log, sc.Text())
		if sc.Text() == "RUNNING" {
			break
		}
	}
	if len(log) == 0 || log[len(log)-1] != "RUNNING" {
		_ = cmd.Process.Kill()
		t.Fatalf("the helper never ran its pod:\n%s", strings.Join(log, "\n"))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	left := hostState(t)
	if left["lo has the node's address"] != "yes" || left["workload processes"] != "yes" {
		t.Fatalf("the killed test should have left its address and its container behind (else this test shows nothing): %v", left)
	}

	c, err := cluster.Start(context.Background(), cluster.Options{Full: true, RealNode: true, StartTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if after := hostState(t); !equal(before, after) {
		t.Fatalf("the host was not restored:\nbefore %v\nleft   %v\nafter  %v", before, left, after)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
