package workflowexecution

import (
	"context"
	"errors"
	"fmt"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/packer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// ensure reads the WorkflowExecution's Workflow (from the cache: the Workflows are watched),
// creating it, owned by the WorkflowExecution, when it does not exist, once the templates it
// references are checked. A referencing Workflow that Argo failed because its informer had not
// seen the plan's WorkflowTemplate yet is created again (see templateUnseen).
func (a *Argo) ensure(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (*wfv1.Workflow, error) {
	got := &wfv1.Workflow{}
	err := a.Client.Get(ctx, client.ObjectKeyFromObject(wf), got)
	if apierrors.IsNotFound(err) {
		created, exists, err := a.create(ctx, we, wf)
		if !exists {
			return created, err
		}
		// Created meanwhile, and not in the cache yet.
		err = a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), got)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	if err := samePlan("Workflow", got, we, wf.Annotations[planHashAnnotation]); err != nil {
		return nil, err
	}
	if a.templateUnseen(got) {
		return a.recreate(ctx, we, wf, got)
	}
	return got, packer.DecompressWorkflow(got)
}

// create creates the Workflow (and, by reference, its WorkflowTemplate); exists reports that
// a Workflow of that name was there already.
func (a *Argo) create(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) (_ *wfv1.Workflow, exists bool, _ error) {
	if err := a.checkTemplates(ctx); err != nil {
		return nil, false, err
	}
	if err := a.ensureSemaphores(ctx, wf); err != nil {
		return nil, false, err
	}
	create := wf.DeepCopy()
	create.Status = wfv1.WorkflowStatus{}
	if a.Reference {
		if err := a.ensureTemplate(ctx, we, wf); err != nil {
			return nil, false, err
		}
		create.Spec = wfv1.WorkflowSpec{WorkflowTemplateRef: &wfv1.WorkflowTemplateRef{Name: wf.Name}}
	}
	if err := controllerutil.SetControllerReference(we, create, a.Client.Scheme()); err != nil {
		return nil, false, fmt.Errorf("owning Workflow %s: %w", wf.Name, err)
	}
	err := a.Client.Create(ctx, create, client.FieldOwner(FieldManager))
	switch {
	case err == nil:
		return create, false, nil
	case apierrors.IsAlreadyExists(err):
		return nil, true, nil
	default:
		return nil, false, fmt.Errorf("creating Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
	}
}

// templateUnseenGrace is how long after the plan's WorkflowTemplate was created a Workflow
// that Argo failed for not finding it is created again; past it, the plan fails.
const templateUnseenGrace = time.Minute

// templateUnseen tells a referencing Workflow that Argo's controller failed before running
// anything because its informer had not seen the WorkflowTemplate yet: Argo reads
// workflowTemplateRef from its cache and ends the Workflow in Error at once when the template
// is missing there, without a retry (argoproj/argo-workflows#14615), which a Workflow
// created right after its template can meet.
func (a *Argo) templateUnseen(wf *wfv1.Workflow) bool {
	return a.Reference && wf.Status.Phase == wfv1.WorkflowError && len(wf.Status.Nodes) == 0 && wf.Status.CompressedNodes == "" &&
		wf.Status.Message == fmt.Sprintf("workflowtemplates.argoproj.io %q not found", wf.Name)
}

// recreate deletes a Workflow Argo failed before it ran anything (templateUnseen) and creates
// it again, while the plan's WorkflowTemplate is there and younger than templateUnseenGrace;
// nothing ran, so nothing runs twice.
func (a *Argo) recreate(ctx context.Context, we *kubernautv1.WorkflowExecution, wf, failed *wfv1.Workflow) (*wfv1.Workflow, error) {
	tmpl := &wfv1.WorkflowTemplate{}
	err := a.Reader.Get(ctx, client.ObjectKeyFromObject(wf), tmpl)
	switch {
	case apierrors.IsNotFound(err):
		return nil, failPlan("Argo failed Workflow %s/%s (%s) and its WorkflowTemplate is gone", wf.Namespace, wf.Name, failed.Status.Message)
	case err != nil:
		return nil, fmt.Errorf("reading WorkflowTemplate %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	if err := samePlan("WorkflowTemplate", tmpl, we, wf.Annotations[planHashAnnotation]); err != nil {
		return nil, err
	}
	if age := a.now().Sub(tmpl.CreationTimestamp.Time); age > templateUnseenGrace {
		return nil, failPlan("Argo's workflow-controller still does not see WorkflowTemplate %s/%s %s after it was created (Workflow %s: %s): may its ServiceAccount list and watch workflowtemplates in %s?",
			wf.Namespace, wf.Name, age.Round(time.Second), wf.Name, failed.Status.Message, wf.Namespace)
	}
	err = a.Client.Delete(ctx, failed, client.Preconditions{UID: &failed.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	switch {
	case apierrors.IsConflict(err):
		// Another UID under the name: the cache still had the failed one, created again already.
		return nil, errRecreated
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("deleting Workflow %s/%s, which Argo failed before its WorkflowTemplate reached its cache: %w", wf.Namespace, wf.Name, err)
	}
	log.FromContext(ctx).Info("Argo failed the Workflow before its cache had the plan's WorkflowTemplate; creating the Workflow again",
		"workflow", wf.Namespace+"/"+wf.Name, "failedUID", failed.UID, "message", failed.Status.Message)
	created, exists, err := a.create(ctx, we, wf)
	if exists {
		return nil, errRecreated // still terminating, or created meanwhile
	}
	return created, err
}

// errRecreated asks for another reconcile when the Workflow under the plan's name is not the
// one the cache shows yet.
var errRecreated = errors.New("the Workflow is being created again; reading it on the next reconcile")

// ensureTemplate creates the WorkflowTemplate a referencing Workflow runs: the compiled spec,
// owned by the WorkflowExecution, with the plan hash; one left by another plan is refused.
func (a *Argo) ensureTemplate(ctx context.Context, we *kubernautv1.WorkflowExecution, wf *wfv1.Workflow) error {
	tmpl := &wfv1.WorkflowTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: wf.Namespace, Name: wf.Name, Labels: wf.Labels, Annotations: wf.Annotations},
		Spec:       *wf.Spec.DeepCopy(),
	}
	if err := controllerutil.SetControllerReference(we, tmpl, a.Client.Scheme()); err != nil {
		return fmt.Errorf("owning WorkflowTemplate %s: %w", wf.Name, err)
	}
	err := a.Client.Create(ctx, tmpl, client.FieldOwner(FieldManager))
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating WorkflowTemplate %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	got := &wfv1.WorkflowTemplate{}
	if err := a.Reader.Get(ctx, client.ObjectKeyFromObject(tmpl), got); err != nil {
		return fmt.Errorf("reading WorkflowTemplate %s/%s: %w", wf.Namespace, wf.Name, err)
	}
	return samePlan("WorkflowTemplate", got, we, wf.Annotations[planHashAnnotation])
}

// samePlan refuses an object found under the plan's name that another plan (or owner) left:
// it is never adopted, and the plan fails saying what to delete.
func samePlan(kind string, got metav1.Object, we *kubernautv1.WorkflowExecution, want string) error {
	if h := got.GetAnnotations()[planHashAnnotation]; h != want || !metav1.IsControlledBy(got, we) {
		return failPlan("%s %s/%s is not this plan's (it carries plan %q, owned by %v): delete it to run plan %s",
			kind, got.GetNamespace(), got.GetName(), h, got.GetOwnerReferences(), want)
	}
	return nil
}
