package workflowexecution

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/packer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/templates"
)

// Argo runs plans as Argo Workflows and mirrors their nodes. Argo's controller runs the
// Workflow; the KubernetesExecutions its resource templates create are owned by the Workflow.
type Argo struct {
	// Client creates and updates Workflows (reads go to the API server: see Reader).
	Client client.Client
	// Reader reads Workflows from the API server where the cache may lag: the resume's
	// read-modify-write and a Workflow created meanwhile.
	Reader client.Reader
	// UIBaseURL is the Argo server's base URL for the links in status (none when empty).
	UIBaseURL string
	// Reference runs each plan by reference, as Argo's controller requires with
	// `templateReferencing: Strict` or `Secure`: the compiled spec becomes a WorkflowTemplate
	// named after the WorkflowExecution (owned by it, never changed once created: it is the
	// approved plan), and the Workflow only names it in spec.workflowTemplateRef.
	Reference bool
	// ArgoServerUser is the user the Argo server's ServiceAccount authenticates as: a gate it
	// resumed is attributed to the person its SSO actor labels name; from anyone else, those
	// labels are not believed.
	ArgoServerUser string
	// Recheck is how long Argo's controller may take to act on a resume or a terminate before
	// the engine nudges the Workflow (see argo_nudge.go); DefaultRecheck when 0.
	Recheck time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// keys adds the semaphore keys of plans starting at once in batches.
	keys semaphoreKeys
}

// checkTemplates checks that the ClusterWorkflowTemplates the compiled Workflows reference are
// installed with this controller's version.
func (a *Argo) checkTemplates(ctx context.Context) error {
	for _, name := range []string{templates.Actions, templates.Approval, templates.Compensate} {
		c := &wfv1.ClusterWorkflowTemplate{}
		if err := a.Reader.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
			if apierrors.IsNotFound(err) {
				return failPlan("ClusterWorkflowTemplate %s is not installed (sync templates/: kubectl apply -k templates)", name)
			}
			return fmt.Errorf("reading ClusterWorkflowTemplate %s: %w", name, err)
		}
		if v := c.Labels[templates.VersionLabel]; v != templates.Version {
			return failPlan("ClusterWorkflowTemplate %s has %s=%q, this controller needs %q (sync templates/ of this release)",
				name, templates.VersionLabel, v, templates.Version)
		}
	}
	return nil
}

func taskNode(wf *wfv1.Workflow, boundary, task string) *wfv1.NodeStatus {
	return wf.Status.Nodes.FindByName(boundary + "." + task)
}

// Await creates the Workflow and reads its approval gate.
func (a *Argo) Await(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Resume, error) {
	got, err := a.ensure(ctx, we, wf)
	if err != nil {
		return Resume{}, err
	}
	n := taskNode(got, got.Name, approveTask)
	if n == nil || n.Phase != wfv1.NodeSucceeded {
		return Resume{}, nil
	}
	if strings.HasPrefix(n.Message, kubernautResume) {
		return Resume{}, nil // our own resume, after an annotation: the annotation's author approved
	}
	return a.resumer(got, n), nil
}

// kubernautResume starts the message of a gate the controller resumed.
const kubernautResume = "Resumed by kubernaut"

