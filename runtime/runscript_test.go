package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/runtime/runtimetest"
)

// writeScripts writes name -> source under a fresh directory.
func writeScripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// step.star writes a file named by its parameters, so each run shows
// which values it got.
const stepScript = `
P = params(
    n = param.int(0),
    tag = param.string("default"),
    loud = param.bool(),
)
fs.write("/srv/steps/%s-%d" % (P.tag, P.n), "loud" if P.loud else "quiet")
if P.loud:
    check.ok("step %d" % P.n, P.tag)
print("step %s %d" % (P.tag, P.n))
`

// Steps of parallel() each run a script with their own parameters: a
// parameter is the running script's, not the run's.
func TestScriptsRunParamsPerStep(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"sub/step.star": stepScript,
		"main.star": `
r = scripts.run("sub/step.star", n = 1, tag = "first")
assert_eq(r.changed, 3)  # /srv, /srv/steps and the file
assert_eq(r.failed_checks, 0)
results = parallel([task(scripts.run, "sub/step.star", n = i, tag = "p", loud = i % 2 == 0, name = "s%d" % i) for i in range(8)])
assert_eq([x.changed for x in results], [1] * 8)
assert_eq(scripts.glob("sub/*.star"), ["sub/step.star"])
`,
	})
	for _, dry := range []bool{true, false} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All(), DryRun: dry, Globals: starlark.StringDict{"assert_eq": assertEq}})
			if _, err := rt.ExecScript(filepath.Join(dir, "main.star")); err != nil {
				t.Fatal(backtrace(err))
			}
			var got []string
			for _, c := range rt.Report().Changes {
				if strings.HasPrefix(c.Resource, "file:") {
					got = append(got, strings.TrimPrefix(c.Resource, "file:/srv/steps/"))
				}
			}
			want := "first-1 p-0 p-1 p-2 p-3 p-4 p-5 p-6 p-7"
			if strings.Join(got, " ") != want {
				t.Errorf("files, in report order: %q, want %q", strings.Join(got, " "), want)
			}
			var checks []string
			for _, c := range rt.Report().Checks {
				checks = append(checks, c.Name)
			}
			if s := strings.Join(checks, ","); s != "step 0,step 2,step 4,step 6" {
				t.Errorf("checks: %s", s)
			}
			if !dry {
				b, err := os.ReadFile(filepath.Join(rt.Root.Dir(), "srv/steps/p-4"))
				if err != nil || string(b) != "loud" {
					t.Errorf("p-4: %q %v, want loud", b, err)
				}
			}
		})
	}
}

func TestScriptsRunErrors(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"step.star":   stepScript,
		"broken.star": "def inner():\n    fail(\"broken on purpose\")\n\ninner()\n",
		"a.star":      "scripts.run(\"b.star\")\n",
		"b.star":      "scripts.run(\"a.star\")\n",
	})
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"unknown", `scripts.run("step.star", tga = "x")`, []string{"scripts.run: ", "step.star: no parameter tga (did you mean tag?)"}},
		{"type", `scripts.run("step.star", n = "1")`, []string{"scripts.run: ", "step.star: parameter n: want int, got string"}},
		{"missing", `scripts.run("nope.star")`, []string{"scripts.run: ", "nope.star: no such file"}},
		{"positional", `scripts.run("step.star", 1)`, []string{"scripts.run: want the script's path"}},
		{"backtrace", `scripts.run("broken.star")`, []string{"main.star:1:", "scripts.run: ", "broken.star failed:", "broken.star:4:6: in <toplevel>", "broken.star:2:9: in inner", "broken on purpose"}},
		{"cycle", `scripts.run("a.star")`, []string{"scripts run one another in a cycle: ", "a.star -> ", "b.star -> ", "a.star"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			main := filepath.Join(dir, "main.star")
			if err := os.WriteFile(main, []byte(c.src+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All()})
			_, err := rt.ExecScript(main)
			if err == nil {
				t.Fatal("no error")
			}
			msg := backtrace(err)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if len(rt.Report().Changes) != 0 {
				t.Errorf("a refused run changed something: %v", rt.Report().Changes)
			}
		})
	}
}

func backtrace(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}

var assertEq = starlark.NewBuiltin("assert_eq", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	if eq, err := starlark.Equal(args[0], args[1]); err != nil || !eq {
		return nil, fmt.Errorf("got %s, want %s", args[0], args[1])
	}
	return starlark.None, nil
})
