package window

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := Parse("--since", in); err != nil || got != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"0d", "-1d", "d", "x", "-5m", "0s", ""} {
		if _, err := Parse("--since", in); err == nil {
			t.Errorf("Parse(%q) took it", in)
		}
	}
}
