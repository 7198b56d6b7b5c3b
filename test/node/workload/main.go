// Command workload is the real node's test workload: one static binary whose behaviour its
// arguments choose, so that a test can make a pod that really serves, crashes, runs out of
// memory or fails its readiness probe — and the node's pause image.
//
//	workload pause                      sleep until SIGTERM (the pod sandbox)
//	workload serve [flags]              serve HTTP on :8080: /healthz, /ready
//	    --crash-after D                 exit 1 after D
//	    --unready                       /ready answers 503
//	    --alloc-mib N                   allocate and touch N MiB, 8 MiB at a time, then serve
//	workload crash                      exit 1 at once (a crash on start)
//	workload clear-cache                print "cache cleared" and record it in /tmp/cleared (the
//	                                    command a workload declares)
//	workload wedge                      make this container's /ready answer 503 from now on
//	workload cat FILE                   print FILE (the image has no shell)
//	workload get URL                    GET URL and print the body (busybox's wget segfaults
//	                                    in a container: static glibc NSS)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload pause|serve|crash|clear-cache|wedge|cat FILE|get URL")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pause":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		<-ctx.Done()
	case "serve":
		serve(os.Args[2:])
	case "crash":
		// A credential in the log, as real programs print them: the evidence Kubernaut
		// gathers must not carry it.
		fmt.Println("workload: crashing on start: cannot reach postgres://app:s3cret-pw@db:5432/orders")
		os.Exit(1)
	case "clear-cache":
		if err := os.WriteFile("/tmp/cleared", []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		fmt.Println("cache cleared")
	case "wedge":
		if err := os.WriteFile(wedged, nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		fmt.Println("wedged: /ready answers 503")
	case "cat":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: workload cat FILE")
			os.Exit(2)
		}
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		_, _ = os.Stdout.Write(data)
	case "get":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: workload get URL")
			os.Exit(2)
		}
		os.Exit(get(os.Args[2]))
	default:
		fmt.Fprintf(os.Stderr, "workload: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

// wedged, when it exists, makes /ready answer 503 (workload wedge).
const wedged = "/tmp/wedged"

// hold keeps what serve allocated reachable.
var hold [][]byte

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	crashAfter := fs.Duration("crash-after", 0, "exit 1 after this long")
	unready := fs.Bool("unready", false, "answer /ready with 503")
	allocMiB := fs.Int("alloc-mib", 0, "allocate and touch this many MiB before serving")
	_ = fs.Parse(args)
	fmt.Printf("workload: serving on :8080 (crash-after %s, unready %t, alloc %d MiB)\n", *crashAfter, *unready, *allocMiB)
	for i := 0; i < *allocMiB; i += 8 {
		b := make([]byte, 8<<20)
		for j := range b {
			if j%4096 == 0 {
				b[j] = 1
			}
		}
		hold = append(hold, b)
		fmt.Printf("workload: allocated %d MiB\n", i+8)
		time.Sleep(20 * time.Millisecond)
	}
	if *crashAfter > 0 {
		time.AfterFunc(*crashAfter, func() {
			fmt.Printf("workload: crashing after %s\n", *crashAfter)
			os.Exit(1)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(wedged); *unready || err == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

// get fetches url; for the API server it trusts the pod's ServiceAccount CA and sends its token.
func get(url string) int {
	tr := &http.Transport{}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		return 1
	}
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	if ca, err := os.ReadFile(sa + "ca.crt"); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if tok, err := os.ReadFile(sa + "token"); err == nil {
			req.Header.Set("Authorization", "Bearer "+string(tok))
		}
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		return 1
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Printf("%s\n%s", resp.Status, body)
	if resp.StatusCode >= 300 {
		return 1
	}
	return 0
}
