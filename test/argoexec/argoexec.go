// Package argoexec plays the part of Argo's executor (argoexec) for `resource` templates on a
// cluster whose pods nothing runs (kwok): for each pod Argo's workflow-controller creates, it
// creates the template's manifest (owned by the Workflow when setOwnerReference is set), waits
// for the failure or the success condition with Argo's semantics, reports the
// WorkflowTaskResult with the outputs, and completes the pod as a kubelet would, Succeeded or
// Failed with the executor's message. Reference §3a describes what it imitates.
package argoexec

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
)

// Argo's names (workflow/common).
const (
	labelWorkflow         = "workflows.argoproj.io/workflow"
	labelCompleted        = "workflows.argoproj.io/completed"
	labelOutputsCompleted = "workflows.argoproj.io/report-outputs-completed"
	annotationNodeID      = "workflows.argoproj.io/node-id"
	envTemplate           = "ARGO_TEMPLATE"
)

// Executor runs the resource templates of the pods of one namespace.
type Executor struct {
	// Client acts with the admin's rights (the Workflow's ServiceAccount's, in a real cluster).
	Client client.Client
	// Namespace holds the Workflows.
	Namespace string
	// Interval is how often pods and conditions are looked at (Argo's
	// RESOURCE_STATE_CHECK_INTERVAL is 5s by default).
	Interval time.Duration

	mu      sync.Mutex
	handled map[string]bool
	// Created counts the manifests created, by name: a resource created twice would be a bug.
	Created map[string]int
}

// Run works until ctx ends.
func (e *Executor) Run(ctx context.Context) {
	e.mu.Lock()
	if e.handled == nil {
		e.handled, e.Created = map[string]bool{}, map[string]int{}
	}
	e.mu.Unlock()
	_ = wait.PollUntilContextCancel(ctx, e.Interval, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := e.Client.List(ctx, &pods, client.InNamespace(e.Namespace), client.HasLabels{labelWorkflow}); err != nil {
			return false, nil
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
				continue
			}
			if err := e.step(ctx, p); err != nil {
				// Transient: the next poll tries again, as argoexec retries.
				continue
			}
		}
		return false, nil
	})
}

// CreatedCount returns how often a manifest of that name was created.
func (e *Executor) CreatedCount(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Created[name]
}

func template(p *corev1.Pod) (*wfv1.Template, error) {
	// Argo's controller gives the template to the init container (and offloads it to a
	// ConfigMap when it is too large for an environment variable: not with these templates).
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, env := range c.Env {
			if env.Name == envTemplate {
				var t wfv1.Template
				if err := json.Unmarshal([]byte(env.Value), &t); err != nil {
					return nil, fmt.Errorf("pod %s: %s is not a template: %w", p.Name, envTemplate, err)
				}
				return &t, nil
			}
		}
	}
	return nil, fmt.Errorf("pod %s has no %s", p.Name, envTemplate)
}

