package integration

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/util/file"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/templates"
	"github.com/kubernaut/kubernaut/test/gen"
)

func startArgoEngine(ns string) {
	GinkgoHelper()
	startArgoEngineWith(ns, argoEngine{})
}

// argoEngine configures the argo engine of a spec.
type argoEngine struct {
	// reference runs plans by reference (--argo-workflow-template-ref).
	reference bool
	// now is the engine's clock (time.Now when nil).
	now func() time.Time
	// recheck is how long Argo's controller may take to act on a resume before a nudge
	// (the engine's default when 0).
	recheck time.Duration
}

// startArgoEngineWith runs the argo engine configured by o, with the semaphore ConfigMap of
// the base manifests (no key for the namespace yet).
func startArgoEngineWith(ns string, o argoEngine) {
	GinkgoHelper()
	Expect(k8s.Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-semaphores"},
		Data: map[string]string{"cluster": "10", workflowexecution.DefaultNamespaceSemaphoreKey: "3"}})).To(Succeed())
	runManager(ns, func(_ context.Context, mgr ctrl.Manager) error {
		set, err := templates.Embedded()
		if err != nil {
			return err
		}
		r := &workflowexecution.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Templates: set,
			Compile: workflowexecution.CompileOptions{ServiceAccount: "kubernaut-workflow", ActiveDeadline: 30 * time.Minute, SemaphoreConfigMap: "kubernaut-semaphores"},
			Safety:  kubernautrego.NewSafety(mgr.GetAPIReader(), ns, "kubernaut-policies", nil),
			Engines: map[kubernautv1.EngineName]workflowexecution.Engine{
				kubernautv1.EngineArgo: &workflowexecution.Argo{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), UIBaseURL: "https://argo.example.com/",
					Reference: o.reference, Now: o.now, Recheck: o.recheck, ArgoServerUser: "system:serviceaccount:argo:argo-server"}},
			DefaultEngine: kubernautv1.EngineArgo, WatchWorkflows: true}
		return r.SetupWithManager(mgr)
	})
}

// argoNode writes one node into the Workflow's status the way Argo's controller records it
// (names <workflow>.<task> in the plan's DAG, <workflow>.onExit.<task> in the exit hook; IDs
// from the name).
func argoNode(wf *wfv1.Workflow, name string, typ wfv1.NodeType, phase wfv1.NodePhase, msg string) {
	if wf.Status.Nodes == nil {
		wf.Status.Nodes = wfv1.Nodes{}
	}
	id := wf.NodeID(name)
	n := wfv1.NodeStatus{ID: id, Name: name, DisplayName: name[len(wf.Name):], Type: typ, Phase: phase, Message: msg,
		StartedAt: metav1.Now()}
	if name != wf.Name {
		n.DisplayName = name[len(wf.Name)+1:]
	}
	if phase.Completed() {
		n.FinishedAt = metav1.Now()
	}
	wf.Status.Nodes[id] = n
}

// playArgo changes the Workflow as Argo's controller (or `argo resume`) would, as field
// manager manager.
func playArgo(ctx SpecContext, ns, name, manager string, change func(*wfv1.Workflow)) {
	GinkgoHelper()
	Eventually(func() error {
		wf := &wfv1.Workflow{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf); err != nil {
			return err
		}
		change(wf)
		return k8s.Update(ctx, wf, client.FieldOwner(manager))
	}).WithContext(ctx).Should(Succeed())
}

// reachGate plays Argo's controller running a Workflow to its approval gate.
func reachGate(ctx SpecContext, ns, name string) {
	GinkgoHelper()
	playArgo(ctx, ns, name, "workflow-controller", func(wf *wfv1.Workflow) {
		wf.Status.Phase = wfv1.WorkflowRunning
		argoNode(wf, wf.Name, wfv1.NodeTypeDAG, wfv1.NodeRunning, "")
		argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeRunning, "")
	})
}

// failsBeforeWorkflow waits for a plan to fail with a message naming want, and checks that
// no Workflow was created for it.
func failsBeforeWorkflow(ctx SpecContext, w *kubernautv1.WorkflowExecution, want string) {
	GinkgoHelper()
	w = waitWE(ctx, w, kubernautv1.WorkflowFailed)
	Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ReadyCondition).Message).To(ContainSubstring(want))
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), &wfv1.Workflow{})).NotTo(Succeed(), "no Workflow was created")
}

