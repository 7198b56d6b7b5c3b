package load

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// floorRounds is how many status patches the floor measurement sends per RemediationRequest.
const floorRounds = 10

// floorWorkers is how many patches are in flight at once: Kubernaut's controllers' default
// concurrency.
const floorWorkers = 16

// apiFloor measures what this machine's API server can do with nothing else to do, as a floor
// under the chain's numbers: with Kubernaut stopped, each finished RemediationRequest of the
// run gets floorRounds status patches (a merge patch of one condition's message, the shape of
// the controllers' own status writes) from floorWorkers workers, and the API server's CPU per
// patch and the patches per second are reported — from which follows the time the chain's
// heavyPer custom-resource writes and dry runs per remediation (the events, the Lease and the
// access reviews are lighter, and not counted) alone need for n remediations. Run with
// KUBERNAUT_LOAD_FLOOR=1 (`make load-floor`).
func (w *world) apiFloor(t *testing.T, k *cluster.Kubernaut, rrs []string, heavyPer float64) {
	t.Helper()
	if os.Getenv("KUBERNAUT_LOAD_FLOOR") == "" {
		return
	}
	k.Stop()
	cfg := rest.CopyConfig(w.c.Config)
	cfg.QPS = -1 // no client-side limit: the API server alone sets the pace
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	objs := make([]*kubernautv1.RemediationRequest, len(rrs))
	size, managed := 0, 0
	for i, name := range rrs {
		objs[i] = &kubernautv1.RemediationRequest{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: name}, objs[i]); err != nil {
			t.Fatal(err)
		}
		if len(objs[i].Status.Conditions) == 0 {
			t.Fatalf("RemediationRequest %s has no conditions to patch", name)
		}
		b, err := json.Marshal(objs[i])
		if err != nil {
			t.Fatal(err)
		}
		size += len(b)
		if b, err = json.Marshal(objs[i].ManagedFields); err == nil {
			managed += len(b)
		}
	}
	type job struct {
		i    int
		done *sync.WaitGroup
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	var managers []string
	for _, m := range objs[0].ManagedFields {
		managers = append(managers, fmt.Sprintf("%s %s %s (%d B)", m.Manager, m.Operation, m.Subresource, len(m.FieldsV1.Raw)))
	}
	t.Logf("floor: %s's field managers: %s", objs[0].Name, strings.Join(managers, "; "))
	profiled := w.profileAPIServer(t, ctx, os.Getenv("KUBERNAUT_LOAD_FLOOR_PROFILE"), 5)
	before := w.c.Usage()["kube-apiserver"].CPU
	start := time.Now()
	for range floorWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				rr := objs[j.i]
				orig := rr.DeepCopy()
				rr.Status.Conditions[0].Message = fmt.Sprintf("floor measurement, patch %d", time.Now().UnixNano())
				t0 := time.Now()
				err := c.Status().Patch(ctx, rr, client.MergeFrom(orig))
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("patching the status of %s: %w", rr.Name, err)
				}
				mu.Unlock()
				j.done.Done()
			}
		}()
	}
	// Each round patches every object once; an object is never patched twice at once.
	for range floorRounds {
		var round sync.WaitGroup
		round.Add(len(objs))
		for i := range objs {
			jobs <- job{i: i, done: &round}
		}
		round.Wait()
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	cpu := w.c.Usage()["kube-apiserver"].CPU - before
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if err := profiled(); err != nil {
		t.Error(err)
	}
	n := len(lat)
	p50, p95, p99, _ := quantiles(lat)
	perSec := float64(n) / elapsed.Seconds()
	t.Logf("RESULT floor n=%d: %d status patches of finished RemediationRequests (%.1f KB each, %.1f KB of it managedFields) by %d workers, nothing else running: %.0f patches/s, latency p50=%s p95=%s p99=%s; kube-apiserver CPU %.1f ms per patch",
		len(rrs), n, float64(size)/float64(len(rrs))/1024, float64(managed)/float64(len(rrs))/1024, floorWorkers, perSec, ms(p50), ms(p95), ms(p99), float64(cpu.Microseconds())/1000/float64(n))
	t.Logf("RESULT floor n=%d: at this rate the chain's %.1f custom-resource writes and dry runs per remediation alone take %.1f s for %d remediations; a 1 s p95 allows %.1f writes per remediation",
		len(rrs), heavyPer, heavyPer*float64(len(rrs))/perSec, len(rrs), perSec/float64(len(rrs)))
}

// profileAPIServer starts a CPU profile of the API server (/debug/pprof/profile, for seconds)
// written to path, when path is set; the returned function waits for it.
func (w *world) profileAPIServer(t *testing.T, ctx context.Context, path string, seconds int) func() error {
	t.Helper()
	if path == "" {
		return func() error { return nil }
	}
	cs, err := kubernetes.NewForConfig(w.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		b, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).DoRaw(ctx)
		if err != nil {
			done <- fmt.Errorf("profiling the API server: %w", err)
			return
		}
		done <- os.WriteFile(path, b, 0o644)
	}()
	return func() error { return <-done }
}
