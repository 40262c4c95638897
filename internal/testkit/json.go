package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// EditJSON rewrites the JSON object in the file at path through edit, as
// a test changes one field of a site config.
func EditJSON(t testing.TB, path string, edit func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(m)
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// SiteConfig copies the repository's example site (config/) into a
// temporary directory, for a test that edits it (EditJSON), and returns
// the directory.
func SiteConfig(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(RepoDir(t), "config")
	for _, f := range []string{"phoenix_hypervisor_config.json", "phoenix_lxc_configs.json", "phoenix_vm_configs.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
