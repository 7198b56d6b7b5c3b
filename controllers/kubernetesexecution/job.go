package kubernetesexecution

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kubernaut/kubernaut/actions"
	"github.com/kubernaut/kubernaut/actions/runner"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
)

// Job runs each step in a Job of its own: the actions image, as the action's own
// ServiceAccount, under the restricted Pod Security profile, with resources, a deadline, no
// retries and a TTL. The result comes back through the container's termination message.
type Job struct {
	// Client creates the Jobs.
	Client client.Client
	// Reader reads the Jobs and their pods from the API server (no cache: no watch on them).
	Reader client.Reader
	// Image is the actions image.
	Image string
	// Namespace runs the Jobs; it holds the actions' ServiceAccounts.
	Namespace string
	// Resources of the action's container.
	Resources corev1.ResourceRequirements
	// Deadline bounds each Job (activeDeadlineSeconds).
	Deadline time.Duration
	// TTL deletes a finished Job after this long.
	TTL time.Duration
	// NodeSelector places the Jobs' pods.
	NodeSelector map[string]string
	// Tolerations let the Jobs' pods onto tainted nodes.
	Tolerations []corev1.Toleration
}

// container is the action container's name.
const container = "action"

// JobName is the Job of a step: derived from the step's UID and mode, so a retry finds it and
// a new step of the same name gets a new Job.
func JobName(ke *kubernautv1.KubernetesExecution) string {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s/%s/%s/%s", ke.Namespace, ke.Name, ke.UID, ke.Spec.Mode)
	return fmt.Sprintf("kubernaut-%s-%016x", ke.Spec.Action.DNSName(), h.Sum64())
}

// Build returns the step's Job.
func (j Job) Build(ke *kubernautv1.KubernetesExecution) (*batchv1.Job, error) {
	args, err := runner.Invocation{Mode: ke.Spec.Mode, Step: ke.Spec.ActionStep, PreState: ke.Status.PreState}.Args()
	if err != nil {
		return nil, err
	}
	deadline := int64(j.Deadline.Seconds())
	if deadline <= 0 {
		deadline = ke.Spec.TimeoutSeconds
	}
	if deadline <= 0 {
		deadline = 600
	}
	ttl := int32(j.TTL.Seconds())
	if ttl <= 0 {
		ttl = 3600
	}
	execLabel := ke.Name
	if len(execLabel) > 63 {
		execLabel = JobName(ke)[len("kubernaut-"):]
	}
	labels := map[string]string{"app.kubernetes.io/managed-by": "kubernaut", "app.kubernetes.io/component": "action",
		kubernautv1.LabelExecution: strings.Trim(execLabel, "-."), kubernautv1.LabelAction: ke.Spec.Action.DNSName()}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(ke), Namespace: j.Namespace, Labels: labels,
			Annotations: map[string]string{kubernautv1.LabelExecution: ke.Namespace + "/" + ke.Name}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0), ActiveDeadlineSeconds: &deadline, TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: catalog.ServiceAccountName(ke.Spec.Action), AutomountServiceAccountToken: ptr.To(true),
					RestartPolicy: corev1.RestartPolicyNever, NodeSelector: j.NodeSelector, Tolerations: j.Tolerations,
					SecurityContext: jobPodSecurity(),
					Containers: []corev1.Container{{
						Name: container, Image: j.Image, Args: args, Resources: j.Resources,
						TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						SecurityContext: actions.RestrictedContainer(),
					}},
				},
			},
		},
	}
	return job, nil
}

// jobPodSecurity is the restricted profile, as the actions image's distroless nonroot user.
func jobPodSecurity() *corev1.PodSecurityContext {
	sc := actions.RestrictedPod()
	sc.RunAsUser, sc.RunAsGroup = ptr.To[int64](65532), ptr.To[int64](65532)
	return sc
}

// Run creates the step's Job once, then reads its outcome.
// The env is the controller's: the Job's container makes its own.
func (j Job) Run(ctx context.Context, _ actions.Env, ke *kubernautv1.KubernetesExecution) (Outcome, error) {
	want, err := j.Build(ke)
	if err != nil {
		return Outcome{Done: true, Failure: err.Error()}, nil
	}
	job := &batchv1.Job{}
	err = j.Reader.Get(ctx, client.ObjectKeyFromObject(want), job)
	switch {
	case apierrors.IsNotFound(err):
		if ke.Namespace == want.Namespace {
			if err := controllerutil.SetControllerReference(ke, want, j.Client.Scheme()); err != nil {
				return Outcome{}, fmt.Errorf("owning Job %s: %w", want.Name, err)
			}
		}
		if err := j.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
				return Outcome{Done: true, Failure: fmt.Sprintf("the API server refused the action's Job %s/%s: %v", want.Namespace, want.Name, err)}, nil
			}
			return Outcome{}, fmt.Errorf("creating Job %s/%s: %w", want.Namespace, want.Name, err)
		}
		ke.Status.JobRef = &kubernautv1.JobReference{Name: want.Name, Namespace: want.Namespace}
		return Outcome{}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("reading Job %s/%s: %w", want.Namespace, want.Name, err)
	}
	ke.Status.JobRef = &kubernautv1.JobReference{Name: job.Name, Namespace: job.Namespace}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return j.result(ctx, job, "")
		case batchv1.JobFailed:
			return j.result(ctx, job, failureReason(job, c))
		}
	}
	return Outcome{}, nil
}

// failureReason says why a Job failed, in words an operator acts on.
func failureReason(job *batchv1.Job, c batchv1.JobCondition) string {
	switch c.Reason {
	case batchv1.JobReasonDeadlineExceeded:
		return fmt.Sprintf("the action's Job %s ran past its deadline of %ds and was stopped", job.Name, ptr.Deref(job.Spec.ActiveDeadlineSeconds, 0))
	case batchv1.JobReasonBackoffLimitExceeded:
		return fmt.Sprintf("the action's container in Job %s failed", job.Name)
	}
	return fmt.Sprintf("the action's Job %s failed: %s: %s", job.Name, c.Reason, c.Message)
}

// result reads the action's JSON result from its pod's termination message.
func (j Job) result(ctx context.Context, job *batchv1.Job, failure string) (Outcome, error) {
	var pods corev1.PodList
	if err := j.Reader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return Outcome{}, fmt.Errorf("listing the pods of Job %s: %w", job.Name, err)
	}
	var term *corev1.ContainerStateTerminated
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == container && cs.State.Terminated != nil {
				term = cs.State.Terminated
			}
		}
	}
	switch {
	case term == nil && failure != "":
		return Outcome{Done: true, Failure: failure}, nil
	case term == nil:
		return Outcome{Done: true, Failure: fmt.Sprintf("Job %s completed but its pod reported no result", job.Name)}, nil
	case term.Message == "":
		return Outcome{Done: true, Failure: strings.TrimPrefix(failure+"; ", "; ") +
			fmt.Sprintf("the action's container exited %d (%s) without a result", term.ExitCode, term.Reason)}, nil
	}
	res, err := runner.Decode(term.Message)
	if err != nil {
		return Outcome{Done: true, Failure: fmt.Sprintf("%s (exit %d, %s)", err, term.ExitCode, term.Reason)}, nil
	}
	out := Outcome{Done: true, Change: actions.Change{Message: res.Message, Changed: res.Changed}}
	if !res.Success || failure != "" {
		out.Failure = res.Message
		if failure != "" {
			out.Failure = failure + ": " + res.Message
		}
	}
	return out, nil
}
