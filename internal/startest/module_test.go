package startest

import (
	"sort"
	"strings"
	"testing"

	"phoenix/builtins"
)

// The testing module and its documentation (internal/docgen/extra.go)
// name the same functions.
func TestModuleDocumented(t *testing.T) {
	var members, documented []string
	members = append(members, Module(".").AttrNames()...)
	for k := range builtins.Funcs {
		if name, ok := strings.CutPrefix(k, "testing."); ok {
			documented = append(documented, name)
		}
	}
	sort.Strings(members)
	sort.Strings(documented)
	if strings.Join(members, " ") != strings.Join(documented, " ") {
		t.Errorf("testing module members %v, documented %v (internal/docgen/extra.go)", members, documented)
	}
}

func TestDiscover(t *testing.T) {
	files, err := Discover([]string{"../../scripts"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.star") {
			t.Errorf("discovered %s", f)
		}
	}
	if len(files) < 2 {
		t.Errorf("found %v, want scripts/lxc_103_test.star and scripts/mounts_test.star", files)
	}
	names, err := TestNames("../../scripts/mounts_test.star")
	if err != nil || len(names) == 0 || names[0] != "test_plan_creates_the_datasets_and_directories" {
		t.Errorf("TestNames = %v, %v", names, err)
	}
}
