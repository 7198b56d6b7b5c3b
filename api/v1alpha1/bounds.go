package v1alpha1

import "unicode/utf8"

// Truncate cuts s to at most maxBytes bytes, on a rune boundary, ending it with "…" when it
// was cut: the way every controller fits outside text into a field's MaxLength.
func Truncate(s string, maxBytes int) string {
	if len(s) <= maxBytes {
		return s
	}
	const mark = "…"
	cut := maxBytes - len(mark)
	if cut < 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
