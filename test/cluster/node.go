package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// realNodeIP is RealNodeIP parsed, for the API server's certificate.
func realNodeIP() net.IP { return net.ParseIP(RealNodeIP) }
