package runtime

import (
	"errors"
	"io"
	"testing"
)

// Do tells the builtin whether it applied or only planned, and records
// what the change leaves only when it plans.
func TestDoTellsAndRecords(t *testing.T) {
	for _, dry := range []bool{false, true} {
		rt := newSim(t, dry)
		th := rt.NewThread("t", rt.Report(), io.Discard)
		calls := 0
		c := Change{Resource: "x:1", Action: "create", Leaves: map[string]any{"x:1": 7, "x:2": Gone}}
		applied, err := Do(th, c, func() error { calls++; return nil })
		if err != nil || applied == dry {
			t.Errorf("dry-run=%v: applied=%v err=%v", dry, applied, err)
		}
		v, ok := rt.PlannedState("x:1")
		if ok != dry || dry && v != 7 {
			t.Errorf("dry-run=%v: planned x:1 = %v, %v", dry, v, ok)
		}
		if _, gone, _ := PlannedAs[int](rt, "x:2"); gone != dry {
			t.Errorf("dry-run=%v: x:2 gone = %v", dry, gone)
		}
		// A failed apply is neither applied nor recorded.
		boom := errors.New("boom")
		applied, err = Do(th, Change{Resource: "x:3", Action: "create", Leaves: map[string]any{"x:3": 1}}, func() error { calls++; return boom })
		if applied || dry == (err != nil) {
			t.Errorf("dry-run=%v: failing apply: applied=%v err=%v", dry, applied, err)
		}
		if _, ok := rt.PlannedState("x:3"); ok != dry {
			t.Errorf("dry-run=%v: x:3 recorded = %v", dry, ok)
		}
		if want := map[bool]int{false: 2, true: 0}[dry]; calls != want {
			t.Errorf("dry-run=%v: apply called %d times, want %d", dry, calls, want)
		}
		rt.ResetPlan()
		if _, ok := rt.PlannedState("x:1"); ok {
			t.Errorf("dry-run=%v: ResetPlan kept x:1", dry)
		}
		rt.Release(th)
	}
}

// Files and directories a plan writes or deletes read back as planned,
// one path being one thing whether written as a file or a directory.
func TestPlannedPaths(t *testing.T) {
	rt := newSim(t, true)
	th := rt.NewThread("t", rt.Report(), io.Discard)
	defer rt.Release(th)
	if _, err := rt.EnsureFile(th, FileSpec{Path: "/a/b/f", Data: []byte("x"), Mode: 0o640, UID: -1, GID: -1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/a/b", "/a/b/f"} {
		if ok, err := rt.Exists(p); !ok || err != nil {
			t.Errorf("Exists(%s) = %v, %v after a planned write", p, ok, err)
		}
	}
	if b, err := rt.ReadFile("/a/b/f"); string(b) != "x" || err != nil {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if names, err := rt.ReadDir("/a/b"); len(names) != 1 || names[0] != "f" || err != nil {
		t.Errorf("ReadDir = %v, %v", names, err)
	}
	// Writing the same again is unchanged, as in an apply.
	if changed, err := rt.EnsureFile(th, FileSpec{Path: "/a/b/f", Data: []byte("x"), Mode: 0o640, UID: -1, GID: -1}); changed || err != nil {
		t.Errorf("second write: changed=%v err=%v", changed, err)
	}
	// A deleted directory takes what is under it.
	if _, err := Do(th, Change{Resource: "file:/a", Action: "delete", Leaves: map[string]any{"file:/a": Gone}}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/a/b/f"} {
		if ok, _ := rt.Exists(p); ok {
			t.Errorf("Exists(%s) after a planned delete of /a", p)
		}
	}
	rt.EnsureFile(th, FileSpec{Path: "/u", Mode: 0o600, UID: -1, GID: -1})
	Do(th, Change{Resource: "file:/u", Action: "update", Leaves: map[string]any{"file:/u": PlannedFile{Unknown: true}}}, func() error { return nil })
	if _, err := rt.ReadFile("/u"); !errors.Is(err, ErrKnownAfterApply) {
		t.Errorf("ReadFile of unknown content: %v", err)
	}
}

// Unchanged counts resources once, and not those the run changed: the
// same converged site reports the same number however often a script
// looks at a resource.
func TestCountsUnchangedOncePerResource(t *testing.T) {
	r := &Report{
		Changes:   []Change{{Resource: "dir:/a"}, {Resource: "dir:/a"}, {Resource: "lxc:1", Error: "x"}},
		Unchanged: []string{"dir:/a", "zfs:p", "zfs:p", "lxc:1", "file:/f"},
	}
	if c, u, f := r.Counts(); c != 2 || u != 2 || f != 1 {
		t.Errorf("counts %d, %d, %d; want 2 changed, 2 unchanged, 1 failed", c, u, f)
	}
}
