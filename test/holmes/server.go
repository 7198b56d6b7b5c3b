// Package holmes is an HTTP server that speaks HolmesGPT's API, both generations
// (REFERENCE §2), for tests: it stands in for HolmesGPT and answers what a test scripts.
package holmes

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Fake is an HTTP server speaking HolmesGPT's API: the current generation (/api/chat) or,
// with Legacy, the older one (/api/investigate, and 404 on /api/chat).
type Fake struct {
	// T owns the server (it is closed at the end of the test).
	T interface{ Cleanup(func()) }
	// Legacy serves the older generation.
	Legacy bool
	// Reply, when it returns a status, answers one call (n counts from 1) with it and body.
	Reply func(n int, path string, body map[string]any) (int, string)
	// Answer is the analysis' text (the JSON the client asked for).
	Answer string

	mu       sync.Mutex
	Calls    []string
	Requests []map[string]any
}

// ServeHTTP answers one request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	f.mu.Lock()
	f.Calls = append(f.Calls, r.URL.Path)
	f.Requests = append(f.Requests, body)
	n := len(f.Calls)
	answer := f.Answer
	f.mu.Unlock()
	if f.Reply != nil {
		if code, b := f.Reply(n, r.URL.Path, body); code != 0 {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, b)
			return
		}
	}
	switch {
	case r.URL.Path == "/api/chat" && !f.Legacy:
		if hist, _ := body["conversation_history"].([]any); len(hist) > 0 {
			if first, _ := hist[0].(map[string]any); first["role"] != "system" {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"analysis": answer, "conversation_history": []any{},
			"metadata": map[string]any{"usage": map[string]any{"total_tokens": 1234}}})
	case r.URL.Path == "/api/investigate" && f.Legacy:
		for _, k := range []string{"source", "title", "description", "subject", "context"} {
			if _, ok := body[k]; !ok {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
		}
		sections := map[string]any{}
		for k := range body["sections"].(map[string]any) {
			sections[k] = answer
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"analysis": "## Root cause\n...", "sections": sections, "tool_calls": []any{}, "instructions": []any{}})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"detail":"Not Found"}`)
	}
}

// SetAnswer changes the analysis' text while the server runs.
func (f *Fake) SetAnswer(answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Answer = answer
}

// Start serves on a loopback port until the test ends.
func (f *Fake) Start() *httptest.Server {
	s := httptest.NewServer(f)
	f.T.Cleanup(s.Close)
	return s
}

// CallCount returns how many calls were made.
func (f *Fake) CallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Calls)
}
