package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What a real node changes on the host, and how it is put back: the lock, the address, the
// DROP rule and the sysctls before it starts; the processes, rules, mounts, bridge, cgroups and
// fixed paths when it stops, or when the next one finds a killed one's leftovers.

// prepareHost takes the machine's real-node lock and prepares the host for the API server to
// bind RealNodeIP: the address on lo, the DROP rule, the sysctls saved.
func (n *realNode) prepareHost() error {
	if os.Geteuid() != 0 {
		return errors.New("the real node runs as root (the kubelet, containerd and CNI need it)")
	}
	f, err := os.OpenFile(realNodeLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", realNodeLock, err)
	}
	// One real node per machine: a second waits for the first to stop (its lock dies with its
	// process).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return fmt.Errorf("locking %s: %w", realNodeLock, err)
	}
	n.lock = f
	if err := n.recover(); err != nil {
		return err
	}
	n.shims = map[string]bool{}
	if entries, err := os.ReadDir(shimSockets); err == nil {
		for _, e := range entries {
			n.shims[e.Name()] = true
		}
	}
	if n.saved == nil { // not recovered from a killed run: the host's own values
		n.saved = map[string]string{}
		for _, s := range realNodeSysctls {
			if v, err := os.ReadFile("/proc/sys/" + s); err == nil {
				n.saved[s] = strings.TrimSpace(string(v))
			}
		}
	}
	state, err := json.Marshal(nodeState{Dir: n.dir, Sysctls: n.saved})
	if err != nil {
		return err
	}
	if err := os.WriteFile(realNodeState, state, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", realNodeState, err)
	}
	if out, err := exec.Command("ip", "addr", "show", "dev", "lo").Output(); err != nil {
		return fmt.Errorf("ip addr show dev lo: %w", err)
	} else if !strings.Contains(string(out), " "+RealNodeIP+"/32") {
		if out, err := exec.Command("ip", "addr", "add", RealNodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
			return fmt.Errorf("adding %s to lo: %w: %s", RealNodeIP, err, out)
		}
		n.ip = true
	}
	if exec.Command("iptables", "-C", "INPUT", "-i", "eth0", "-d", RealNodeIP+"/32", "-j", "DROP").Run() != nil {
		if out, err := exec.Command("iptables", "-I", "INPUT", "-i", "eth0", "-d", RealNodeIP+"/32", "-j", "DROP").CombinedOutput(); err != nil {
			return fmt.Errorf("adding the DROP rule for %s: %w: %s", RealNodeIP, err, out)
		}
		n.drop = true
	}
	if err := os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("kube-proxy needs net.bridge.bridge-nf-call-iptables (is br_netfilter loaded?): %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	n.ports.kubelet, n.ports.kubeletHealthz, n.ports.proxyHealthz, n.ports.proxyMetrics = ports[0], ports[1], ports[2], ports[3]
	return nil
}

// nodeState is what a real node records on the host before it changes anything, so that the
// next one can restore the host after a test process that was killed.
type nodeState struct {
	// Dir is the node's folder.
	Dir string `json:"dir"`
	// Sysctls are the host's values before any real node changed them.
	Sysctls map[string]string `json:"sysctls"`
}

// recover cleans up after a real node whose test process was killed (its state file is
// still there): what it left on the host goes, and its record of the host's sysctls is kept as
// the values to restore.
func (n *realNode) recover() error {
	data, err := os.ReadFile(realNodeState)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", realNodeState, err)
	}
	var prev nodeState
	if err := json.Unmarshal(data, &prev); err != nil {
		return fmt.Errorf("reading %s: %w", realNodeState, err)
	}
	cleanHost(prev.Dir, n.bin, true, true, nil)
	for s, v := range prev.Sysctls {
		_ = os.WriteFile("/proc/sys/"+s, []byte(v), 0o644)
	}
	_ = os.RemoveAll(prev.Dir)
	n.saved = prev.Sysctls
	return nil
}

// stop tears the node down and restores the host: the pods' containers, the processes, then
// cleanHost. Best effort: it goes on past a failure.
func (n *realNode) stop(c *Cluster) {
	ctr := func(args ...string) []byte {
		out, _ := exec.Command(filepath.Join(n.bin, "ctr"), append([]string{"-a", n.sock, "-n", "k8s.io"}, args...)...).Output()
		return out
	}
	for _, p := range n.procs { // kube-proxy and the kubelet first: nothing restarts the containers
		if p.name != "containerd" {
			p.stop(10 * time.Second)
		}
	}
	if n.sock != "" {
		for _, id := range strings.Fields(string(ctr("tasks", "ls", "-q"))) {
			ctr("tasks", "kill", "-s", "SIGKILL", id)
		}
		time.Sleep(500 * time.Millisecond)
		for _, id := range strings.Fields(string(ctr("tasks", "ls", "-q"))) {
			ctr("tasks", "rm", "-f", id)
		}
		for _, id := range strings.Fields(string(ctr("containers", "ls", "-q"))) {
			ctr("containers", "rm", id)
		}
	}
	for _, p := range n.procs {
		p.stop(10 * time.Second)
		c.forget(p)
	}
	n.procs = nil
	cleanHost(n.dir, n.bin, n.ip, n.drop, n.shims)
	for s, v := range n.saved {
		_ = os.WriteFile("/proc/sys/"+s, []byte(v), 0o644)
	}
	_ = os.Remove(realNodeState)
	if n.lock != nil {
		_ = n.lock.Close()
	}
}