// resumer names who resumed a gate. Vouched: the user admission stamped in
// kubernautv1.ResumedByAnnotation, or, when that is the Argo server, the person its actor labels (SSO)
// name. Otherwise — the admission policies not installed — Argo's actor labels, the node's
// "Resumed by" message or the field manager of the update, said to be unvouched.
func (a *Argo) resumer(wf *wfv1.Workflow, n *wfv1.NodeStatus) Resume {
	actor := ""
	for _, k := range []string{"workflows.argoproj.io/actor-preferred-username", "workflows.argoproj.io/actor-email", "workflows.argoproj.io/actor"} {
		if v := wf.Labels[k]; v != "" {
			actor = kubernautv1.Truncate(v, 200)
			break
		}
	}
	by := kubernautv1.Truncate(wf.Annotations[kubernautv1.ResumedByAnnotation], 200)
	switch {
	case by != "" && by == a.ArgoServerUser && actor != "":
		return Resume{By: "argo resume by " + actor + " (through the Argo server)", User: actor}
	case by != "":
		return Resume{By: "argo resume by user " + by, User: by}
	}
	const unvouched = " (not vouched for by the API server: install manifests/base/admission-approvals.yaml)"
	switch {
	case actor != "":
		return Resume{By: "argo resume by " + actor + unvouched}
	case strings.HasPrefix(n.Message, "Resumed by:"):
		return Resume{By: "argo resume (" + kubernautv1.Truncate(n.Message, 200) + ")" + unvouched}
	}
	if m := phaseManager(wf, n.ID); m != "" {
		return Resume{By: "argo resume by field manager " + m + unvouched}
	}
	return Resume{By: "argo resume" + unvouched}
}

// FieldManager is the field manager of the Workflows Kubernaut creates and updates.
const FieldManager = "kubernaut"

// phaseManager is who wrote the gate's Succeeded: the field manager owning the node's phase,
// or, where Argo's CRD keeps status atomic, the whole status, unless that is Argo's controller
// or Kubernaut.
func phaseManager(wf *wfv1.Workflow, id string) string {
	for _, mf := range wf.ManagedFields {
		if mf.FieldsV1 == nil || mf.Manager == "workflow-controller" || mf.Manager == FieldManager {
			continue
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) != nil {
			continue
		}
		status, ok := fields["f:status"]
		if !ok {
			continue
		}
		if string(status) == "{}" {
			return mf.Manager // atomic status: this manager wrote it last
		}
		var nodes map[string]map[string]map[string]any
		if json.Unmarshal(status, &nodes) == nil {
			if _, ok := nodes["f:nodes"]["f:"+id]["f:phase"]; ok {
				return mf.Manager
			}
		}
	}
	return ""
}

// Reject terminates the Workflow (no exit hook: nothing ran, nothing to undo), then checks,
// each time it is called, that Argo's controller ended it (see settle).
func (a *Argo) Reject(ctx context.Context, we *kubernautv1.WorkflowExecution) (time.Duration, string, error) {
	wf := &wfv1.Workflow{}
	if err := a.Client.Get(ctx, client.ObjectKey{Namespace: we.Namespace, Name: we.Name}, wf); err != nil {
		return 0, "", client.IgnoreNotFound(err)
	}
	if wf.Status.Phase.Completed() {
		return 0, "", nil
	}
	if wf.Spec.Shutdown == "" {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), wf); err != nil {
				return client.IgnoreNotFound(err)
			}
			if wf.Spec.Shutdown != "" || wf.Status.Phase.Completed() {
				return nil
			}
			wf.Spec.Shutdown = wfv1.ShutdownStrategyTerminate
			return a.Client.Update(ctx, wf, client.FieldOwner(FieldManager))
		})
		if err != nil {
			return 0, "", fmt.Errorf("terminating Workflow %s/%s: %w", we.Namespace, we.Name, err)
		}
		return a.recheck(), "", nil
	}
	if err := packer.DecompressWorkflow(wf); err != nil {
		return 0, "", fmt.Errorf("reading the nodes of Workflow %s/%s: %w", we.Namespace, we.Name, err)
	}
	since := a.now()
	if ap := we.Status.Approval; ap != nil && ap.DecidedAt != nil {
		since = ap.DecidedAt.Time
	}
	return a.settle(ctx, wf, since)
}

