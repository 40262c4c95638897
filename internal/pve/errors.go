package pve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	proxmox "github.com/luthermonson/go-proxmox"
)

// APIError is an answer of the API other than success. PVE puts its
// message in the HTTP status line, which go-proxmox reduces to a bare
// error string or drops (401/403); the transport keeps it here.
type APIError struct {
	Method, Path string
	Status       int    // 0 when no answer arrived
	Message      string // PVE's message, e.g. "can't lock file ... - got timeout"
	Params       string // per-parameter errors of a 400, as PVE sent them
	Remedy       string // what to do about it, when phoenix knows
	Err          error  // the underlying error, for errors.Is
	// Attempts is how many times the request was sent (retries of reads
	// and idempotent writes).
	Attempts int
	// Unknown marks a change that got a 5xx or no answer: PVE may or may
	// not have made it, and phoenix does not repeat it blindly.
	Unknown bool
}

// ErrRequestTimeout is a request that got no answer within
// Options.RequestTimeout.
var ErrRequestTimeout = errors.New("request timed out")

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	b.WriteString(e.Message)
	if e.Params != "" {
		b.WriteString(": " + e.Params)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	if e.Unknown {
		b.WriteString("\noutcome unknown: PVE may or may not have applied this change, and phoenix did not repeat it; the next run reads the guest's state and finishes or skips it")
	}
	if e.Remedy != "" {
		b.WriteString("\n" + e.Remedy)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// TaskError is a task that ended with an exit status other than OK.
type TaskError struct {
	UPID       string
	What       string // "create lxc:103"
	ExitStatus string
	LogTail    []string
}

func (e *TaskError) Error() string {
	msg := fmt.Sprintf("task %s failed: %s", e.What, e.ExitStatus)
	if len(e.LogTail) > 0 {
		msg += "\ntask log (last lines):\n  " + strings.Join(e.LogTail, "\n  ")
	}
	return msg
}

// IsLockTimeout reports whether err is PVE failing to take a guest's
// config lock in time, which a later attempt usually gets.
func IsLockTimeout(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "can't lock file") && strings.Contains(msg, "got timeout")
}

// transient reports whether a failed request may succeed when repeated:
// no answer (connection refused, reset) or a 5xx.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if IsLocked(err) {
		return false // held by another operation, maybe for hours: say so now
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == 0 || ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	return false
}

// refusal reports a failed request that certainly changed nothing: the
// connection was never made, or PVE's message says it refused before
// acting (a lock held or not taken, a guest that exists or does not).
func refusal(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	if IsLockTimeout(err) || IsLocked(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "does not exist")
}

// lockedRE is PVE's refusal of a guest whose config holds a lock:
// "CT 101 is locked (create)", "VM 1001 is locked (backup)".
var lockedRE = regexp.MustCompile(`\b(CT|VM) (\d+) is locked \((\w+)\)`)

// IsLocked reports whether err is PVE refusing a guest that another
// operation (create, backup, migrate, snapshot, ...) holds locked.
func IsLocked(err error) bool { return err != nil && lockedRE.MatchString(err.Error()) }

// isAuthError reports a refused request (401/403).
func isAuthError(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden
	}
	return errors.Is(err, proxmox.ErrNotAuthorized)
}

// isUnauthorized reports a 401: no or an expired ticket.
func isUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized
}

// BindMountRemedy is the fix for PVE refusing a bind mount: only a
// root@pam ticket login may set host paths as mount points.
const BindMountRemedy = "bind mount points (host paths) need a root@pam login, and PVE refuses them for API tokens (even root@pam's); " +
	"unset " + EnvToken + " and set " + EnvPassword + " to root@pam's password, or put " + EnvPassword + "=... in the 0600 credentials file named by the site config's pve.credentials_file"

// remedy names the fix for a refusal PVE explains.
func remedy(status int, msg string) string {
	if m := lockedRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("another operation (%s) holds %s %s locked, so PVE refused the call and nothing changed; wait for it to finish and run phoenix again, or, if no such task runs any more (see the node's task list), remove the stale lock with `%s unlock %s`",
			m[3], m[1], m[2], map[string]string{"CT": "pct", "VM": "qm"}[m[1]], m[2])
	}
	if status != http.StatusForbidden {
		return ""
	}
	switch {
	case strings.Contains(msg, "mount point type bind"), strings.Contains(msg, "mount point type device"):
		return BindMountRemedy
	case strings.Contains(msg, "feature flags"):
		return FeaturesRemedy
	case strings.Contains(msg, "only allowed for root@pam"):
		return "this change needs a root@pam login; set " + EnvPassword + " (root@pam) instead of " + EnvToken
	}
	return "the credentials lack a privilege for this call; grant it to the user or token in PVE (Datacenter > Permissions), or use a root@pam login (" + EnvPassword + ")"
}

// FeaturesRemedy is the fix for PVE refusing container features other
// than nesting for non-root logins.
const FeaturesRemedy = "changing container features other than nesting needs a root@pam login; set " + EnvPassword + " (root@pam) instead of " + EnvToken
