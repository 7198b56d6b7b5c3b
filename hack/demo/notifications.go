package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// inbox is the team's receiver behind the demo's Alertmanager: it prints each of Kubernaut's
// notifications as it arrives and keeps the approve command of each plan waiting for people.
type inbox struct {
	mu      sync.Mutex
	approve map[string]string // remediation → the approve command its notification carries
}

// listen serves Alertmanager's webhook on addr.
func (b *inbox) listen(addr string) error {
	b.approve = map[string]string{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("the demo's alert receiver on %s: %w", addr, err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var msg struct {
				Alerts []struct {
					Status      string            `json:"status"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"alerts"`
			}
			body, _ := io.ReadAll(r.Body)
			if json.Unmarshal(body, &msg) != nil {
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, a := range msg.Alerts {
				name := a.Labels["alertname"]
				if !strings.HasPrefix(name, "Kubernaut") {
					continue
				}
				fmt.Printf("       \U0001F4E3 receiver: %s %s — %s\n", name, a.Status, a.Annotations["summary"])
				if name == "KubernautApprovalRequired" && a.Status == "firing" {
					fmt.Printf("          %s; to approve: %s\n", a.Annotations["quorum"], a.Annotations["approve"])
					b.approve[a.Labels["kubernaut_remediation"]] = a.Annotations["approve"]
				}
			}
		}))
	}()
	return nil
}

// command is the approve command the notification for remediation carried, once it arrived.
func (b *inbox) command(remediation string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.approve[remediation]
}
