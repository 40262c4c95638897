package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// The planned-state store holds what a dry run has declared, by resource
// ("file:/etc/x", "dir:/srv", "zfs:tank/ca", "lxc:103", "ca:/srv/ca"), so
// that later reads in the same plan see what the apply would have left.
// Do fills it, and only for a change it plans: in an apply the world is
// the truth. Every family reads the world first, then the store.
type planStore struct {
	mu sync.Mutex
	m  map[string]entry
	// blind makes reads miss the store: the plan/apply agreement test
	// proves with it that the test notices.
	blind bool
}

// Gone is the planned state of a resource a plan deletes.
var Gone = gone{}

type gone struct{}

// PlannedFile is a file as a plan leaves it. Unknown content (a
// certificate the CA will issue) reads as an unknown value.
type PlannedFile struct {
	Data     []byte
	Mode     os.FileMode
	UID, GID int
	Unknown  bool
}

// PlannedDir is a directory as a plan leaves it.
type PlannedDir struct {
	Mode     os.FileMode
	UID, GID int
}

type entry struct {
	v any
	// emptied marks a path the plan deleted and then made again: what
	// was under it on disk is gone.
	emptied bool
}

func newPlanStore() *planStore { return &planStore{m: map[string]entry{}} }

// put records one resource's planned state. A file and a directory at
// the same path are one thing on disk: recording either replaces the
// other, and deleting either deletes both and all below it.
func (s *planStore) put(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind, p, ok := pathKey(key)
	if !ok {
		s.m[key] = entry{v: v}
		return
	}
	other := "dir:" + p
	if kind == "dir" {
		other = "file:" + p
	}
	if v == Gone {
		for k := range s.m {
			if strings.HasPrefix(k, "file:"+p+"/") || strings.HasPrefix(k, "dir:"+p+"/") {
				delete(s.m, k)
			}
		}
		s.m[key], s.m[other] = entry{v: Gone}, entry{v: Gone}
		return
	}
	old, had := s.m[key]
	if !had {
		old = s.m[other]
	}
	delete(s.m, other)
	s.m[key] = entry{v: v, emptied: old.v == Gone || old.emptied}
}

func (s *planStore) get(key string) (any, bool) {
	e, ok := s.entry(key)
	return e.v, ok
}

func (s *planStore) entry(key string) (entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blind {
		return entry{}, false
	}
	e, ok := s.m[key]
	return e, ok
}

// under returns the planned resources whose keys start with prefix.
func (s *planStore) under(prefix string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{}
	if s.blind {
		return out
	}
	for k, e := range s.m {
		if strings.HasPrefix(k, prefix) {
			out[k] = e.v
		}
	}
	return out
}

func pathKey(key string) (kind, p string, ok bool) {
	kind, p, ok = strings.Cut(key, ":")
	if !ok || (kind != "file" && kind != "dir") || !strings.HasPrefix(p, "/") {
		return "", "", false
	}
	return kind, p, true
}

// PlannedState returns what this run's plan declared for resource: ok is
// false when the plan has not touched it, v is Gone when it deletes it.
func (rt *Runtime) PlannedState(resource string) (v any, ok bool) {
	return rt.plan.get(resource)
}

// PlannedAs is PlannedState for a family's own record type: gone when the
// plan deletes the resource, ok when it leaves a T there.
func PlannedAs[T any](rt *Runtime, resource string) (v T, gone, ok bool) {
	x, found := rt.plan.get(resource)
	if !found {
		return v, false, false
	}
	if x == Gone {
		return v, true, false
	}
	v, ok = x.(T)
	return v, false, ok
}

// PlannedUnder returns the resources a plan declared whose names start
// with prefix ("zfs:tank/"), sorted by name, for reads that list.
func (rt *Runtime) PlannedUnder(prefix string) (names []string, states map[string]any) {
	states = rt.plan.under(prefix)
	return slices.Sorted(maps.Keys(states)), states
}

