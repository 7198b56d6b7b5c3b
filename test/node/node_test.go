package node

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/test/cluster"
)

// workloadPod is a pod of the test workload on the real node.
func workloadPod(ns, name string, args ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: cluster.WorkloadImage, Args: args}}}}
	onRealNode(&p.Spec)
	return p
}

var _ = Describe("The real node", func() {
	BeforeEach(func() { DeferCleanup(healthy) })

	It("runs a pod whose logs and exec work, and which reaches the API server through the kubernetes Service", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-run-")
		pod := workloadPod(ns, "web", "serve")
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
			g.Expect(pod.Spec.NodeName).To(Equal(cluster.RealNodeName))
			g.Expect(pod.Status.PodIP).NotTo(BeEmpty())
		}).WithContext(ctx).Should(Succeed())
		Eventually(func() (string, error) { return kubectl(ctx, "logs", "-n", ns, "web") }).WithContext(ctx).
			Should(ContainSubstring("workload: serving on :8080"))
		out, err := kubectl(ctx, "exec", "-n", ns, "web", "--", "/workload", "clear-cache")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(Equal("cache cleared\n"))
		// The API server through the kubernetes Service (kube-proxy), with the pod's token:
		// anonymous-free, so the answer is the API's own.
		out, err = kubectl(ctx, "exec", "-n", ns, "web", "--", "/workload", "get", "https://10.0.0.1:443/version")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(And(HavePrefix("200 OK"), ContainSubstring(`"gitVersion"`)))
	})

	It("OOMKills a container over its memory limit and restarts it", func(ctx SpecContext) {
		ns := newNamespace(ctx, "node-oom-")
		pod := workloadPod(ns, "hog", "serve", "--alloc-mib", "256")
		pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}
		Expect(k8s.Create(ctx, pod)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
			g.Expect(pod.Status.ContainerStatuses).To(HaveLen(1))
			cs := pod.Status.ContainerStatuses[0]
			g.Expect(cs.RestartCount).To(BeNumerically(">=", 1))
			g.Expect(cs.LastTerminationState.Terminated).NotTo(BeNil())
			g.Expect(cs.LastTerminationState.Terminated.Reason).To(Equal("OOMKilled"))
			g.Expect(cs.LastTerminationState.Terminated.ExitCode).To(Equal(int32(137)))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
	})
})