// cleanHost removes what a real node whose state was under dir left on the host: the
// containers still running in the kubelet's cgroups, the shims serving its containerd and
// their sockets (those not in keep), kube-proxy's rules and KUBE-FIREWALL, mounts under dir,
// the bridge, the kubepods cgroups, the kubelet's and CNI's fixed paths, and (when added)
// the address and the DROP rule. After a normal stop it finds little; after a test process
// that was killed (its children die with it, the shims and containers do not) it is the
// recovery, run by the next real node before it starts.
func cleanHost(dir, bin string, ip, drop bool, keep map[string]bool) {
	killCgroupProcs()
	sock := filepath.Join(dir, "containerd", "containerd.sock")
	// The shims daemonize (they are not our children): those serving this socket only.
	if out, err := exec.Command("pgrep", "-f", "containerd-shim-runc-v2 .*-address "+sock).Output(); err == nil {
		for _, pid := range strings.Fields(string(out)) {
			if id, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(id, syscall.SIGKILL)
			}
		}
	}
	// The shims' sockets (a fixed path): those that appeared while the node ran.
	if entries, err := os.ReadDir(shimSockets); err == nil {
		for _, e := range entries {
			if !keep[e.Name()] {
				_ = os.Remove(filepath.Join(shimSockets, e.Name()))
			}
		}
	}
	_ = exec.Command(filepath.Join(bin, "kube-proxy"), "--cleanup").Run()
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			for exec.Command(ipt, "-D", chain, "-j", "KUBE-FIREWALL").Run() == nil {
			}
		}
		for _, t := range []string{"mangle", "nat", "filter"} {
			for _, ch := range []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "KUBE-PROXY-CANARY"} {
				if exec.Command(ipt, "-t", t, "-F", ch).Run() == nil {
					_ = exec.Command(ipt, "-t", t, "-X", ch).Run()
				}
			}
		}
	}
	if drop {
		_ = exec.Command("iptables", "-D", "INPUT", "-i", "eth0", "-d", RealNodeIP+"/32", "-j", "DROP").Run()
	}
	unmountUnder(dir)
	_ = exec.Command("ip", "link", "del", realNodeBridge).Run()
	removeCgroups()
	// Fixed host paths the kubelet, libcni and containerd use (REAL-NODE.md), removed when empty.
	if files, err := filepath.Glob("/var/lib/cni/results/kubernaut-real-node-*"); err == nil {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
	_ = os.Remove("/var/lib/kubelet/device-plugins/kubelet.sock")
	_ = os.RemoveAll("/var/lib/kubelet/pki")
	if links, err := os.ReadDir("/var/log/containers"); err == nil {
		for _, l := range links {
			p := filepath.Join("/var/log/containers", l.Name())
			if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, dir) {
				_ = os.Remove(p)
			}
		}
	}
	for _, d := range []string{"/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/lib/cni/results", "/var/lib/cni",
		"/var/log/containers", "/var/run/netns", shimSockets, "/run/containerd"} {
		_ = os.Remove(d) // only when empty
	}
	if ip {
		_ = exec.Command("ip", "addr", "del", RealNodeIP+"/32", "dev", "lo").Run()
	}
}

// killCgroupProcs kills every process left in the kubelet's pod cgroups: a container whose
// shim was killed lives on, reparented to init.
func killCgroupProcs() {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		_ = filepath.WalkDir(filepath.Join(h, "kubepods"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, pid := range strings.Fields(string(data)) {
				if id, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(id, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// unmountUnder unmounts everything mounted under dir, deepest first (the kubelet bind-mounts
// its root; pods' volumes, overlay root file systems and network namespaces are under it).
func unmountUnder(dir string) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = dir
	}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return
	}
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && (fields[1] == real || strings.HasPrefix(fields[1], real+"/")) {
			mounts = append(mounts, fields[1])
		}
	}
	_ = f.Close()
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// removeCgroups removes the kubelet's pod cgroups (kubepods…), deepest first, in each cgroup v1
// hierarchy (and the unified one).
func removeCgroups() {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		for _, top := range []string{"kubepods", "kubepods.slice"} {
			root := filepath.Join(h, top)
			var dirs []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				_ = syscall.Rmdir(dirs[i])
			}
		}
	}
}
