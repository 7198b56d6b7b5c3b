package actions

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// customScript is custom_script: an allow-listed image run in a Job of its own, under the
// restricted Pod Security profile, with no ServiceAccount token, in the actions' own
// namespace (Env.ScriptNamespace; the target's name is in its environment). Off unless the
// operator lists images (Env.CustomScriptImages).
type customScript struct{ noInverse }

func init() { register(kubernautv1.ActionCustomScript, customScript{}) }

func (customScript) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	p := params(step).CustomScript
	if p == nil {
		return nil, refuse("spec.parameters.customScript", "is required")
	}
	if len(env.CustomScriptImages) == 0 {
		return nil, refuse("spec.action", "custom_script is off: the operator allows no image")
	}
	if !slices.Contains(env.CustomScriptImages, p.Image) {
		return nil, refuse("spec.parameters.customScript.image", "image %q is not on the allow-list", p.Image)
	}
	if env.ScriptNamespace == "" {
		return nil, refuse("spec.action", "custom_script is off: no namespace to run scripts in")
	}
	obj, err := getWorkload(ctx, env, step.Target)
	if err != nil {
		return nil, err
	}
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: obj.GetResourceVersion()}, nil
}

// jobName is the script's Job: named from the step and its capture time, so a retry finds it.
func jobName(step kubernautv1.ActionStep, pre *kubernautv1.PreState) string {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s/%s/%d", step.Target, params(step).CustomScript.Image, pre.CapturedAt.Unix())
	return fmt.Sprintf("kubernaut-script-%08x", h.Sum32())
}

func (customScript) job(env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) *batchv1.Job {
	p := params(step).CustomScript
	timeout := p.TimeoutSeconds
	if timeout <= 0 {
		timeout = 300
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName(step, pre), Namespace: env.ScriptNamespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubernaut", kubernautv1.LabelAction: string(step.Action)}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0), ActiveDeadlineSeconds: &timeout, TTLSecondsAfterFinished: ptr.To[int32](3600),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
				SecurityContext: RestrictedPod(),
				Containers: []corev1.Container{{Name: "script", Image: p.Image, Args: p.Args, SecurityContext: RestrictedContainer(),
					Resources: ScriptResources,
					Env:       []corev1.EnvVar{{Name: "KUBERNAUT_TARGET", Value: step.Target.String()}}}},
			}},
		},
	}
}

func (c customScript) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if env.ScriptNamespace == "" {
		return Change{}, refuse("spec.action", "custom_script is off: no namespace to run scripts in")
	}
	job := c.job(env, step, pre)
	logChange(env, step, dryRun, "job "+job.Name+" image "+params(step).CustomScript.Image)
	opts := []client.CreateOption{client.FieldOwner(FieldManager)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := env.Client.Create(ctx, job, opts...); err != nil && !apierrors.IsAlreadyExists(err) {
		return Change{}, fmt.Errorf("creating Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return Change{Message: fmt.Sprintf("started Job %s/%s running %s", job.Namespace, job.Name, params(step).CustomScript.Image),
		Changed: []kubernautv1.ChangedObject{{Target: step.Target, Change: "script Job " + job.Name}},
		Diff:    fmt.Sprintf("+++ Job %s/%s (created)\n+ image: %s\n+ args: %q\n", job.Namespace, job.Name, params(step).CustomScript.Image, params(step).CustomScript.Args)}, nil
}

// Verify waits for the script's Job to complete.
func (customScript) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	job := &batchv1.Job{}
	t := kubernautv1.Target{Kind: "Job", Namespace: env.ScriptNamespace, Name: jobName(step, pre)}
	if err := env.Client.Get(ctx, key(t), job); err != nil {
		return Check{}, fmt.Errorf("reading Job %s: %w", t.Name, err)
	}
	for _, c := range job.Status.Conditions {
		switch {
		case c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue:
			return Check{Done: true, Passed: true, Message: "the script's Job " + job.Name + " completed"}, nil
		case c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue:
			return Check{Done: true, Message: fmt.Sprintf("the script's Job %s failed: %s: %s", job.Name, c.Reason, c.Message)}, nil
		}
	}
	return Check{Message: "the script's Job " + job.Name + " is running"}, nil
}

// ScriptResources bound a custom script's container: a script runs beside the workload it
// fixes and must not starve it (or the node).
var ScriptResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	// No ephemeral-storage limit: the root file system is read-only and no volume is mounted,
	// and a limit would make the request equal to it, which a node reporting no
	// ephemeral-storage (kwok's) could never schedule.
	Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
}

// RestrictedPod and RestrictedContainer are the restricted Pod Security profile, for the pods
// Kubernaut runs (custom scripts, the job executor's actions).
func RestrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func RestrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true), Privileged: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