// stop reads a deleted plan's Workflow and asks Argo's controller to stop it, as `argo stop`
// does (spec.shutdown Stop: no new step starts, the running one ends, the exit hook undoes the
// completed ones). It creates nothing: errWorkflowGone when the Workflow went first.
func (a *Argo) stop(ctx context.Context, _ *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (*wfv1.Workflow, error) {
	got := &wfv1.Workflow{}
	err := a.Client.Get(ctx, client.ObjectKeyFromObject(wf), got)
	switch {
	case apierrors.IsNotFound(err) || err == nil && got.DeletionTimestamp != nil:
		return nil, errWorkflowGone
	case err != nil:
		return nil, fmt.Errorf("reading Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	if got.Spec.Shutdown == "" && !got.Status.Phase.Completed() {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh := &wfv1.Workflow{}
			if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), fresh); err != nil {
				return err
			}
			if fresh.Spec.Shutdown != "" || fresh.Status.Phase.Completed() {
				return nil
			}
			fresh.Spec.Shutdown = wfv1.ShutdownStrategyStop
			return a.Client.Update(ctx, fresh, client.FieldOwner(FieldManager))
		})
		switch {
		case apierrors.IsNotFound(err):
			return nil, errWorkflowGone
		case err != nil:
			return nil, fmt.Errorf("stopping Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
		}
	}
	return got, packer.DecompressWorkflow(got)
}

// resume marks the approval gate Succeeded, as `argo resume` does, once the plan is approved.
func (a *Argo) resume(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := &wfv1.Workflow{}
		if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), got); err != nil {
			return err
		}
		compressed := got.Status.CompressedNodes != ""
		if err := packer.DecompressWorkflow(got); err != nil {
			return err
		}
		n := taskNode(got, got.Name, approveTask)
		if n == nil || !n.IsActiveSuspendNode() {
			return nil
		}
		who := "a person"
		if we.Status.Approval != nil {
			who = we.Status.Approval.DecidedBy
		}
		n.Phase = wfv1.NodeSucceeded
		n.Message = fmt.Sprintf("%s: plan %s approved by %s", kubernautResume, we.Status.Plan.Hash, who)
		n.FinishedAt = metav1.NewTime(a.now().UTC())
		got.Status.Nodes.Set(n.ID, *n)
		if compressed {
			if err := packer.CompressWorkflowIfNeeded(got); err != nil {
				return err
			}
		}
		return a.Client.Update(ctx, got, client.FieldOwner(FieldManager))
	})
}

func (a *Argo) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Advance creates the Workflow, resumes its gate once the plan is approved, and mirrors its
// nodes; for a deleted plan, it stops the Workflow instead (see stop).
func (a *Argo) Advance(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (Progress, error) {
	ensure := a.ensure
	if we.DeletionTimestamp != nil {
		ensure = a.stop
	}
	got, err := ensure(ctx, we, wf)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Workflow: &kubernautv1.WorkflowReference{Name: got.Name, Namespace: got.Namespace, UID: string(got.UID)}}
	switch n := taskNode(got, got.Name, approveTask); {
	case n != nil && n.IsActiveSuspendNode() && meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition):
		if err := a.resume(ctx, we, got); err != nil {
			return Progress{}, fmt.Errorf("resuming the approval gate of Workflow %s: %w", got.Name, err)
		}
		p.Recheck = a.recheck() // got is the copy before the resume: check that Argo acts on it
	case n != nil && n.Phase == wfv1.NodeSucceeded:
		since := n.FinishedAt.Time
		if since.IsZero() && we.Status.Approval != nil && we.Status.Approval.DecidedAt != nil {
			since = we.Status.Approval.DecidedAt.Time
		}
		if p.Recheck, p.Nudged, err = a.settle(ctx, got, since); err != nil {
			return Progress{}, err
		}
	}
	if a.UIBaseURL != "" && got.UID != "" {
		p.Workflow.UIURL = fmt.Sprintf("%s/workflows/%s/%s?uid=%s", strings.TrimRight(a.UIBaseURL, "/"), url.PathEscape(got.Namespace), url.PathEscape(got.Name), url.QueryEscape(string(got.UID)))
	}
	if got.Status.IsOffloadNodeStatus() && len(got.Status.Nodes) == 0 {
		p.Main = wfv1.NodeRunning
		p.Failures = []string{"the Workflow's nodes are offloaded to Argo's database; see the Argo UI"}
		return p, nil
	}
	p.Steps = a.stepMessages(ctx, we.Namespace, mirror(got, we, we.Spec.Steps, got.Name, ""))
	root := got.Status.Nodes.FindByName(got.Name)
	switch {
	case root != nil:
		p.Main = root.Phase
	case got.Status.Phase == wfv1.WorkflowError || got.Status.Phase == wfv1.WorkflowFailed:
		p.Main = wfv1.NodeError
		p.Failures = append(p.Failures, "the Workflow "+strings.ToLower(string(got.Status.Phase))+": "+got.Status.Message)
	default:
		p.Main = wfv1.NodeRunning
	}
	if p.Main == "" || p.Main == wfv1.NodePending {
		p.Main = wfv1.NodeRunning
	}
	for _, n := range got.Status.Nodes {
		if n.Phase.FailedOrError() && n.Type != wfv1.NodeTypeDAG && n.Type != wfv1.NodeTypeSteps {
			p.Failures = append(p.Failures, fmt.Sprintf("%s %s: %s", n.DisplayName, strings.ToLower(string(n.Phase)), n.Message))
		}
	}
	if !p.Main.Completed() {
		return p, nil
	}
	exitName := got.Name + ".onExit"
	exit := got.Status.Nodes.FindByName(exitName)
	if exit == nil {
		if got.Status.Phase.Completed() {
			p.Exit = wfv1.NodeSucceeded // no exit hook ran (none was due)
		}
		return p, nil
	}
	p.Exit = exit.Phase
	if !exit.Phase.Completed() && !got.Status.Phase.Completed() {
		p.Exit = wfv1.NodeRunning
	}
	for _, s := range a.stepMessages(ctx, we.Namespace, mirror(got, we, undoOrder(we.Spec.Steps), exitName, "undo-")) {
		if s.Phase != kubernautv1.StepSkipped && s.Phase != kubernautv1.StepOmitted && s.Phase != kubernautv1.StepPending {
			p.Compensation = append(p.Compensation, s)
		}
	}
	return p, nil
}

