package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// ClearCacheAnnotation is where a workload declares its cache-clearing command, as a JSON array
// of strings (`["redis-cli","FLUSHALL"]`). clear_cache runs that command and nothing else.
const ClearCacheAnnotation = "kubernaut.io/clear-cache-command"

// Execer runs a command in a container.
type Execer interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (stdout, stderr string, err error)
}

// APIExec runs commands through the API server's pods/exec (what `kubectl exec` does).
type APIExec struct {
	// Config is the client configuration.
	Config *rest.Config
	// Kube is the clientset built from it.
	Kube kubernetes.Interface
}

// Exec runs command in the container and returns its output.
func (e APIExec) Exec(ctx context.Context, namespace, pod, container string, command []string) (string, string, error) {
	req := e.Kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(e.Config, "POST", req.URL())
	if err != nil {
		return "", "", fmt.Errorf("exec in %s/%s: %w", namespace, pod, err)
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

// clearCache is clear_cache: the command the workload declares in its
// kubernaut.io/clear-cache-command annotation, run in the chosen container of every ready pod
// of the workload. Never an arbitrary command: a workload without the annotation is refused.
// The one action a retry repeats: the command runs again (clearing a cache twice is what
// clearing it once is).
type clearCache struct{ noInverse }

func init() { register(kubernautv1.ActionClearCache, clearCache{}) }

// declared returns the workload's command, its container and its ready pods.
func (clearCache) declared(ctx context.Context, env Env, step kubernautv1.ActionStep) ([]string, string, []corev1.Pod, error) {
	t := step.Target
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return nil, "", nil, err
	}
	raw, ok := obj.GetAnnotations()[ClearCacheAnnotation]
	if !ok {
		return nil, "", nil, refuse("metadata.annotations["+ClearCacheAnnotation+"]", "%s declares no cache-clearing command", t)
	}
	var cmd []string
	if err := json.Unmarshal([]byte(raw), &cmd); err != nil || len(cmd) == 0 {
		return nil, "", nil, refuse("metadata.annotations["+ClearCacheAnnotation+"]", "of %s must be a non-empty JSON array of strings, got %q", t, kubernautv1.Truncate(raw, 100))
	}
	tmpl := podTemplate(obj)
	container := tmpl.Spec.Containers[0].Name
	if p := params(step).ClearCache; p != nil && p.Container != "" {
		found := false
		for _, c := range tmpl.Spec.Containers {
			found = found || c.Name == p.Container
		}
		if !found {
			return nil, "", nil, refuse("spec.parameters.clearCache.container", "%s has no container %q", t, p.Container)
		}
		container = p.Container
	}
	sel, err := podSelector(obj)
	if err != nil {
		return nil, "", nil, err
	}
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(t.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, "", nil, fmt.Errorf("listing the pods of %s: %w", t, err)
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if podReady(&p) && p.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	return cmd, container, ready, nil
}

func (c clearCache) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	if _, _, _, err := c.declared(ctx, env, step); err != nil {
		return nil, err
	}
	return &kubernautv1.PreState{CapturedAt: metaNow(env)}, nil
}

func (c clearCache) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState, dryRun bool) (Change, error) {
	cmd, container, pods, err := c.declared(ctx, env, step)
	if err != nil {
		return Change{}, err
	}
	if len(pods) == 0 {
		return Change{}, refuse("spec.target", "%s has no ready pod to clear the cache of", step.Target)
	}
	if dryRun {
		return Change{Message: fmt.Sprintf("would run %q in container %s of %d pods", strings.Join(cmd, " "), container, len(pods)),
			Diff: fmt.Sprintf("exec %q in container %s of %d pods of %s\n", strings.Join(cmd, " "), container, len(pods), step.Target)}, nil
	}
	if env.Exec == nil {
		return Change{}, refuse("spec.action", "clear_cache needs exec, which this executor does not offer")
	}
	var objs []kubernautv1.ChangedObject
	for _, p := range pods {
		logChange(env, step, false, fmt.Sprintf("exec %q in %s/%s", strings.Join(cmd, " "), p.Name, container))
		if _, stderr, err := env.Exec.Exec(ctx, p.Namespace, p.Name, container, cmd); err != nil {
			return Change{Changed: objs}, fmt.Errorf("clearing the cache of pod %s/%s: %w (%s)", p.Namespace, p.Name, err, kubernautv1.Truncate(stderr, 256))
		}
		objs = append(objs, kubernautv1.ChangedObject{Target: kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: p.Namespace, Name: p.Name}, Change: "cache cleared"})
	}
	return Change{Message: fmt.Sprintf("cleared the cache of %d pods of %s", len(pods), step.Target), Changed: objs}, nil
}

func (clearCache) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	return rolledOut(ctx, env, step.Target)
}
