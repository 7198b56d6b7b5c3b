// Package redact removes secrets from text Kubernaut stores or sends: log tails, event
// messages, an analyzer's prompt. The processing and the analysis both use it.
package redact

import (
	"regexp"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// secretPatterns match secrets that show up in logs and event messages. Each match is
// replaced by its name part (when there is one) and "[REDACTED]".
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`),
	regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),
	regexp.MustCompile(`\b(ghp|gho|ghs|github_pat|xox[abpr]|sk_live|sk-)[A-Za-z0-9_-]{10,}`),
	regexp.MustCompile(`(?i)([a-z0-9_.-]*(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)`),
	regexp.MustCompile(`(?i)(://[^:/\s]+:)[^@/\s]+(@)`),
}

// String replaces secrets in s and returns the result and how many were replaced.
func String(s string) (string, int) {
	n := 0
	for i, re := range secretPatterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			n++
			switch i {
			case 5: // key=value: keep the key
				sub := re.FindStringSubmatch(m)
				return sub[1] + "[REDACTED]"
			case 6: // user:password@ in a URL
				sub := re.FindStringSubmatch(m)
				return sub[1] + "[REDACTED]" + sub[2]
			default:
				return "[REDACTED]"
			}
		})
	}
	return s, n
}

// Bounded is s with its secrets replaced, cut to at most n bytes (an ellipsis marks the cut):
// text that leaves the cluster (a notification, a record).
func Bounded(s string, n int) string {
	s, _ = String(s)
	return kubernautv1.Truncate(s, n)
}
