package lint

import "testing"

func TestDidYouMean(t *testing.T) {
	names := []string{"write", "read", "mkdir", "remove"}
	for in, want := range map[string]string{
		"wrte":    `, did you mean "write"?`,
		"wirte":   `, did you mean "write"?`,
		"raed":    `, did you mean "read"?`,
		"perms":   "",
		"destroy": "",
	} {
		if got := DidYouMean(in, names); got != want {
			t.Errorf("DidYouMean(%q) = %q, want %q", in, got, want)
		}
	}
}
