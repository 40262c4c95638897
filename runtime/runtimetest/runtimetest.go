// Package runtimetest runs .star test files against a fresh --sim runtime
// in a temporary root. Each file loads "@stdlib//assert.star" and fails
// the test with a backtrace when an assertion fails.
package runtimetest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// Options adjust the runtime each file runs in.
type Options struct {
	Families  []runtime.Family
	Globals   starlark.StringDict
	Flags     map[string]string
	DryRun    bool
	ConfigDir string
	// Setup runs after the runtime is made, before the file runs.
	Setup func(t *testing.T, rt *runtime.Runtime)
}

// New makes a --sim runtime rooted in a fresh temporary directory.
func New(t *testing.T, o Options) *runtime.Runtime {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Options{
		Sim:       true,
		DryRun:    o.DryRun,
		RootDir:   filepath.Join(t.TempDir(), "root"),
		ConfigDir: o.ConfigDir,
		Stderr:    testWriter{t},
		Families:  o.Families,
		Globals:   o.Globals,
		Flags:     o.Flags,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}

// Run executes every file matching pattern as a subtest. A file whose
// leading comments hold a line "# needs root: WHY" is skipped, saying
// why, when the test does not run as root.
func Run(t *testing.T, pattern string, o Options) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no test files match %s", pattern)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".star"), func(t *testing.T) {
			if why := needsRoot(t, f); why != "" {
				testkit.NeedRoot(t, why)
			}
			rt := New(t, o)
			if o.Setup != nil {
				o.Setup(t, rt)
			}
			if _, err := rt.ExecScript(f); err != nil {
				var ee *starlark.EvalError
				if errors.As(err, &ee) {
					t.Fatal(ee.Backtrace())
				}
				t.Fatal(err)
			}
		})
	}
}

// needsRoot returns the reason in a file's "# needs root:" line.
func needsRoot(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		if why, ok := strings.CutPrefix(line, "# needs root:"); ok {
			return strings.TrimSpace(why)
		}
	}
	return ""
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
