package runtime

import (
	"reflect"
	"testing"
)

func names(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Resource)
	}
	return out
}

func TestSettleRaces(t *testing.T) {
	// Step 0 lost the race for dir:/s (unchanged) and for zfs:p (only
	// touched); step 1 made both.
	s0 := &Report{
		Changes:   []Change{{Resource: "file:/s/a"}, {Resource: "zfs:p/a"}},
		Unchanged: []string{"dir:/s"},
		marks:     []mark{{resource: "dir:/s", at: 0, unchanged: true}, {resource: "zfs:p", at: 1}},
	}
	s1 := &Report{Changes: []Change{{Resource: "dir:/s"}, {Resource: "file:/s/b"}, {Resource: "zfs:p"}, {Resource: "zfs:p/b"}}}
	// Step 2 failed to make what step 0 met: a failure stays where it is.
	s2 := &Report{Changes: []Change{{Resource: "file:/s/a", Error: "boom"}}}
	settleRaces([]*Report{s0, s1, s2})
	if got, want := names(s0.Changes), []string{"dir:/s", "file:/s/a", "zfs:p", "zfs:p/a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("step 0 changes %v, want %v", got, want)
	}
	if got, want := names(s1.Changes), []string{"file:/s/b", "zfs:p/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("step 1 changes %v, want %v", got, want)
	}
	if len(s0.Unchanged) != 0 || !reflect.DeepEqual(s1.Unchanged, []string{"dir:/s"}) {
		t.Errorf("unchanged moved wrong: step 0 %v, step 1 %v", s0.Unchanged, s1.Unchanged)
	}
	if len(s2.Changes) != 1 {
		t.Errorf("step 2's failed change moved: %v", names(s2.Changes))
	}
	// The counts are what they were before settling: dir:/s, which step 1
	// made, is a change and not also unchanged.
	merged := &Report{}
	for _, r := range []*Report{s0, s1, s2} {
		merged.Merge(r)
	}
	if c, u, f := merged.Counts(); c != 6 || u != 0 || f != 1 {
		t.Errorf("counts %d changed, %d unchanged, %d failed; want 6, 0, 1", c, u, f)
	}
}
