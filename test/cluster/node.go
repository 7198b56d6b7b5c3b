package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubernaut/kubernaut/hack/image"
)

// The real node (Options.RealNode): a kubelet, containerd, runc, CNI and kube-proxy on this
// machine, joined to the control plane beside the kwok nodes. The recipe, with the reasons for
// each setting, is ../shared/reference/REAL-NODE.md; the parts come from `make node-bin`.
const (
	// RealNodeName names the real node.
	RealNodeName = "real-node"
	// RealNodeLabel is the label (value "true") and the NoSchedule taint key of the real node:
	// only pods that select and tolerate it land there.
	RealNodeLabel = "kubernaut.io/real-node"
	// RealNodeIP is the node's address: a /32 on lo, reachable from the pods (the host side
	// of their bridge) but not loopback (an EndpointSlice address may not be), and dropped
	// when it comes in from eth0. The API server binds and advertises it.
	RealNodeIP = "10.250.0.1"
	// PauseImage is the pod sandbox image the harness builds and imports (never pulled).
	PauseImage = "localhost/kubernaut/pause:test"
	// WorkloadImage is the test workload (test/node/workload) the harness builds and imports.
	WorkloadImage = "localhost/kubernaut/workload:test"

	realNodeBridge  = "kn-cni0"
	realNodePodCIDR = "10.88.0.0/16"
	realNodeLock    = "/run/kubernaut-real-node.lock"
	shimSockets     = "/run/containerd/s"
	realNodeState   = "/run/kubernaut-real-node.json"
)

// realNodeSysctls are what the kubelet, kube-proxy and the bridge plugin change on the host:
// saved before the node starts and restored when it stops.
var realNodeSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables", "net/ipv4/conf/all/route_localnet"}

// FindNodeBinDir returns bin/node of the module (make node-bin).
func FindNodeBinDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "node")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("the real node needs %s: run 'make node-bin'", filepath.Join(dir, b))
		}
	}
	for _, f := range []string{"/usr/sbin/runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap"} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("the real node needs %s: run 'make node-bin' (it installs runc and the CNI plugins)", f)
		}
	}
	return dir, nil
}

// realNode is the host state and the processes of the real node.
type realNode struct {
	bin   string // bin/node
	dir   string // state, under the cluster's folder
	sock  string // containerd's socket
	lock  *os.File
	saved map[string]string // sysctls as they were
	ip    bool              // RealNodeIP was added
	drop  bool              // the eth0 DROP rule was added
	procs []*process        // containerd, kubelet, kube-proxy
	shims map[string]bool   // the shim sockets of /run/containerd/s before the node started
	ports struct{ kubelet, kubeletHealthz, proxyHealthz, proxyMetrics int }
}

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

// apiServerArgs are what the API server needs for a real node besides binding RealNodeIP and
// the Node authorizer: the address it advertises, the kubelet client certificate (logs,
// exec) and NodeRestriction.
func (n *realNode) apiServerArgs(p *pki) ([]string, error) {
	cert, key, err := p.clientCert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return nil, err
	}
	return []string{"--advertise-address=" + RealNodeIP,
		"--kubelet-client-certificate=" + cert, "--kubelet-client-key=" + key,
		"--kubelet-preferred-address-types=InternalIP", "--enable-admission-plugins=NodeRestriction"}, nil
}

