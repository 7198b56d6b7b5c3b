package remediationprocessing

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// pods records the workload's pods (or the target pod, the node's pods, or the pods behind
// the Service).
func (b *enrichment) pods(ctx context.Context) {
	var pods []corev1.Pod
	switch svcSel := b.serviceSelector(); {
	case svcSel != nil:
		pods = b.servicePods(ctx, svcSel)
	case b.sel != nil:
		var list corev1.PodList
		if err := b.list(ctx, &list, client.InNamespace(b.wl.GetNamespace()), client.MatchingLabelsSelector{Selector: b.sel}); err != nil {
			b.fail("pods", fmt.Errorf("listing the pods of %s: %w", b.out.Workload.Target, err))
		} else {
			pods = list.Items
		}
	case b.nodeObj != nil:
		var list corev1.PodList
		if err := b.list(ctx, &list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", b.nodeObj.Name)}); err != nil {
			b.fail("pods", fmt.Errorf("listing the pods of node %s: %w", b.nodeObj.Name, err))
		} else {
			pods = list.Items
		}
	}
	if b.pod != nil {
		found := false
		for _, p := range pods {
			found = found || p.Name == b.pod.Name
		}
		if !found {
			pods = append([]corev1.Pod{*b.pod}, pods...)
		}
	}
	// The target pod and the failing pods first, so the bound keeps them.
	sort.SliceStable(pods, func(i, j int) bool { return podRank(b.pod, &pods[i]) < podRank(b.pod, &pods[j]) })
	for i := range pods {
		if len(b.out.Pods) == maxPods {
			break
		}
		b.out.Pods = append(b.out.Pods, podState(&pods[i]))
	}
}

func podRank(target, p *corev1.Pod) int {
	switch {
	case target != nil && p.Name == target.Name:
		return 0
	case !podReady(p):
		return 1
	}
	return 2
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podState(p *corev1.Pod) kubernautv1.PodState {
	s := kubernautv1.PodState{Name: p.Name, Phase: string(p.Status.Phase), Ready: podReady(p), NodeName: p.Spec.NodeName, Reason: p.Status.Reason}
	if p.Status.StartTime != nil {
		t := *p.Status.StartTime
		s.StartedAt = &t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && s.Reason == "" {
			s.Reason = c.Reason
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if len(s.Containers) == maxPodContainers {
			break
		}
		c := kubernautv1.ContainerState{Name: cs.Name, Ready: cs.Ready, RestartCount: cs.RestartCount, State: "Unknown"}
		switch {
		case cs.State.Running != nil:
			c.State = "Running"
		case cs.State.Waiting != nil:
			c.State, c.Reason = "Waiting", cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			c.State, c.Reason = "Terminated", cs.State.Terminated.Reason
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			c.LastTerminationReason = t.Reason
			code := t.ExitCode
			c.LastTerminationExitCode = &code
			if !t.FinishedAt.IsZero() {
				f := t.FinishedAt
				c.LastTerminatedAt = &f
			}
		}
		s.Containers = append(s.Containers, c)
	}
	return s
}
