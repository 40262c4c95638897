package suggest

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"owner_uid", "owner_gid", "host_path", "container_path", "mode", "read_only"}
	for in, want := range map[string]string{
		"ownr_uid": "owner_uid", "onwer_gid": "owner_gid", "Mode": "mode", "readonly": "read_only",
		"host-path": "host_path", "colour": "", "x": "", "container": "",
	} {
		if got := Closest(in, keys); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	fns := []string{"write", "read", "mkdir", "remove"}
	for in, want := range map[string]string{"wrte": "write", "wirte": "write", "raed": "read", "perms": "", "destroy": ""} {
		if got := Closest(in, fns); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}
