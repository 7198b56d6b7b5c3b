package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Authenticator decides whether a request's bearer token may deliver signals. It runs
// before the body is read.
type Authenticator interface {
	// Authenticate returns the caller's identity, or ErrUnauthenticated / ErrForbidden.
	Authenticate(ctx context.Context, token string) (identity string, err error)
}

var (
	// ErrUnauthenticated: no token, or a token nobody issued (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: a valid identity that may not deliver signals (403).
	ErrForbidden = errors.New("forbidden")
)

// TokenFile authenticates bearer tokens against a file of tokens, one per line (blank lines
// and lines starting with # ignored), so that several are valid at once during a rotation.
// The file is re-read when it changes (a mounted Secret is replaced by a symlink swap).
// Comparison is constant-time over SHA-256 digests, against every token.
type TokenFile struct {
	path   string
	tokens atomic.Pointer[[][sha256.Size]byte]

	mu      sync.Mutex
	lastRaw []byte
}

// NewTokenFile reads path; it fails when the file cannot be read or holds no token.
func NewTokenFile(path string) (*TokenFile, error) {
	tf := &TokenFile{path: path}
	if _, err := tf.Reload(); err != nil {
		return nil, err
	}
	return tf, nil
}

// Reload re-reads the file and reports whether the tokens changed. On error the previous
// tokens stay in force.
func (tf *TokenFile) Reload() (bool, error) {
	raw, err := os.ReadFile(tf.path)
	if err != nil {
		return false, fmt.Errorf("reading bearer tokens from %s: %w", tf.path, err)
	}
	tf.mu.Lock()
	defer tf.mu.Unlock()
	if tf.lastRaw != nil && bytes.Equal(raw, tf.lastRaw) {
		return false, nil
	}
	var digests [][sha256.Size]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		digests = append(digests, sha256.Sum256([]byte(line)))
	}
	if len(digests) == 0 {
		return false, fmt.Errorf("bearer token file %s holds no token", tf.path)
	}
	tf.tokens.Store(&digests)
	tf.lastRaw = raw
	return true, nil
}

// Watch re-reads the file every interval until ctx ends, reporting errors to onError.
func (tf *TokenFile) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := tf.Reload(); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}

// Authenticate compares token with every valid token in constant time.
func (tf *TokenFile) Authenticate(_ context.Context, token string) (string, error) {
	if token == "" {
		return "", ErrUnauthenticated
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for i, want := range *tf.tokens.Load() {
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			match = i + 1
		}
	}
	if match == 0 {
		return "", ErrUnauthenticated
	}
	return fmt.Sprintf("token-%d", match), nil
}

// bearerToken extracts the token of an `Authorization: Bearer <token>` header.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
