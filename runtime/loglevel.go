package runtime

import (
	"fmt"
	"strings"
)

// LogLevel is how much phoenix says on stderr besides a run's result:
// the log module's messages and the runtime's own diagnostics at or above
// the level are printed. Secrets are never logged at any level.
type LogLevel int

// The levels, least severe first. The zero value is LevelInfo.
const (
	LevelDebug LogLevel = iota - 1 // and each API call, with its status
	LevelInfo                      // progress: tasks started and ended, retries
	LevelWarn                      // what the operator should look at
	LevelError                     // log.error only
)

var levelNames = map[LogLevel]string{LevelDebug: "debug", LevelInfo: "info", LevelWarn: "warn", LevelError: "error"}

func (l LogLevel) String() string {
	if n, ok := levelNames[l]; ok {
		return n
	}
	return fmt.Sprintf("LogLevel(%d)", int(l))
}

// ParseLogLevel reads --log-level.
func ParseLogLevel(s string) (LogLevel, error) {
	for l, n := range levelNames {
		if strings.EqualFold(s, n) {
			return l, nil
		}
	}
	return LevelInfo, fmt.Errorf("want debug, info, warn or error, got %q", s)
}

// Logs reports whether a message at level is printed in this run.
func (rt *Runtime) Logs(level LogLevel) bool { return level >= rt.Opts.LogLevel }

// Logf prints one diagnostic line to stderr when level is printed.
func (rt *Runtime) Logf(level LogLevel, format string, args ...any) {
	if rt.Logs(level) {
		fmt.Fprintf(rt.Opts.Stderr, format+"\n", args...)
	}
}
