package runtime

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.starlark.net/starlark"
)

// Change is one declared change to the world.
type Change struct {
	Resource       string `json:"resource"`
	Action         string `json:"action"`
	Applied        bool   `json:"applied"`
	PendingRestart bool   `json:"pending_restart"`
	Detail         string `json:"detail"`
	// Before and After are the changed settings, structured, where the
	// builtin knows them (a guest's options, a dataset's properties);
	// absent ones are "" in Before for a setting that was unset.
	Before map[string]string `json:"before,omitempty"`
	After  map[string]string `json:"after,omitempty"`
	At     string            `json:"at"`
	Error  string            `json:"error,omitempty"`

	// Leaves is the state the change leaves, by resource: a family's own
	// record (PlannedFile, PlannedDir, a guest, a dataset) or Gone. A plan
	// records it in the run's planned-state store; an apply ignores it.
	Leaves map[string]any `json:"-"`
}

// Actions a change may have.
var Actions = map[string]bool{
	"create": true, "update": true, "delete": true,
	"run": true, "reload": true, "restart": true,
}

// Pending is a restart PVE still holds from an earlier run: listed, but
// not a change.
type Pending struct {
	Resource string `json:"resource"`
	Detail   string `json:"detail"`
}

// Skipped is a step that did not run because one it needs failed.
type Skipped struct {
	Step   string `json:"step"`
	Reason string `json:"reason"`
}

// CheckResult is one health-check outcome.
type CheckResult struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Status string `json:"status"` // ok, fail, skip
	Detail string `json:"detail"`
}

// Report collects a run's changes and checks in declaration order.
type Report struct {
	mu        sync.Mutex
	Changes   []Change
	Unchanged []string
	Pending   []Pending
	Skipped   []Skipped
	Checks    []CheckResult

	// marks are the unchanged resources, and the ones only looked at, by
	// where in the sequence of changes they were met (see settleRaces).
	marks []mark
}

// Counts returns changed, unchanged and failed. Changes are counted one
// by one; unchanged counts resources, each once, and only those the run
// did not change: a script may look at one resource several times (a
// dataset each guest's mount shares), and a converged site must report
// the same number however its steps met them.
func (r *Report) Counts() (changed, unchanged, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	touched := map[string]bool{}
	for _, c := range r.Changes {
		touched[c.Resource] = true
		if c.Error != "" {
			failed++
		} else {
			changed++
		}
	}
	for _, res := range r.Unchanged {
		if !touched[res] {
			touched[res] = true
			unchanged++
		}
	}
	return changed, unchanged, failed
}

// ChecksFailed reports whether any health check failed.
func (r *Report) ChecksFailed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.Checks {
		if c.Status == "fail" {
			return true
		}
	}
	return false
}

// Merge appends another report (a parallel step's) to r.
func (r *Report) Merge(o *Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range o.marks {
		m.at += len(r.Changes)
		r.marks = append(r.marks, m)
	}
	r.Changes = append(r.Changes, o.Changes...)
	r.Unchanged = append(r.Unchanged, o.Unchanged...)
	r.Pending = append(r.Pending, o.Pending...)
	r.Skipped = append(r.Skipped, o.Skipped...)
	r.Checks = append(r.Checks, o.Checks...)
}

// Len is the number of entries so far (for REPL bookkeeping).
func (r *Report) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.Changes)
}

func (r *Report) add(f func(r *Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func reportOf(thread *starlark.Thread) *Report {
	if r, ok := thread.Local(reportKey).(*Report); ok {
		return r
	}
	return FromThread(thread).report
}

// callerPos is where in the script the running builtin was called.
func callerPos(thread *starlark.Thread) string {
	for d := 0; d < thread.CallStackDepth(); d++ {
		fr := thread.CallFrame(d)
		if fr.Pos.IsValid() && fr.Pos.Filename() != "<builtin>" {
			return fmt.Sprintf("%s:%d", fr.Pos.Filename(), fr.Pos.Line)
		}
	}
	return ""
}

// Do declares a change and, in apply mode, makes it by calling apply.
// This is the one place that decides by mode: no builtin checks --dry-run
// to decide whether to act. applied tells the builtin which happened: a
// change only planned has no results yet (they are unknown). In a plan,
// Do records c.Leaves in the run's planned-state store, so that later
// reads see what the apply would have left.
func Do(thread *starlark.Thread, c Change, apply func() error) (applied bool, err error) {
	if !Actions[c.Action] {
		panic("phoenix: unknown change action " + c.Action)
	}
	rt := FromThread(thread)
	c.At = callerPos(thread)
	if rt.Opts.DryRun {
		for _, k := range slices.Sorted(maps.Keys(c.Leaves)) {
			rt.plan.put(k, c.Leaves[k])
		}
		reportOf(thread).add(func(r *Report) { r.Changes = append(r.Changes, c) })
		return false, nil
	}
	if err := rt.Context().Err(); err != nil {
		return false, fmt.Errorf("interrupted before %s %s: %w", c.Action, c.Resource, err)
	}
	err = rt.applyChange(&c, apply)
	if errors.Is(err, errNotStarted) {
		return false, err
	}
	if err != nil {
		c.Error = err.Error()
	} else {
		c.Applied = true
	}
	reportOf(thread).add(func(r *Report) { r.Changes = append(r.Changes, c) })
	return err == nil, err
}

// Confirm asks the operator before a change that converging again cannot
// undo, such as replacing a CA root; in a dry run it does nothing, since
// the plan shows the change. A refusal is an error that stops the run
// before the change.
func Confirm(thread *starlark.Thread, question string) error {
	rt := FromThread(thread)
	if rt.Opts.DryRun || rt.Opts.Confirm == nil {
		return nil
	}
	rt.mu.Lock()
	asked := rt.confirmed[question]
	rt.mu.Unlock()
	if asked {
		// Asked earlier in this run, before its first change.
		return nil
	}
	ok, err := rt.Opts.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("not confirmed: %s; nothing of it was done", question)
	}
	rt.mu.Lock()
	if rt.confirmed == nil {
		rt.confirmed = map[string]bool{}
	}
	rt.confirmed[question] = true
	rt.mu.Unlock()
	return nil
}

// Unchanged records that resource already matches its declared state.
func Unchanged(thread *starlark.Thread, resource string) {
	reportOf(thread).add(func(r *Report) {
		r.Unchanged = append(r.Unchanged, resource)
		r.marks = append(r.marks, mark{resource: resource, at: len(r.Changes), unchanged: true})
	})
}

// Touched records that a step relied on a resource it found in place
// without declaring it, such as an existing parent directory. It is no
// change and not counted; it only lets a parallel merge settle races.
func Touched(thread *starlark.Thread, resource string) {
	reportOf(thread).add(func(r *Report) {
		r.marks = append(r.marks, mark{resource: resource, at: len(r.Changes)})
	})
}

// NotePending records a restart that is still pending from an earlier run.
func NotePending(thread *starlark.Thread, resource, detail string) {
	reportOf(thread).add(func(r *Report) { r.Pending = append(r.Pending, Pending{resource, detail}) })
}

// AddCheck records a health-check result.
func AddCheck(thread *starlark.Thread, c CheckResult) {
	reportOf(thread).add(func(r *Report) { r.Checks = append(r.Checks, c) })
}

// AddSkipped records a step that did not run.
func AddSkipped(thread *starlark.Thread, s Skipped) {
	reportOf(thread).add(func(r *Report) { r.Skipped = append(r.Skipped, s) })
}
