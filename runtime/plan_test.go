package runtime

import (
	"errors"
	"io"
	"testing"
)

func TestDoOrPlan(t *testing.T) {
	for _, dry := range []bool{false, true} {
		rt := newSim(t, dry)
		th := rt.NewThread("t", rt.Report(), io.Discard)
		var applied, recorded int
		c := Change{Resource: "x:1", Action: "create"}
		if err := DoOrPlan(th, c, func() error { applied++; return nil }, func() { recorded++ }); err != nil {
			t.Fatal(err)
		}
		// A failed apply records nothing either.
		boom := errors.New("boom")
		if err := DoOrPlan(th, c, func() error { applied++; return boom }, func() { recorded++ }); dry == (err != nil) {
			t.Errorf("dry-run=%v: err %v", dry, err)
		}
		want := [2]int{2, 0}
		if dry {
			want = [2]int{0, 2}
		}
		if got := [2]int{applied, recorded}; got != want {
			t.Errorf("dry-run=%v: applied, recorded = %v, want %v", dry, got, want)
		}
		rt.Release(th)
	}
}
