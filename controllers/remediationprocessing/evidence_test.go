package remediationprocessing

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

const crashLog = "crashing on start: cannot reach postgres://app:s3cret@db\n"

// kubelet answers log reads as the real one (v1.37.2, measured on the real node) does for a
// container that crashes on start: it keeps one dead instance, so once the current instance
// has ended the one before it — what "previous" names then — is gone.
type kubelet struct {
	mu sync.Mutex
	// ended: the current instance has ended; broken: every read fails, as a kubelet that
	// cannot be reached; gone: every read is refused as of an instance it does not have.
	ended, broken, gone bool
	reads               []bool // previous, per read
	// failed runs after a failed read (the pod's status catching up).
	failed func()
}

func (k *kubelet) TailLog(_ context.Context, _, _, _ string, previous bool, _ int64) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads = append(k.reads, previous)
	var err error
	switch {
	case k.broken:
		err = apierrors.NewInternalError(errors.New("dial tcp 10.0.0.7:10250: connect: connection refused"))
	case k.gone:
		err = apierrors.NewBadRequest(`previous terminated container "app" in pod "web-1" not found`)
	case previous && k.ended:
		// As measured: its error as the log, and no error.
		if k.failed != nil {
			k.failed()
		}
		return "unable to retrieve container logs for containerd://dd1ba7a5b3\n", nil
	case !previous && !k.ended:
		return "serving\n", nil
	default:
		return crashLog, nil
	}
	if k.failed != nil {
		k.failed()
	}
	return "", err
}

func crashingPod(state corev1.ContainerState) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/web:2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 2, State: state,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://dd1ba7a5"}}}}}}
}

var (
	ended   = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", ContainerID: "containerd://d73ce311"}}
	waiting = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	running = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
)

// The log that tells a crash loop's story is the ended instance's: the current one when the
// kubelet reports it Terminated (its whole back-off), the previous one otherwise; a read made
// on a status the kubelet has since moved past is made again on the status read afresh.
func TestCrashLoopLogIsTheEndedInstances(t *testing.T) {
	target := kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: "shop", Name: "web-1"}
	for _, tc := range []struct {
		name    string
		status  corev1.ContainerState
		kubelet *kubelet
		// then is the pod's status once a read failed (nil: unchanged).
		then      *corev1.ContainerState
		wantReads []bool
		wantLog   bool
	}{
		{"terminated through its back-off: its own log", ended, &kubelet{ended: true}, nil, []bool{false}, true},
		{"waiting after a restart: the previous instance's", waiting, &kubelet{}, nil, []bool{true}, true},
		{"read running, ended since", running, &kubelet{ended: true}, &ended, []bool{true, false}, true},
		{"the kubelet cannot be reached: asked once", ended, &kubelet{ended: true, broken: true}, nil, []bool{false}, false},
		{"the kubelet never has the instance: asked three times", waiting, &kubelet{gone: true}, nil, []bool{true, true, true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := fake.NewClientBuilder().WithObjects(crashingPod(tc.status)).WithStatusSubresource(&corev1.Pod{}).Build()
			k := tc.kubelet
			if tc.then != nil {
				k.failed = func() {
					p := crashingPod(*tc.then)
					cur := &corev1.Pod{}
					if err := reader.Get(context.Background(), client.ObjectKeyFromObject(p), cur); err != nil {
						t.Error(err)
					}
					cur.Status = p.Status
					if err := reader.Status().Update(context.Background(), cur); err != nil {
						t.Error(err)
					}
				}
			}
			e := &Enricher{Reader: reader, Logs: k, LookupTimeout: time.Second, LogRetryDelay: time.Millisecond}
			got, err := e.Enrich(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			if len(k.reads) != len(tc.wantReads) || !equalBools(k.reads, tc.wantReads) {
				t.Errorf("reads (previous?) %v, want %v", k.reads, tc.wantReads)
			}
			failed := false
			for _, f := range got.FailedDetections {
				failed = failed || f.Detection == "logs"
			}
			if tc.wantLog {
				if len(got.Logs) != 1 || !got.Logs[0].Previous || !strings.Contains(got.Logs[0].Text, "postgres://app:[REDACTED]@db") || failed {
					t.Errorf("logs %+v, failed lookups %+v", got.Logs, got.FailedDetections)
				}
				return
			}
			if len(got.Logs) != 0 || !failed {
				t.Errorf("a log that cannot be read is a failed lookup, never nothing found: logs %+v, failed %+v", got.Logs, got.FailedDetections)
			}
		})
	}
}

func equalBools(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// A container that never started has no log: none is asked for, and none is a failed lookup.
func TestNoLogOfAContainerThatNeverStarted(t *testing.T) {
	pod := crashingPod(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}})
	pod.Status.ContainerStatuses[0].RestartCount = 0
	pod.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
	k := &kubelet{broken: true}
	e := &Enricher{Reader: fake.NewClientBuilder().WithObjects(pod).Build(), Logs: k, LookupTimeout: time.Second, LogRetryDelay: time.Millisecond}
	got, err := e.Enrich(context.Background(), kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: "shop", Name: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got.FailedDetections {
		if f.Detection == "logs" {
			t.Errorf("a failed lookup: %+v", f)
		}
	}
	if len(k.reads) != 0 || len(got.Logs) != 0 {
		t.Errorf("reads %v, logs %+v", k.reads, got.Logs)
	}
	if len(got.Pods) != 1 || got.Pods[0].Containers[0].Reason != "ImagePullBackOff" {
		t.Errorf("the waiting reason is not in the evidence: %+v", got.Pods)
	}
}
