package runtime

import (
	"os"
	"phoenix/internal/machine"
	"sync"
)

// overlay is the planned state of files and directories in a dry run, so
// that later reads in the same run see what the plan would have written.
type overlay struct {
	mu    sync.Mutex
	files map[string]PlannedFile // by host path
	dirs  map[string]bool
	locks machine.Locks // by host path
}

// PlannedFile is a file write a dry run declared.
type PlannedFile struct {
	Data     []byte
	Mode     os.FileMode
	UID, GID int
	Removed  bool
}

func newOverlay() *overlay {
	return &overlay{files: map[string]PlannedFile{}, dirs: map[string]bool{}}
}

// PlanFile remembers, in a dry run, what a write would have left at host.
// In apply mode it does nothing: the file itself is the truth.
func (rt *Runtime) PlanFile(host string, f PlannedFile) {
	if !rt.Opts.DryRun {
		return
	}
	rt.overlay.mu.Lock()
	defer rt.overlay.mu.Unlock()
	rt.overlay.files[host] = f
}

// PlanDir remembers a directory a dry run would have created.
func (rt *Runtime) PlanDir(host string) {
	if !rt.Opts.DryRun {
		return
	}
	rt.overlay.mu.Lock()
	defer rt.overlay.mu.Unlock()
	rt.overlay.dirs[host] = true
}

// Planned returns the planned content of host, if a dry run wrote it.
func (rt *Runtime) Planned(host string) (PlannedFile, bool) {
	rt.overlay.mu.Lock()
	defer rt.overlay.mu.Unlock()
	f, ok := rt.overlay.files[host]
	return f, ok
}

// PlannedDir reports whether a dry run would have created host.
func (rt *Runtime) PlannedDir(host string) bool {
	rt.overlay.mu.Lock()
	defer rt.overlay.mu.Unlock()
	return rt.overlay.dirs[host]
}
