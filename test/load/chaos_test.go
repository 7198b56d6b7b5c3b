package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/scenario"
)

// TestChaos breaks the chain while it works (`make chaos`, KUBERNAUT_CHAOS=1): Kubernaut killed
// (SIGKILL) at random points of a run of remediations and restarted; the API server stopped and
// started again while alerts arrive; two replicas with leader election, the leader killed.
// Asserted: every alert became one remediation that ended exactly once, Completed, and each
// Deployment was written once (no action ran twice); the gateway answered 503 while the API
// server was away and no alert was lost. Reported: kills, outage times, failover times.
func TestChaos(t *testing.T) {
	if os.Getenv("KUBERNAUT_CHAOS") == "" {
		t.Skip("the fault tests run with KUBERNAUT_CHAOS=1 (make chaos)")
	}
	t.Run("KillController", chaosKill)
	t.Run("RestartAPIServer", chaosAPIServer)
	t.Run("Failover", chaosFailover)
}

// envInt reads a positive count from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// chaosKill kills Kubernaut at random moments while it remediates and starts it again.
func chaosKill(t *testing.T) {
	n := envInt(t, "KUBERNAUT_CHAOS_N", 200)
	kills := envInt(t, "KUBERNAUT_CHAOS_KILLS", 12)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KUBERNAUT_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KUBERNAUT_CHAOS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d (KUBERNAUT_CHAOS_SEED repeats the kill times)", seed)

	w := startWorld(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	sits, tr, k := w.remediate(ctx, t, n)
	all := names(sits)
	start := time.Now()
	// Alertmanager keeps retrying while the gateway is down (connection refused): so does the
	// sender.
	fired := make(chan error, 1)
	go func() { fired <- fire(ctx, scenario.Sender{URL: k.GatewayURL, Token: k.Token}, sits, tr) }()

	var restarts []time.Duration
	for i := range kills {
		if tr.finishedCount(all) == n {
			t.Logf("every remediation finished before kill %d", i+1)
			break
		}
		// Every 0.5–6.5 s: the kills fall on every phase, verification included.
		time.Sleep(time.Duration(500+rng.IntN(6000)) * time.Millisecond)
		at := tr.phaseCounts(all)
		k.Kill()
		// With the argo engine, Argo's workflow-controller too, every other kill or so.
		argoKilled := w.argo != nil && rng.IntN(2) == 0
		if argoKilled {
			w.argo.Kill()
		}
		down := time.Duration(rng.IntN(1000)) * time.Millisecond
		time.Sleep(down)
		t0 := time.Now()
		if argoKilled {
			if err := w.argo.Start(ctx); err != nil {
				t.Fatalf("restarting Argo's controller after kill %d: %v", i+1, err)
			}
			at += " (Argo's controller killed too)"
		}
		if err := k.Restart(ctx); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
		restarts = append(restarts, time.Since(t0))
		t.Logf("kill %d after %s (down %s, ready again in %s), remediations then: %s", i+1, time.Since(start).Round(100*time.Millisecond),
			down, time.Since(t0).Round(10*time.Millisecond), at)
	}
	if err := <-fired; err != nil {
		t.Fatal(err)
	}
	waitFinished(ctx, t, tr, all, func() string { return k.LogTail(40) })
	elapsed := time.Since(start)
	w.endedOnce(t, tr, sits, start, true)
	_, p95, _, mx := quantiles(restarts)
	outcome := "each ended once, Completed, its Deployment changed once"
	if t.Failed() {
		outcome = "NOT each Completed once with one change (above)"
	}
	t.Logf("RESULT chaos kill: %d remediations, %d SIGKILLs at random points, all finished in %s; %s; restart to ready p95=%s max=%s",
		n, len(restarts), elapsed.Round(100*time.Millisecond), outcome, ms(p95), ms(mx))
}

// chaosAPIServer stops the API server while alerts arrive, and starts it again.
func chaosAPIServer(t *testing.T) {
	n := envInt(t, "KUBERNAUT_CHAOS_APISERVER_N", 40)
	outage := 10 * time.Second
	w := startWorld(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	sits, tr, k := w.remediate(ctx, t, n)
	sender := scenario.Sender{URL: k.GatewayURL, Token: k.Token}
	start := time.Now()
	before, during := sits[:n/2], sits[n/2:]
	if err := fire(ctx, sender, before, tr); err != nil {
		t.Fatal(err)
	}

	w.c.StopAPIServer()
	down := time.Now()
	// Each alert of the second half is offered once while the API server is away, and then
	// retried as Alertmanager retries it.
	var answers sync.Map
	var unavailable atomic.Int64
	for _, s := range during {
		d, err := sender.Send(ctx, scenario.Notification(s.alert))
		code := "no answer"
		if err == nil {
			code = strconv.Itoa(d.Status)
			if d.Status == http.StatusServiceUnavailable {
				unavailable.Add(1)
			}
		}
		v, _ := answers.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	fired := make(chan error, 1)
	go func() { fired <- fire(ctx, sender, during, tr) }()
	time.Sleep(outage - time.Since(down))
	if err := w.c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	if err := <-fired; err != nil {
		t.Fatal(err)
	}
	delivered := time.Since(up)
	waitFinished(ctx, t, tr, names(sits), func() string { return k.LogTail(40) })
	elapsed := time.Since(start)
	w.endedOnce(t, tr, sits, start, false)
	var got []string
	answers.Range(func(k, v any) bool {
		got = append(got, fmt.Sprintf("%s ×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	if int(unavailable.Load()) != len(during) {
		t.Errorf("while the API server was away the gateway answered %s; want 503 for each of %d", strings.Join(got, ", "), len(during))
	}
	t.Logf("RESULT chaos API server: stopped %s with %d of %d remediations under way; the gateway answered %s meanwhile; the retried alerts were accepted %s after it was back; all %d finished in %s, each once, Completed, no alert lost",
		up.Sub(down).Round(100*time.Millisecond), len(before), n, strings.Join(got, ", "), delivered.Round(10*time.Millisecond), n, elapsed.Round(100*time.Millisecond))
}

// chaosFailover runs two replicas with leader election and kills the leader while it works.
func chaosFailover(t *testing.T) {
	n := envInt(t, "KUBERNAUT_CHAOS_FAILOVER_N", 20)
	w := startWorld(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	sits := w.oomKilled(t, 2*n)
	first, second := sits[:n], sits[n:]
	tr := track(t, w.c)
	args := kubernautArgs("--leader-elect", "--leader-election-namespace="+systemNamespace)
	var replicas []*cluster.Kubernaut
	for _, name := range []string{"kubernaut-a", "kubernaut-b"} {
		k, err := w.c.StartKubernaut(ctx, cluster.KubernautOptions{Binary: w.bin, Name: name, Args: args})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Stop()
		replicas = append(replicas, k)
	}
	leader, follower := leaderOf(ctx, t, replicas)
	start := time.Now()

	// SIGKILL: nothing is handed over; the follower takes the lease once it expires.
	if err := fire(ctx, scenario.Sender{URL: follower.GatewayURL, Token: follower.Token}, first, tr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	mid := tr.phaseCounts(names(first))
	leader.Kill()
	killed := time.Now()
	waitLeader(ctx, t, follower)
	killFailover := time.Since(killed)
	waitFinished(ctx, t, tr, names(first), func() string { return follower.LogTail(40) })
	if err := leader.Restart(ctx); err != nil {
		t.Fatal(err)
	}

	// SIGTERM (a rolling update): the leader releases the lease as it stops.
	if err := fire(ctx, scenario.Sender{URL: leader.GatewayURL, Token: leader.Token}, second, tr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stopped := time.Now()
	follower.Stop()
	stopTook := time.Since(stopped)
	waitLeader(ctx, t, leader)
	termFailover := time.Since(stopped)
	waitFinished(ctx, t, tr, names(second), func() string { return leader.LogTail(40) })
	w.endedOnce(t, tr, sits, start, true)
	t.Logf("RESULT chaos failover: leader SIGKILLed with remediations under way (%s): the other replica led %s later (--leader-elect-lease-duration 15s); all %d ended once",
		mid, killFailover.Round(10*time.Millisecond), n)
	t.Logf("RESULT chaos failover: leader stopped with SIGTERM (took %s): the other replica led %s after the signal (the lease is released); all %d ended once",
		stopTook.Round(10*time.Millisecond), termFailover.Round(10*time.Millisecond), n)
}

// leaderOf waits until one replica leads and returns it and the other.
func leaderOf(ctx context.Context, t *testing.T, replicas []*cluster.Kubernaut) (leader, follower *cluster.Kubernaut) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		for i, k := range replicas {
			if leads(k) {
				leader, follower = k, replicas[1-i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no replica became the leader: %v", err)
	}
	if leads(follower) {
		t.Fatal("both replicas lead")
	}
	return leader, follower
}

// waitLeader waits until k leads.
func waitLeader(ctx context.Context, t *testing.T, k *cluster.Kubernaut) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return leads(k), nil
	}); err != nil {
		t.Fatalf("the remaining replica did not become the leader: %v\n%s", err, k.LogTail(20))
	}
}

// leads reads controller-runtime's leader_election_master_status gauge of the replica.
func leads(k *cluster.Kubernaut) bool {
	m, err := scrape(k.MetricsURL)
	return err == nil && m.sum("leader_election_master_status", "")[""] >= 1
}