// step moves one pod on: create the manifest once, then check the conditions.
func (e *Executor) step(ctx context.Context, p *corev1.Pod) error {
	tmpl, err := template(p)
	if err != nil {
		return e.finish(ctx, p, nil, err.Error())
	}
	if tmpl.Resource == nil {
		return e.finish(ctx, p, nil, "") // nothing else runs in pods here
	}
	wf := &wfv1.Workflow{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Labels[labelWorkflow]}, wf); err != nil {
		return err
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(tmpl.Resource.Manifest), &obj.Object); err != nil {
		return e.finish(ctx, p, nil, "the manifest is not YAML: "+err.Error())
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(p.Namespace)
	}
	key := string(p.UID)
	e.mu.Lock()
	done := e.handled[key]
	e.mu.Unlock()
	if !done {
		if tmpl.Resource.Action != "create" {
			return e.finish(ctx, p, nil, "the stand-in runs create only, not "+tmpl.Resource.Action)
		}
		if tmpl.Resource.SetOwnerReference {
			t := true
			obj.SetOwnerReferences(append(obj.GetOwnerReferences(), metav1.OwnerReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Workflow",
				Name: wf.Name, UID: wf.UID, Controller: &t, BlockOwnerDeletion: &t}))
		}
		err := e.Client.Create(ctx, obj.DeepCopy())
		switch {
		case err == nil:
			e.mu.Lock()
			e.Created[obj.GetName()]++
			e.mu.Unlock()
		case apierrors.IsAlreadyExists(err):
			// Created by this pod before a restart of the stand-in.
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err):
			return e.finish(ctx, p, nil, "Error from server: "+err.Error())
		default:
			return err
		}
		e.mu.Lock()
		e.handled[key] = true
		e.mu.Unlock()
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(obj.GroupVersionKind())
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		if apierrors.IsNotFound(err) {
			return e.finish(ctx, p, nil, "The resource has been deleted while its status was still being checked. Will not be retried")
		}
		return err
	}
	raw, err := json.Marshal(got.Object)
	if err != nil {
		return err
	}
	state, msg, err := workflowexecution.ResourceConditions(tmpl.Resource, raw)
	if err != nil {
		return e.finish(ctx, p, nil, err.Error())
	}
	switch state {
	case workflowexecution.ConditionFailed:
		return e.finish(ctx, p, nil, msg)
	case workflowexecution.ConditionPending:
		return nil
	}
	outputs := &wfv1.Outputs{}
	for _, o := range tmpl.Outputs.Parameters {
		if o.ValueFrom == nil || o.ValueFrom.JSONPath == "" {
			continue
		}
		v, err := jsonPath(got, o.ValueFrom.JSONPath)
		if err != nil {
			return e.finish(ctx, p, nil, err.Error())
		}
		outputs.Parameters = append(outputs.Parameters, wfv1.Parameter{Name: o.Name, Value: wfv1.AnyStringPtr(v)})
	}
	return e.finish(ctx, p, outputs, "")
}

// jsonPath evaluates the simple {.a.b} paths the templates use.
func jsonPath(obj *unstructured.Unstructured, path string) (string, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(path, "{."), "}")
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, strings.Split(p, ".")...)
	if err != nil || !found {
		return "", fmt.Errorf("jsonPath %s not found on %s", path, obj.GetName())
	}
	return fmt.Sprint(v), nil
}

// finish reports the task result and completes the pod, Succeeded without a failure message,
// Failed with it.
func (e *Executor) finish(ctx context.Context, p *corev1.Pod, outputs *wfv1.Outputs, failure string) error {
	wf := &wfv1.Workflow{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Labels[labelWorkflow]}, wf); err != nil {
		return err
	}
	nodeID := p.Annotations[annotationNodeID]
	tr := &wfv1.WorkflowTaskResult{
		ObjectMeta: metav1.ObjectMeta{Name: nodeID, Namespace: p.Namespace,
			Labels:          map[string]string{labelWorkflow: wf.Name, labelOutputsCompleted: "true"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Workflow", Name: wf.Name, UID: wf.UID}}},
		NodeResult: wfv1.NodeResult{Outputs: outputs},
	}
	if failure != "" {
		tr.NodeResult.Phase, tr.NodeResult.Message = wfv1.NodeFailed, failure
	} else {
		tr.NodeResult.Phase = wfv1.NodeSucceeded
	}
	if err := e.Client.Create(ctx, tr); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("reporting the result of node %s: %w", nodeID, err)
	}
	now := metav1.Now()
	code, reason, phase := int32(0), "Completed", corev1.PodSucceeded
	if failure != "" {
		code, reason, phase = 1, "Error", corev1.PodFailed
	}
	var statuses []corev1.ContainerStatus
	for _, c := range p.Spec.Containers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}}
		if c.Name == "main" {
			st.State.Terminated.ExitCode, st.State.Terminated.Reason, st.State.Terminated.Message = code, reason, failure
		}
		statuses = append(statuses, st)
	}
	pod := p.DeepCopy()
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = statuses
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now}}
	if err := e.Client.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("completing pod %s: %w", p.Name, err)
	}
	return nil
}