func workflow(ctx SpecContext, ns, name string) *wfv1.Workflow {
	GinkgoHelper()
	wf := &wfv1.Workflow{}
	Eventually(func() error { return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wf) }).WithContext(ctx).Should(Succeed())
	return wf
}

var _ = Describe("The argo engine (Argo's CRDs installed; the test plays Argo's controller)", func() {
	It("creates the Workflow of a Manual plan at its gate, takes `argo resume` as the approval, and mirrors the nodes to Completed", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		w := gen.WorkflowExecution(ns, "rr-argo-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		wf := workflow(ctx, ns, "rr-argo-we")
		Expect(metav1.IsControlledBy(wf, w)).To(BeTrue())
		Expect(wf.Annotations).To(HaveKeyWithValue("kubernaut.io/plan-hash", w.Status.Plan.Hash))
		dag := wf.GetTemplateByName(wf.Spec.Entrypoint).DAG
		Expect(dag.Tasks).To(HaveLen(3))
		Expect(dag.Tasks[0].Name).To(Equal("approve"))
		Expect(dag.Tasks[1]).To(And(HaveField("Name", "rollback"), HaveField("Depends", "approve.Succeeded")))
		Expect(dag.Tasks[2]).To(And(HaveField("Name", "done"), HaveField("Depends", "rollback.Succeeded")))
		Expect(wf.Spec.Synchronization.Mutexes).To(ConsistOf(HaveField("Name", "kubernaut.deployment.shop.checkout")))
		Expect(wf.Labels).To(HaveKeyWithValue(kubernautv1.LabelWorkflowExecution, "rr-argo-we"))

		// Argo runs the DAG to the suspend gate; a person runs `argo resume`.
		reachGate(ctx, ns, wf.Name)
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
			g.Expect(w.Status.Phase).To(Equal(kubernautv1.WorkflowAwaitingApproval))
		}).WithContext(ctx).WithTimeout(time.Second).Should(Succeed())
		playArgo(ctx, ns, wf.Name, "argo", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeSucceeded, "")
		})
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval).To(And(HaveField("Decision", "Approved"), HaveField("DecidedBy", "argo resume by user kubernaut-admin"),
			HaveField("PlanHash", w.Status.Plan.Hash)))

		// The resource node runs, then everything succeeds; the exit hook's undo tasks are skipped.
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".rollback", wfv1.NodeTypePod, wfv1.NodeRunning, "")
		})
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
			g.Expect(w.Status.Steps).To(ConsistOf(And(HaveField("Phase", kubernautv1.StepRunning), HaveField("NodeID", wf.NodeID(wf.Name+".rollback")),
				HaveField("KubernetesExecutionRef.Name", "rr-argo-we-rollback"))))
		}).WithContext(ctx).Should(Succeed())
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".rollback", wfv1.NodeTypePod, wfv1.NodeSucceeded, "")
			argoNode(wf, wf.Name+".done", wfv1.NodeTypeSuspend, wfv1.NodeSucceeded, "")
			argoNode(wf, wf.Name, wfv1.NodeTypeDAG, wfv1.NodeSucceeded, "")
			argoNode(wf, wf.Name+".onExit", wfv1.NodeTypeDAG, wfv1.NodeSucceeded, "")
			argoNode(wf, wf.Name+".onExit.undo-rollback", wfv1.NodeTypeSkipped, wfv1.NodeSkipped, "when 'Succeeded != Succeeded' evaluated false")
			wf.Status.Phase = wfv1.WorkflowSucceeded
		})
		w = waitWE(ctx, w, kubernautv1.WorkflowCompleted)
		Expect(w.Status.Steps).To(ConsistOf(HaveField("Phase", kubernautv1.StepSucceeded)))
		Expect(w.Status.Compensation).To(BeEmpty())
		Expect(w.Status.WorkflowRef).To(And(HaveField("Name", wf.Name), HaveField("UID", string(wf.UID)),
			HaveField("UIURL", "https://argo.example.com/workflows/"+ns+"/rr-argo-we?uid="+string(wf.UID))))
	})

	It("resumes the gate itself when a person approves by annotation, and terminates the Workflow of a rejected plan", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		w := gen.WorkflowExecution(ns, "rr-ann-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		wf := workflow(ctx, ns, "rr-ann-we")
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name, wfv1.NodeTypeDAG, wfv1.NodeRunning, "")
			argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeRunning, "")
		})
		annotate(ctx, w, kubernautv1.ApproveAnnotation, w.Status.Plan.Hash)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wf), wf)).To(Succeed())
			gate := wf.Status.Nodes.FindByName(wf.Name + ".approve")
			g.Expect(gate.Phase).To(Equal(wfv1.NodeSucceeded))
			g.Expect(gate.Message).To(Equal("Resumed by kubernaut: plan " + w.Status.Plan.Hash + " approved by user kubernaut-admin"))
		}).WithContext(ctx).Should(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowRunning)
		Expect(w.Status.Approval.DecidedBy).To(Equal("user kubernaut-admin"), "the annotation's author approved, not our own resume")

		r := gen.WorkflowExecution(ns, "rr-rej-we")
		Expect(k8s.Create(ctx, r)).To(Succeed())
		r = waitWE(ctx, r, kubernautv1.WorkflowAwaitingApproval)
		workflow(ctx, ns, "rr-rej-we")
		annotate(ctx, r, kubernautv1.RejectAnnotation, "not now")
		waitWE(ctx, r, kubernautv1.WorkflowRejected)
		Eventually(func(g Gomega) {
			rwf := &wfv1.Workflow{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rr-rej-we"}, rwf)).To(Succeed())
			g.Expect(rwf.Spec.Shutdown).To(Equal(wfv1.ShutdownStrategyTerminate))
		}).WithContext(ctx).Should(Succeed())
	})

	It("nudges Argo's controller when it has not acted on a resumed gate or a terminate, backing off, and stops once it has", func(ctx SpecContext) {
		// Argo v3.x can lose an update it did not make (INFORMER_WRITE_BACK): here nobody plays
		// Argo's controller after the resume, as when it lost it.
		ns := newNamespace(ctx)
		startArgoEngineWith(ns, argoEngine{recheck: time.Second})
		w := gen.WorkflowExecution(ns, "rr-nudge-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		w = waitWE(ctx, w, kubernautv1.WorkflowAwaitingApproval)
		wf := workflow(ctx, ns, "rr-nudge-we")
		reachGate(ctx, ns, wf.Name)
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wf), wf)).To(Succeed())
			g.Expect(wf.Annotations).NotTo(HaveKey(workflowexecution.NudgesAnnotation), "a gate waiting for a person is not Argo's to act on")
		}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())
		playArgo(ctx, ns, wf.Name, "argo", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeSucceeded, "")
		})
		waitWE(ctx, w, kubernautv1.WorkflowRunning)

		nudge := func(ctx SpecContext, name string, n int) time.Time {
			GinkgoHelper()
			var at time.Time
			Eventually(func(g Gomega) {
				got := &wfv1.Workflow{}
				g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got)).To(Succeed())
				g.Expect(got.Annotations).To(HaveKeyWithValue(workflowexecution.NudgesAnnotation, strconv.Itoa(n)))
				var err error
				at, err = time.Parse(time.RFC3339Nano, got.Annotations[workflowexecution.NudgedAtAnnotation])
				g.Expect(err).NotTo(HaveOccurred())
			}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Succeed())
			return at
		}
		first := nudge(ctx, wf.Name, 1)
		second := nudge(ctx, wf.Name, 2)
		Expect(second.Sub(first)).To(BeNumerically(">=", 2*time.Second), "the wait doubles after each nudge")
		gate := workflow(ctx, ns, wf.Name).Status.Nodes.FindByName(wf.Name + ".approve")
		Expect(gate.Phase).To(Equal(wfv1.NodeSucceeded), "a nudge changes no node")

		// Argo acts on the resume: no more nudges.
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".rollback", wfv1.NodeTypePod, wfv1.NodeRunning, "")
		})
		Consistently(func(g Gomega) {
			got := &wfv1.Workflow{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wf), got)).To(Succeed())
			g.Expect(got.Annotations).To(HaveKeyWithValue(workflowexecution.NudgesAnnotation, "2"))
		}).WithContext(ctx).WithTimeout(5 * time.Second).Should(Succeed())

		// A rejected plan's terminate that Argo does not act on is nudged too, until the Workflow ends.
		r := gen.WorkflowExecution(ns, "rr-nudge-rej-we")
		Expect(k8s.Create(ctx, r)).To(Succeed())
		r = waitWE(ctx, r, kubernautv1.WorkflowAwaitingApproval)
		workflow(ctx, ns, r.Name)
		reachGate(ctx, ns, r.Name)
		annotate(ctx, r, kubernautv1.RejectAnnotation, "not now")
		waitWE(ctx, r, kubernautv1.WorkflowRejected)
		nudge(ctx, r.Name, 1)
		playArgo(ctx, ns, r.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".approve", wfv1.NodeTypeSuspend, wfv1.NodeFailed, "Stopped with strategy 'Terminate'")
			argoNode(wf, wf.Name, wfv1.NodeTypeDAG, wfv1.NodeFailed, "")
			wf.Status.Phase = wfv1.WorkflowFailed
		})
		Consistently(func(g Gomega) {
			got := &wfv1.Workflow{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Name}, got)).To(Succeed())
			g.Expect(got.Annotations).To(HaveKeyWithValue(workflowexecution.NudgesAnnotation, "1"))
		}).WithContext(ctx).WithTimeout(4 * time.Second).Should(Succeed())
	})

	It("refuses to run a plan against ClusterWorkflowTemplates of another version, naming the one to sync", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		c := &wfv1.ClusterWorkflowTemplate{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: templates.Compensate}, c)).To(Succeed())
		before := c.DeepCopy()
		c.Labels[templates.VersionLabel] = "0"
		Expect(k8s.Patch(ctx, c, client.MergeFrom(before))).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(k8s.Get(ctx, client.ObjectKey{Name: templates.Compensate}, c)).To(Succeed())
			old := c.DeepCopy()
			c.Labels[templates.VersionLabel] = templates.Version
			Expect(k8s.Patch(ctx, c, client.MergeFrom(old))).To(Succeed())
		})
		w := gen.WorkflowExecution(ns, "rr-old-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		failsBeforeWorkflow(ctx, w, `ClusterWorkflowTemplate kubernaut-compensate has kubernaut.io/template-version="0", this controller needs "`+templates.Version+`"`)
	})

	It("by reference, refuses a WorkflowTemplate of another plan left under the plan's name, and creates no Workflow", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngineWith(ns, argoEngine{reference: true})
		stale := &wfv1.WorkflowTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rr-ref-we", Annotations: map[string]string{"kubernaut.io/plan-hash": "0123abcd"}},
			Spec: wfv1.WorkflowSpec{Entrypoint: "x", Templates: []wfv1.Template{{Name: "x", Suspend: &wfv1.SuspendTemplate{}}}}}
		Expect(k8s.Create(ctx, stale)).To(Succeed())
		w := gen.WorkflowExecution(ns, "rr-ref-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		failsBeforeWorkflow(ctx, w, `WorkflowTemplate `+ns+`/rr-ref-we is not this plan's (it carries plan "0123abcd"`)
		got := &wfv1.WorkflowTemplate{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(stale), got)).To(Succeed())
		Expect(got.Spec.Entrypoint).To(Equal("x"), "the other plan's template is left as it was")
	})

	It("by reference, creates again a Workflow Argo failed before its cache had the plan's WorkflowTemplate, and only while the template is new", func(ctx SpecContext) {
		// What Argo's controller does when its informer has not seen the template yet
		// (argoproj/argo-workflows#14615): the Workflow ends in Error at once, no node run.
		unseen := func(wf *wfv1.Workflow) {
			wf.Status.Phase = wfv1.WorkflowError
			wf.Status.Message = `workflowtemplates.argoproj.io "` + wf.Name + `" not found`
			wf.Status.FinishedAt = metav1.Now()
			wf.Labels["workflows.argoproj.io/completed"] = "true"
		}
		ns := newNamespace(ctx)
		startArgoEngineWith(ns, argoEngine{reference: true})
		w := gen.WorkflowExecution(ns, "rr-unseen-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		first := workflow(ctx, ns, w.Name)
		playArgo(ctx, ns, w.Name, "workflow-controller", unseen)
		again := &wfv1.Workflow{}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(first), again)).To(Succeed())
			g.Expect(again.UID).NotTo(Equal(first.UID), "created again")
		}).WithContext(ctx).Should(Succeed())
		Expect(again.Spec).To(Equal(wfv1.WorkflowSpec{WorkflowTemplateRef: &wfv1.WorkflowTemplateRef{Name: w.Name}}))
		Expect(again.Status.Phase).To(BeEmpty(), "a new Workflow, for Argo to run from the start")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), w)).To(Succeed())
			g.Expect(w.Status.WorkflowRef).NotTo(BeNil())
			g.Expect(w.Status.WorkflowRef.UID).To(Equal(string(again.UID)))
		}).WithContext(ctx).Should(Succeed())
		Expect(w.Status.Phase).To(Equal(kubernautv1.WorkflowRunning), "%v", w.Status.Conditions)

		// An Error Argo gives for another reason is the plan's failure: nothing is created again.
		playArgo(ctx, ns, w.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			unseen(wf)
			wf.Status.Message = "invalid spec: templates.main sorting failed"
		})
		w = waitWE(ctx, w, kubernautv1.WorkflowFailed)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("the Workflow error: invalid spec"))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(first), again)).To(Succeed())
		Expect(again.Status.Phase).To(Equal(wfv1.WorkflowError))

		// A template Argo still does not see a minute after it was created is not a cache's lag:
		// the plan fails, saying what to check, and the Workflow is not created again.
		late := newNamespace(ctx)
		startArgoEngineWith(late, argoEngine{reference: true, now: func() time.Time { return time.Now().Add(2 * time.Minute) }})
		w2 := gen.WorkflowExecution(late, "rr-never-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w2)).To(Succeed())
		never := workflow(ctx, late, w2.Name)
		playArgo(ctx, late, w2.Name, "workflow-controller", unseen)
		w2 = waitWE(ctx, w2, kubernautv1.WorkflowFailed)
		Expect(meta.FindStatusCondition(w2.Status.Conditions, kubernautv1.ReadyCondition).Message).To(And(
			ContainSubstring("still does not see WorkflowTemplate "+late+"/rr-never-we"),
			ContainSubstring("may its ServiceAccount list and watch workflowtemplates in "+late)))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(never), again)).To(Succeed())
		Expect(again.UID).To(Equal(never.UID))
	})

	It("refuses a Manual plan whose remediation ended before creating any Workflow for it", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		w := waitWE(ctx, ownedPlan(ctx, ns, "rr-gone", kubernautv1.RemediationPhaseTimedOut), kubernautv1.WorkflowRejected)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ApprovedCondition).Reason).To(Equal(kubernautv1.ReasonRemediationEnded))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(w), &wfv1.Workflow{})).To(Satisfy(apierrors.IsNotFound), "no Workflow waits at a gate nobody may pass")
	})

	It("adds the target namespace's missing semaphore key from namespace.default before Argo sees the Workflow, and never changes a key that is set", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		w := gen.WorkflowExecution(ns, "rr-sem-we")
		Expect(k8s.Create(ctx, w)).To(Succeed())
		wf := workflow(ctx, ns, "rr-sem-we")
		var keys []string
		for _, s := range wf.Spec.Synchronization.Semaphores {
			keys = append(keys, s.ConfigMapKeyRef.Key)
		}
		Expect(keys).To(ConsistOf("cluster", "namespace."+w.Spec.Target.Namespace))
		cm := &corev1.ConfigMap{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kubernaut-semaphores"}, cm)).To(Succeed())
		Expect(cm.Data).To(Equal(map[string]string{"cluster": "10", workflowexecution.DefaultNamespaceSemaphoreKey: "3", "namespace." + w.Spec.Target.Namespace: "3"}))

		// A limit someone set stays as it is.
		cm.Data["namespace."+w.Spec.Target.Namespace] = "1"
		Expect(k8s.Update(ctx, cm)).To(Succeed())
		other := gen.WorkflowExecution(ns, "rr-sem2-we")
		Expect(k8s.Create(ctx, other)).To(Succeed())
		workflow(ctx, ns, "rr-sem2-we")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		Expect(cm.Data["namespace."+w.Spec.Target.Namespace]).To(Equal("1"))
	})

	DescribeTable("fails the plan, naming what to fix, when the semaphore ConfigMap cannot bound it",
		func(ctx SpecContext, data map[string]string, want string) {
			ns := newNamespace(ctx)
			startArgoEngine(ns)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-semaphores"}}
			if data == nil {
				Expect(k8s.Delete(ctx, cm)).To(Succeed())
			} else {
				Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
				cm.Data = data
				Expect(k8s.Update(ctx, cm)).To(Succeed())
			}
			w := gen.WorkflowExecution(ns, "rr-nosem-we", gen.AutoApproved)
			Expect(k8s.Create(ctx, w)).To(Succeed())
			failsBeforeWorkflow(ctx, w, want)
		},
		Entry("no ConfigMap", nil, "/kubernaut-semaphores does not exist: apply the base manifests' (keys cluster and namespace.default), or run with --semaphore-configmap= for no limits"),
		Entry("no cluster key", map[string]string{"namespace.default": "2"}, `has no key "cluster"`),
		Entry("a default that is not a count (it would have been copied for Argo to choke on)", map[string]string{"cluster": "10", "namespace.default": "many"},
			`key namespace.default: "many" is not a count of at least 1`),
	)

	It("mirrors compressed nodes, a failed step and the exit hook's compensation", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		startArgoEngine(ns)
		w := gen.WorkflowExecution(ns, "rr-fail-we", gen.AutoApproved)
		Expect(k8s.Create(ctx, w)).To(Succeed())
		wf := workflow(ctx, ns, "rr-fail-we")
		Expect(wf.GetTemplateByName(wf.Spec.Entrypoint).DAG.Tasks[0].Name).To(Equal("rollback"), "no gate for an Auto plan")
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			msg := "failure condition 'status.phase in (Failed,Rejected)' evaluated true"
			argoNode(wf, wf.Name, wfv1.NodeTypeDAG, wfv1.NodeFailed, "")
			argoNode(wf, wf.Name+".rollback", wfv1.NodeTypePod, wfv1.NodeFailed, msg)
			argoNode(wf, wf.Name+".done", wfv1.NodeTypeSkipped, wfv1.NodeOmitted, "omitted: depends condition not met")
			argoNode(wf, wf.Name+".onExit", wfv1.NodeTypeDAG, wfv1.NodeRunning, "")
			argoNode(wf, wf.Name+".onExit.undo-rollback", wfv1.NodeTypePod, wfv1.NodeRunning, "")
			// Large workflows keep their nodes compressed in status.compressedNodes.
			raw, err := json.Marshal(wf.Status.Nodes)
			Expect(err).NotTo(HaveOccurred())
			wf.Status.CompressedNodes = file.CompressEncodeString(string(raw))
			wf.Status.Nodes = nil
			wf.Status.Phase = wfv1.WorkflowRunning
		})
		w = waitWE(ctx, w, kubernautv1.WorkflowCompensating)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.ExecutedCondition).Message).To(ContainSubstring("rollback failed: failure condition"))
		Expect(w.Status.Steps).To(ConsistOf(HaveField("Phase", kubernautv1.StepFailed)))
		Expect(w.Status.Compensation).To(ConsistOf(And(HaveField("Name", "undo-rollback"), HaveField("Phase", kubernautv1.StepRunning))))
		playArgo(ctx, ns, wf.Name, "workflow-controller", func(wf *wfv1.Workflow) {
			argoNode(wf, wf.Name+".onExit.undo-rollback", wfv1.NodeTypePod, wfv1.NodeSucceeded, "")
			argoNode(wf, wf.Name+".onExit", wfv1.NodeTypeDAG, wfv1.NodeSucceeded, "")
			wf.Status.Phase = wfv1.WorkflowFailed
		})
		w = waitWE(ctx, w, kubernautv1.WorkflowFailed)
		Expect(meta.FindStatusCondition(w.Status.Conditions, kubernautv1.CompensatedCondition).Reason).To(Equal(kubernautv1.ReasonCompensationSucceeded))
	})
})