// stepMessages gives each ended step whose node says nothing (Argo's resource nodes end with
// no message) its KubernetesExecution's own ("deployment \"web\" successfully rolled out"), as
// the builtin engine's steps have, from the cache.
func (a *Argo) stepMessages(ctx context.Context, ns string, steps []kubernautv1.StepStatus) []kubernautv1.StepStatus {
	for i, st := range steps {
		if st.Message != "" || st.KubernetesExecutionRef == nil ||
			st.Phase != kubernautv1.StepSucceeded && st.Phase != kubernautv1.StepFailed && st.Phase != kubernautv1.StepError {
			continue
		}
		ke := &kubernautv1.KubernetesExecution{}
		if err := a.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: st.KubernetesExecutionRef.Name}, ke); err == nil {
			steps[i].Message = kubernautv1.Truncate(readyMessage(ke), 1024)
		}
	}
	return steps
}

// mirror reads the step nodes of one DAG (boundary is its node name).
func mirror(wf *wfv1.Workflow, we *kubernautv1.WorkflowExecution, steps []kubernautv1.PlanStep, boundary, prefix string) []kubernautv1.StepStatus {
	var out []kubernautv1.StepStatus
	for _, s := range steps {
		name := prefix + s.Name
		st := kubernautv1.StepStatus{Name: name, Action: s.Action, Phase: kubernautv1.StepPending}
		if n := taskNode(wf, boundary, name); n != nil {
			st.Phase = kubernautv1.StepPhase(n.Phase)
			if st.Phase == "" {
				st.Phase = kubernautv1.StepPending
			}
			st.Message = kubernautv1.Truncate(n.Message, 1024)
			st.NodeID = n.ID
			if !n.StartedAt.IsZero() {
				t := n.StartedAt
				st.StartedAt = &t
			}
			if !n.FinishedAt.IsZero() {
				t := n.FinishedAt
				st.FinishedAt = &t
			}
			if n.Type == wfv1.NodeTypePod || n.Type == wfv1.NodeTypeRetry {
				st.KubernetesExecutionRef = &kubernautv1.LocalReference{Name: we.Name + "-" + name}
			}
		}
		out = append(out, st)
	}
	return out
}