// start runs containerd (with images imported), the kubelet and kube-proxy, and returns once
// the node is Ready.
func (n *realNode) start(ctx context.Context, c *Cluster, p *pki, images []string) error {
	for _, d := range []string{"cni", "containerd", "kubelet", "pod-logs", "cni-ipam"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := n.startContainerd(ctx, c); err != nil {
		return err
	}
	for _, img := range images {
		out, err := exec.CommandContext(ctx, filepath.Join(n.bin, "ctr"), "-a", n.sock, "-n", "k8s.io", "images", "import",
			"--snapshotter", "overlayfs", img).CombinedOutput()
		if err != nil {
			return fmt.Errorf("importing %s into the real node's containerd: %w: %s", img, err, out)
		}
	}
	if err := n.startKubelet(ctx, c, p); err != nil {
		return err
	}
	return n.startKubeProxy(ctx, c, p)
}

func (n *realNode) startContainerd(ctx context.Context, c *Cluster) error {
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "kubernaut-real-node",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, realNodeBridge, realNodePodCIDR, filepath.Join(n.dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "10-kubernaut.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	s := filepath.Join(n.dir, "containerd")
	n.sock = filepath.Join(s, "containerd.sock")
	// REAL-NODE.md: NRI and opt off (fixed host paths); the image verifier's bin_dir moved (not
	// disabled: that takes the CRI plugin down); the pinned pause image (never pulled);
	// restrict_oom_score_adj (this VM withholds CAP_SYS_RESOURCE); cgroupfs, not systemd.
	conf := fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.internal.v1.opt']

[grpc]
  address = %[3]q

[plugins]
  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = %[4]q
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[5]q
  [plugins.'io.containerd.cri.v1.runtime']
    cdi_spec_dirs = []
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          Root = %[6]q
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = %[7]q
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`, filepath.Join(s, "root"), filepath.Join(s, "state"), n.sock, filepath.Join(s, "image-verifier"), PauseImage,
		filepath.Join(n.dir, "runc"), filepath.Join(n.dir, "cni"))
	confFile := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	// bin/node first in PATH: containerd must find this shim, not an older one of the host.
	p, err := startProcessEnv(c.Dir, "containerd", filepath.Join(n.bin, "containerd"),
		[]string{"PATH=" + n.bin + ":/usr/sbin:/usr/bin:/sbin:/bin"}, "--config", confFile, "--log-level", "warn")
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	c.procs = append(c.procs, p)
	return p.waitReady(ctx, func(ctx context.Context) error {
		return exec.CommandContext(ctx, filepath.Join(n.bin, "ctr"), "-a", n.sock, "version").Run()
	})
}

// nodeKubeconfig writes a kubeconfig for a client certificate of the node's.
func (n *realNode) nodeKubeconfig(c *Cluster, p *pki, name, cn string, orgs ...string) (string, error) {
	certFile, keyFile, err := p.clientCert(name, cn, orgs...)
	if err != nil {
		return "", err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	path := filepath.Join(n.dir, name+".kubeconfig")
	return path, writeKubeconfig(path, &rest.Config{Host: c.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData, CertData: cert, KeyData: key}})
}

func (n *realNode) startKubelet(ctx context.Context, c *Cluster, p *pki) error {
	kc, err := n.nodeKubeconfig(c, p, "kubelet", "system:node:"+RealNodeName, "system:nodes")
	if err != nil {
		return err
	}
	// REAL-NODE.md: cgroup v1 on this host (failCgroupV1 false), cgroupfs, no swap check.
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: %s
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
rotateCertificates: false
serverTLSBootstrap: false
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 2%%, imagefs.available: 2%%, nodefs.inodesFree: 2%%}
maxPods: 50
registerWithTaints:
- {key: %s, value: "true", effect: NoSchedule}
`, RealNodeIP, n.ports.kubelet, n.ports.kubeletHealthz, p.CACert, n.sock, filepath.Join(n.dir, "pod-logs"), RealNodeLabel)
	confFile := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	kl, err := startProcess(c.Dir, "kubelet", filepath.Join(n.bin, "kubelet"), "--config="+confFile, "--kubeconfig="+kc,
		"--root-dir="+filepath.Join(n.dir, "kubelet"), "--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override="+RealNodeName, "--node-ip="+RealNodeIP, "--node-labels="+RealNodeLabel+"=true", "--v=1")
	if err != nil {
		return err
	}
	n.procs = append(n.procs, kl)
	c.procs = append(c.procs, kl)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	return kl.waitReady(ctx, func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready", RealNodeName)
	})
}

func (n *realNode) startKubeProxy(ctx context.Context, c *Cluster, p *pki) error {
	kc, err := n.nodeKubeconfig(c, p, "kube-proxy", "system:kube-proxy")
	if err != nil {
		return err
	}
	// REAL-NODE.md: no route_localnet (localhostNodePorts false), the host's conntrack
	// settings left alone, node ports on the node's address only.
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %s}
mode: iptables
hostnameOverride: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, kc, RealNodeName, RealNodeIP, n.ports.proxyHealthz, n.ports.proxyMetrics, realNodePodCIDR, RealNodeIP)
	confFile := filepath.Join(n.dir, "kube-proxy.yaml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return err
	}
	kp, err := startProcess(c.Dir, "kube-proxy", filepath.Join(n.bin, "kube-proxy"), "--config="+confFile, "--v=1")
	if err != nil {
		return err
	}
	n.procs = append(n.procs, kp)
	c.procs = append(c.procs, kp)
	hc := &http.Client{Timeout: time.Second}
	return kp.waitReady(ctx, func(ctx context.Context) error {
		return httpOK(ctx, hc, "http://127.0.0.1:"+strconv.Itoa(n.ports.proxyHealthz)+"/healthz")
	})
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

// realNodeIP is RealNodeIP parsed, for the API server's certificate.
func realNodeIP() net.IP { return net.ParseIP(RealNodeIP) }

// BuildNodeImages builds the test workload (test/node/workload) into dir and writes the pause
// and workload images (PauseImage, WorkloadImage) as OCI archives there; it returns their paths.
func BuildNodeImages(ctx context.Context, dir string) ([]string, error) {
	bin, err := buildStatic(ctx, dir, "workload", "./test/node/workload")
	if err != nil {
		return nil, err
	}
	pause, err := WriteImage(bin, "/workload", PauseImage, filepath.Join(dir, "pause.oci.tar"), "pause")
	if err != nil {
		return nil, err
	}
	workload, err := WriteImage(bin, "/workload", WorkloadImage, filepath.Join(dir, "workload.oci.tar"))
	if err != nil {
		return nil, err
	}
	return []string{pause, workload}, nil
}

// BuildActionsImage builds the actions image (actions-image) as ref into dir and returns the
// archive's path.
func BuildActionsImage(ctx context.Context, dir, ref string) (string, error) {
	bin, err := buildStatic(ctx, dir, "kubernaut-actions", "./actions-image")
	if err != nil {
		return "", err
	}
	return WriteImage(bin, "/kubernaut-actions", ref, filepath.Join(dir, "kubernaut-actions.oci.tar"))
}

// buildStatic builds the module's package pkg as a static Linux binary dir/name.
func buildStatic(ctx context.Context, dir, name, pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// WriteImage writes an image of one static binary (at name in the image, with the default
// arguments cmd) as an OCI archive at out, named ref.
func WriteImage(bin, name, ref, out string, cmd ...string) (string, error) {
	img, err := image.Build(image.Spec{Binary: bin, Name: name, Cmd: cmd})
	if err != nil {
		return "", err
	}
	return out, image.WriteArchive(img, ref, out)
}
