package runtime

import (
	"errors"
	"fmt"
)

// errNotStarted marks a change refused because the run is stopping; it
// is not reported as failed.
var errNotStarted = errors.New("not started")

// stopState lets a signal stop a run between changes: the change being
// applied finishes (its context stays live), no new one starts.
type stopState struct {
	reason   string // set once stopping
	inflight int
}

// Stop ends the run at the next change boundary (first SIGINT or
// SIGTERM): Starlark stops at its next step, no change starts, and the
// run's context, which reads and waits use, is cancelled once the
// changes in progress are done. Interrupt is the immediate stop.
func (rt *Runtime) Stop(reason string) {
	rt.mu.Lock()
	if rt.stop.reason == "" {
		rt.stop.reason = reason
	}
	idle := rt.stop.inflight == 0
	rt.mu.Unlock()
	rt.cancelThreads(reason)
	if idle {
		rt.cancel()
	}
}

// Stopped is the reason Stop was called with, or "".
func (rt *Runtime) Stopped() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.stop.reason
}

func (rt *Runtime) beginChange(c *Change) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stop.reason != "" {
		return fmt.Errorf("%s before %s %s: %w", rt.stop.reason, c.Action, c.Resource, errNotStarted)
	}
	rt.stop.inflight++
	return nil
}

func (rt *Runtime) endChange() {
	rt.mu.Lock()
	rt.stop.inflight--
	last := rt.stop.inflight == 0 && rt.stop.reason != ""
	rt.mu.Unlock()
	if last {
		rt.cancel()
	}
}
