// Package cluster starts a real Kubernetes control plane built from source (see the Makefile's
// cluster-bin target) for tests and the local environment: etcd and kube-apiserver, and for
// end-to-end use also kube-controller-manager, kube-scheduler and kwok, whose fake nodes run
// pods through their lifecycle. Every process is a child of the caller and is killed with it.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	serviceCIDR    = "10.0.0.0/24"
	firstServiceIP = "10.0.0.1"
	// KwokNodeAnnotation marks the nodes kwok manages.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// KubeletStoppedLabel on a kwok node stops kwok's node stages for it (its heartbeat and
	// readiness), as if its kubelet had stopped; its pods still run.
	KubeletStoppedLabel = "kwok.kubernaut.io/kubelet-stopped"
)

// Options choose what to start.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
	// kwok-stages/. Found with FindBinDir when empty.
	BinDir string

	// Dir holds the data, certificates, kubeconfig and logs. A temporary folder, removed
	// by Stop, when empty; kept when set.
	Dir string

	// Full starts kube-controller-manager, kube-scheduler and kwok too.
	Full bool

	// KwokNodes is the number of fake nodes to create (Full only).
	KwokNodes int

	// CRDDirs are folders of CustomResourceDefinition YAML to install and wait for.
	CRDDirs []string

	// StartTimeout bounds the start-up; 60 s when zero.
	StartTimeout time.Duration

	// AuditWrites makes the API server write an audit event (level Metadata) for every
	// write request into AuditLog(), for measurements of who writes what.
	AuditWrites bool
	// AuditReads adds the get and list requests to the audit (with AuditWrites): what a client
	// reads straight from the API server rather than its cache.
	AuditReads bool

	// RealNode starts a real node beside the kwok nodes (Full only; as root): containerd,
	// the kubelet and kube-proxy of bin/node (make node-bin), named RealNodeName, labelled
	// and tainted RealNodeLabel. The API server then binds RealNodeIP (pods reach it through
	// the kubernetes Service). The pause and workload images are built and imported.
	RealNode bool

	// NodeImages are further image archives (OCI or docker) imported into the real node's
	// containerd (RealNode only); their references must be full (localhost/…): nothing is
	// pulled.
	NodeImages []string
}

// Cluster is a running control plane.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file.
	Kubeconfig string
	// Dir holds the cluster's files.
	Dir string

	opts      Options
	removeDir bool
	procs     []*process
	apiArgs   []string
	node      *realNode
}

// Start starts the control plane and returns once the API server is ready, the CRDs are
// established and (Full) the nodes are Ready. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if opts.BinDir == "" {
		if opts.BinDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	need := []string{"etcd", "kube-apiserver"}
	if opts.Full {
		need = append(need, "kube-controller-manager", "kube-scheduler", "kwok")
	}
	if err = checkBinDir(opts.BinDir, need...); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Dir: opts.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "kubernaut-cluster-"); err != nil {
			return nil, fmt.Errorf("creating the cluster folder: %w", err)
		}
		c.removeDir = true
	} else if err = os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the cluster folder: %w", err)
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	var nodeIPs []net.IP
	if opts.RealNode {
		if !opts.Full {
			return nil, errors.New("a real node needs the full control plane (Options.Full)")
		}
		bin, err := FindNodeBinDir()
		if err != nil {
			return nil, err
		}
		c.node = &realNode{bin: bin, dir: filepath.Join(c.Dir, "node")}
		if err = c.node.prepareHost(); err != nil {
			return nil, err
		}
		nodeIPs = append(nodeIPs, realNodeIP())
	}
	pki, err := writePKI(c.Dir, nodeIPs...)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	if err = c.startEtcd(ctx, etcdPort, peerPort); err != nil {
		return nil, err
	}
	host := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	if c.node != nil {
		host = "https://" + RealNodeIP + ":" + strconv.Itoa(apiPort)
	}
	c.Config = &rest.Config{
		Host: host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: pki.caPEM, CertData: pki.adminCertPEM, KeyData: pki.adminKeyPEM,
		},
		QPS: 200, Burst: 400,
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err = writeKubeconfig(c.Kubeconfig, c.Config); err != nil {
		return nil, err
	}
	if err = c.startAPIServer(ctx, pki, etcdPort, apiPort); err != nil {
		return nil, err
	}
	if err = installCRDs(ctx, c.Config, opts.CRDDirs); err != nil {
		return nil, err
	}
	if !opts.Full {
		return c, nil
	}
	if err = c.startControllers(ctx, pki, kcmPort, schedPort, kwokPort); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if err = createKwokNodes(ctx, cs, opts.KwokNodes); err != nil {
		return nil, err
	}
	if c.node != nil {
		images, err := BuildNodeImages(ctx, filepath.Join(c.Dir, "images"))
		if err != nil {
			return nil, err
		}
		if err = c.node.start(ctx, c, pki, append(images, opts.NodeImages...)); err != nil {
			return nil, err
		}
	}
	if err = WaitForDefaultServiceAccount(ctx, cs, "default"); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }

func (c *Cluster) startEtcd(ctx context.Context, port, peerPort int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(port)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := startProcess(c.Dir, "etcd", c.bin("etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	hc := &http.Client{Timeout: time.Second}
	return p.waitReady(ctx, func(ctx context.Context) error {
		return httpOK(ctx, hc, client+"/health")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, pki *pki, etcdPort, apiPort int) error {
	bind, authz := "127.0.0.1", "RBAC"
	var extra []string
	if c.node != nil {
		bind, authz = RealNodeIP, "Node,RBAC"
		var err error
		if extra, err = c.node.apiServerArgs(pki); err != nil {
			return err
		}
	}
	c.apiArgs = []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address=" + bind,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + pki.ServingCert, "--tls-private-key-file=" + pki.ServingKey,
		"--client-ca-file=" + pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.SAPub,
		"--service-account-signing-key-file=" + pki.SAKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=" + authz,
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--v=0",
	}
	c.apiArgs = append(c.apiArgs, extra...)
	if c.opts.AuditWrites {
		policy := filepath.Join(c.Dir, "audit-policy.yaml")
		verbs := `"create", "update", "patch", "delete", "deletecollection"`
		if c.opts.AuditReads {
			verbs += `, "get", "list"`
		}
		if err := os.WriteFile(policy, []byte(fmt.Sprintf(auditPolicy, verbs)), 0o644); err != nil {
			return fmt.Errorf("writing the audit policy: %w", err)
		}
		c.apiArgs = append(c.apiArgs, "--audit-policy-file="+policy, "--audit-log-path="+c.AuditLog(),
			"--audit-log-format=json", "--audit-log-maxsize=0", "--audit-log-mode=blocking")
	}
	return c.runAPIServer(ctx)
}

// auditPolicy records each request of the verbs (%s) once, when its answer is complete,
// without bodies.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  verbs: [%s]
- level: None
`

// AuditLog is the path of the API server's audit log (Options.AuditWrites).
func (c *Cluster) AuditLog() string { return filepath.Join(c.Dir, "audit.log") }

// runAPIServer starts kube-apiserver with the arguments of the first start and waits until
// it is ready.
func (c *Cluster) runAPIServer(ctx context.Context) error {
	p, err := startProcess(c.Dir, "kube-apiserver", c.bin("kube-apiserver"), c.apiArgs...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	hc, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return fmt.Errorf("building a client for %s: %w", c.Config.Host, err)
	}
	return p.waitReady(ctx, func(ctx context.Context) error {
		return httpOK(ctx, hc, c.Config.Host+"/readyz")
	})
}

func (c *Cluster) startControllers(ctx context.Context, pki *pki, kcmPort, schedPort, kwokPort int) error {
	kc := c.Kubeconfig
	kcm, err := startProcess(c.Dir, "kube-controller-manager", c.bin("kube-controller-manager"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--leader-elect=false",
		"--service-account-private-key-file="+pki.SAKey,
		"--root-ca-file="+pki.CACert,
		"--cluster-signing-cert-file="+pki.CACert, "--cluster-signing-key-file="+pki.CAKey,
		"--use-service-account-credentials=true",
		"--controllers=*",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		// Its default of 20 requests/s would make rollouts of a few hundred Deployments
		// crawl (as kwokctl does, the limits are lifted).
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--v=0",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kcm)
	sched, err := startProcess(c.Dir, "kube-scheduler", c.bin("kube-scheduler"),
		"--kubeconfig="+kc, "--authentication-kubeconfig="+kc, "--authorization-kubeconfig="+kc,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort),
		"--leader-elect=false",
		"--v=0",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, sched)
	stages, err := writeKwokStages(c.opts.BinDir, c.Dir)
	if err != nil {
		return err
	}
	kwok, err := startProcess(c.Dir, "kwok", c.bin("kwok"),
		"--kubeconfig="+kc,
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		// The nodes' health comes from their Leases, renewed by kwok as a kubelet renews
		// them (the heartbeat stage writes the status only every ten minutes, as a kubelet
		// with leases does). Without Leases kube-controller-manager marks the nodes Unknown
		// 50 s after their last status, taints them unreachable and marks their pods not
		// ready until kwok writes the status again.
		"--node-lease-duration-seconds=40",
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
		"--cidr=10.0.0.1/24", "--node-ip=10.0.0.1",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kwok)

	insecure := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a local health probe
	}}
	for _, hp := range []struct {
		p   *process
		url string
	}{
		{kcm, "https://127.0.0.1:" + strconv.Itoa(kcmPort) + "/healthz"},
		{sched, "https://127.0.0.1:" + strconv.Itoa(schedPort) + "/healthz"},
		{kwok, "http://127.0.0.1:" + strconv.Itoa(kwokPort) + "/healthz"},
	} {
		if err := hp.p.waitReady(ctx, func(ctx context.Context) error { return httpOK(ctx, insecure, hp.url) }); err != nil {
			return err
		}
	}
	return nil
}

// writeKwokStages concatenates the Stage documents of binDir/kwok-stages into one config
// file (kwok refuses to start without stages).
func writeKwokStages(binDir, dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(binDir, "kwok-stages", "*.yaml"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no kwok stages in %s (run 'make cluster-bin')", filepath.Join(binDir, "kwok-stages"))
	}
	var docs []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading kwok stage %s: %w", f, err)
		}
		doc := strings.TrimSpace(string(data))
		if strings.HasPrefix(filepath.Base(f), "node-") {
			// A node whose kubelet a test stopped keeps the status the test wrote: kwok's node
			// stages would otherwise mark it Ready again at once.
			const at = "  selector:\n    matchExpressions:\n"
			if !strings.Contains(doc, at) {
				return "", fmt.Errorf("kwok stage %s has no selector.matchExpressions to add %s to: its format changed", f, KubeletStoppedLabel)
			}
			doc = strings.Replace(doc, at, at+"    - key: '.metadata.labels[\""+KubeletStoppedLabel+"\"]'\n      operator: 'DoesNotExist'\n", 1)
		}
		docs = append(docs, doc)
	}
	out := filepath.Join(dir, "kwok-stages.yaml")
	if err := os.WriteFile(out, []byte(strings.Join(docs, "\n---\n")+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	return out, nil
}

// Stop ends every process, newest first, and removes the cluster's folder when Start made
// it. It is safe to call more than once.
func (c *Cluster) Stop() {
	if c.node != nil {
		c.node.stop(c)
		c.node = nil
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	c.procs = nil
	if c.removeDir && c.Dir != "" {
		_ = os.RemoveAll(c.Dir)
	}
}

// Healthy returns an error naming every process that has exited.
func (c *Cluster) Healthy() error {
	var errs []error
	for _, p := range c.procs {
		if p.exited() {
			errs = append(errs, fmt.Errorf("%s exited: %v; last log lines:\n%s", p.name, p.err, p.logTail(20)))
		}
	}
	return errors.Join(errs...)
}

func httpOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// PIDs returns the process IDs of the running control-plane processes.
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, p := range c.procs {
		if !p.exited() {
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}

// StopAPIServer stops kube-apiserver (etcd and the data stay), to test what clients do while
// it is gone.
func (c *Cluster) StopAPIServer() {
	for i, p := range c.procs {
		if p.name == "kube-apiserver" {
			p.stop(10 * time.Second)
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			return
		}
	}
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same port.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	for _, p := range c.procs {
		if p.name == "kube-apiserver" {
			return fmt.Errorf("kube-apiserver is already running")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.runAPIServer(ctx)
}

// Usage returns what each running control-plane process has used so far, by name.
func (c *Cluster) Usage() map[string]Usage {
	out := map[string]Usage{}
	for _, p := range c.procs {
		if p.exited() {
			continue
		}
		if u, err := procUsage(p.cmd.Process.Pid); err == nil {
			out[p.name] = u
		}
	}
	return out
}

// untilOK polls url every 100 ms until it answers 200 OK, for at most limit, and returns the
// last failure when it never did.
func untilOK(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	err := httpOK(ctx, hc, url)
	for err != nil && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		err = httpOK(ctx, hc, url)
	}
	return err
}
