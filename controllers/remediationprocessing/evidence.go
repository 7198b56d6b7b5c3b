package remediationprocessing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/redact"
)

// events records recent Warning events about the target, its workload and failing pods.
func (b *enrichment) events(ctx context.Context) {
	type ref struct{ ns, kind, name string }
	refs := []ref{{b.target.Namespace, string(b.target.Kind), b.target.Name}}
	if w := b.out.Workload; w != nil {
		refs = append(refs, ref{w.Target.Namespace, string(w.Target.Kind), w.Target.Name})
	}
	for _, p := range b.out.Pods {
		if !p.Ready && len(refs) < 8 && (b.pod == nil || p.Name != b.pod.Name) {
			refs = append(refs, ref{b.target.Namespace, "Pod", p.Name})
		}
	}
	var all []corev1.Event
	for _, r := range refs {
		var list corev1.EventList
		sel := fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", r.name),
			fields.OneTermEqualSelector("involvedObject.kind", r.kind),
			fields.OneTermEqualSelector("type", corev1.EventTypeWarning))
		opts := []client.ListOption{client.MatchingFieldsSelector{Selector: sel}}
		if r.ns != "" {
			opts = append(opts, client.InNamespace(r.ns))
		}
		if err := b.list(ctx, &list, opts...); err != nil {
			b.fail("events", fmt.Errorf("listing events of %s %s: %w", r.kind, r.name, err))
			continue
		}
		all = append(all, list.Items...)
	}
	sort.SliceStable(all, func(i, j int) bool { return eventTime(&all[i]).After(eventTime(&all[j])) })
	for i := range all {
		if len(b.out.Events) == maxEvents {
			break
		}
		ev := &all[i]
		msg, _ := redact.String(ev.Message)
		t := metav1.NewTime(eventTime(ev))
		count := ev.Count
		if ev.Series != nil {
			count = ev.Series.Count
		}
		b.out.Events = append(b.out.Events, kubernautv1.EventSummary{
			Type: ev.Type, Reason: kubernautv1.Truncate(ev.Reason, 128), Message: kubernautv1.Truncate(msg, maxMessage),
			Object: kubernautv1.Truncate(ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name, 320), Count: count, LastSeen: &t,
		})
	}
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil:
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// logs records the log tails of failing containers (the previous instance when restarted).
func (b *enrichment) logs(ctx context.Context) {
	for _, p := range b.out.Pods {
		for _, c := range p.Containers {
			if len(b.out.Logs) == maxLogs {
				return
			}
			if c.RestartCount == 0 && (c.Ready || c.State == "Waiting") {
				// Healthy, or never started (pulling its image, waiting for a volume or a
				// Secret): no log tells more than its waiting reason, which the pod's state
				// has. Asking cost a failed read, two more and 1.5 s of the remediation.
				continue
			}
			if b.e.Logs == nil {
				b.fail("logs", errors.New("no log reader configured"))
				return
			}
			text, previous, err := b.tailLog(ctx, p.Name, c)
			if err != nil {
				b.fail("logs", fmt.Errorf("reading the log of %s/%s: %w", p.Name, c.Name, err))
				continue
			}
			if len(text) > maxLogBytes {
				text = text[len(text)-maxLogBytes:]
			}
			text, n := redact.String(text)
			b.out.Logs = append(b.out.Logs, kubernautv1.LogTail{Pod: p.Name, Container: c.Name, Previous: previous,
				Text: kubernautv1.Truncate(text, maxLogBytes), Redactions: int32(n)})
		}
	}
}

// kubeletLogError is the whole of what the kubelet streams, as a log, when the container
// instance it was asked for is gone.
var kubeletLogError = regexp.MustCompile(`^unable to retrieve container logs for \S+\s*$`)

// wrongInstance reports whether a failed log read asked for an instance the kubelet no longer
// (or does not yet) have — its error streamed as the log, or its 400 ("previous terminated
// container … not found") — which the container's state read afresh may name right. A
// kubelet or API server that cannot serve logs at all (5xx, refused, forbidden, timed out)
// answers the same again: asking twice more only held a processing worker for 1.5 s
// (`make load LOAD_N=100`: 1.45 s per processing reconcile, 6.9 s queued on average).
func wrongInstance(err error) bool {
	return errors.Is(err, errKubeletLog) || apierrors.IsBadRequest(err)
}

// errKubeletLog marks the kubelet's error streamed as a log.
var errKubeletLog = errors.New("the kubelet streamed its error as the log")

// tailLog reads the log tail that tells what happened to a container, and says whether it is of
// an instance that ended. That is the previous instance of one running or waiting after a
// restart — but of one whose current instance has ended, that instance itself: the kubelet
// (v1.37) reports a crash-looping container Terminated through its whole back-off, names the
// instance before it "last terminated", and has already deleted that one (it keeps one dead
// instance per container): asking for "previous" then fails for the whole back-off — 10 s
// after the first restart, 20 s after the second… — which is when an alert about the crash
// arrives — and the kubelet then streams its error as the log, with 200. A read that fails
// anyway on an instance the kubelet has moved past (between two syncs of the pod) is asked
// again, twice at most, after reading the container's state afresh.
func (b *enrichment) tailLog(ctx context.Context, pod string, c kubernautv1.ContainerState) (string, bool, error) {
	delay := b.e.LogRetryDelay
	if delay <= 0 {
		delay = 500 * time.Millisecond
	}
	for attempt := 1; ; attempt++ {
		ended := c.State == "Terminated"
		previous := c.RestartCount > 0 && !ended
		lctx, cancel := context.WithTimeout(ctx, b.e.LookupTimeout)
		text, err := b.e.Logs.TailLog(lctx, b.target.Namespace, pod, c.Name, previous, logTailLines)
		cancel()
		if err == nil && kubeletLogError.MatchString(text) {
			// The kubelet answers a log it cannot find with its error as the log, and 200.
			err = fmt.Errorf("%w: %s", errKubeletLog, strings.TrimSpace(text))
		}
		if err == nil || attempt == 3 || !wrongInstance(err) {
			return text, previous || ended, err
		}
		select {
		case <-ctx.Done():
			return "", false, errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt) * delay):
		}
		fresh := &corev1.Pod{}
		if gerr := b.get(ctx, client.ObjectKey{Namespace: b.target.Namespace, Name: pod}, fresh); gerr != nil {
			return "", false, errors.Join(err, gerr)
		}
		for _, now := range podState(fresh).Containers {
			if now.Name == c.Name {
				c = now
			}
		}
	}
}
