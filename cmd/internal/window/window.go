// Package window reads the --since flags of Kubernaut's commands: a window of days ("7d") or
// any Go duration ("36h"), as kubectl's own --since reads durations.
package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads s as a positive number of days (7d) or a positive duration (36h); errors name
// the flag.
func Parse(flag, s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s %q: want a positive number of days (7d) or a duration (36h)", flag, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive number of days (7d) or a duration (36h)", flag, s)
	}
	return d, nil
}