// plannedPath is a site path as the plan leaves it: a file, a directory,
// or gone (itself or a directory above it deleted); nothing when the plan
// has not touched it.
func (rt *Runtime) plannedPath(site string) (file *PlannedFile, dir *PlannedDir, gone bool) {
	if v, ok := rt.plan.get("file:" + site); ok {
		if f, isFile := v.(PlannedFile); isFile {
			return &f, nil, false
		}
	}
	if v, ok := rt.plan.get("dir:" + site); ok {
		if d, isDir := v.(PlannedDir); isDir {
			return nil, &d, false
		}
		if v == Gone {
			return nil, nil, true
		}
	}
	// Untouched itself: gone when a directory above it was deleted.
	for p := path.Dir(site); p != "/" && p != "."; p = path.Dir(p) {
		if e, ok := rt.plan.entry("dir:" + p); ok {
			return nil, nil, e.v == Gone || e.emptied
		}
	}
	return nil, nil, false
}

// ResetPlan forgets the planned state of a dry run, before the same
// statements are applied for real.
func (rt *Runtime) ResetPlan() {
	rt.plan.mu.Lock()
	rt.plan.m = map[string]entry{}
	rt.plan.mu.Unlock()
	rt.mu.Lock()
	rt.failure = nil
	rt.mu.Unlock()
}

// BlindPlan makes this run's reads miss its planned state. Only the test
// that proves plans and applies agree uses it, to show it would notice.
func (rt *Runtime) BlindPlan() {
	rt.plan.mu.Lock()
	rt.plan.blind = true
	rt.plan.mu.Unlock()
}

// PlannedPath is plannedPath for a site path a builtin was given, for
// reads that look at the disk themselves first (stat, move).
func (rt *Runtime) PlannedPath(p string) (file *PlannedFile, dir *PlannedDir, gone bool, err error) {
	host, err := rt.Root.ResolveNoFollow(p)
	if err != nil {
		return nil, nil, false, err
	}
	file, dir, gone = rt.plannedPath(rt.Root.Rel(host))
	return file, dir, gone, nil
}

// Current is a site path as the run sees it, on disk then as planned: a
// file (content read), a directory, or neither (nil, nil) when it does
// not exist. A symlink is followed.
func (rt *Runtime) Current(p string) (file *PlannedFile, dir *PlannedDir, err error) {
	host, err := rt.Root.Resolve(p)
	if err != nil {
		return nil, nil, err
	}
	d, isDir, exists, err := rt.dirState(host)
	switch {
	case err != nil:
		return nil, nil, err
	case !exists:
		return nil, nil, nil
	case isDir:
		return nil, &d, nil
	}
	f, ok := rt.currentFile(host)
	if !ok {
		// Neither a directory nor a regular file: a device, a socket.
		return nil, nil, fmt.Errorf("%s is not a regular file or directory", p)
	}
	return &f, nil, nil
}

// ReadDir lists a directory's entry names as the run sees it: on disk,
// then with what the plan creates in it and without what it deletes.
func (rt *Runtime) ReadDir(p string) ([]string, error) {
	host, err := rt.Root.Resolve(p)
	if err != nil {
		return nil, err
	}
	site := rt.Root.Rel(host)
	_, isDir, exists, err := rt.dirState(host)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	if !isDir {
		return nil, &fs.PathError{Op: "readdirent", Path: p, Err: syscall.ENOTDIR}
	}
	names := map[string]bool{}
	// A directory the plan deleted and made again holds nothing of the disk's.
	if e, _ := rt.plan.entry("dir:" + site); !e.emptied {
		ents, err := rt.Root.Names(site)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			names[e] = true
		}
	}
	prefix := strings.TrimSuffix(site, "/") + "/"
	for _, kind := range []string{"file:", "dir:"} {
		for k, v := range rt.plan.under(kind + prefix) {
			rest := strings.TrimPrefix(k, kind+prefix)
			if rest == "" || strings.Contains(rest, "/") {
				continue
			}
			names[rest] = v != Gone
		}
	}
	var out []string
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if names[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
