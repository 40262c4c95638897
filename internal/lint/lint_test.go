package lint_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/builtins"
	"phoenix/internal/lint"
	"phoenix/runtime"
)

func checker(t *testing.T) *lint.Checker {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Options{DryRun: true, RootDir: t.TempDir(), Families: builtins.All()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return &lint.Checker{Predeclared: rt.Predeclared(), Funcs: builtins.Funcs, Options: runtime.FileOptions}
}

func TestFindings(t *testing.T) {
	c := checker(t)
	for _, tc := range []struct {
		name, src string
		want      []string // substrings, one per finding, in order
	}{
		{"clean", "fs.write(\"/a\", \"b\", mode = 0o600)\n", nil},
		{"member", "fs.wrte(\"/a\", \"b\")\n", []string{`1:4: fs has no member wrte, did you mean "write"?`}},
		{"kwarg", "fs.write(\"/a\", \"b\", perms = 0o600)\n", []string{"1:21: fs.write does not take the keyword argument perms"}},
		{"kwarg typo suggests", "fs.remove(\"/a\", recursiv = True)\n", []string{`keyword argument recursiv, did you mean "recursive"?`}},
		{"any keyword for **overrides", "proxmox.lxc_ensure(config.site().lxc(103), cores = 2)\n", nil},
		{"keyword-only is not positional", "json.encode_indent({}, \"\", \"\\t\")\n", []string{"json.encode_indent takes at most 1 positional arguments, got 3"}},
		{"missing", "zfs.snapshot(\"p/d\")\n", []string{"zfs.snapshot: missing argument snap"}},
		{"unpacked arguments are not counted", "a = [\"/a\"]\nfs.read(*a)\n", nil},
		{"shadowed module", "def f(fs):\n    return fs.wrte\n", nil},
		{"global shadows module", "fs = struct(wrte = 1)\nx = fs.wrte\n", nil},
		{"phoenix struct", "x = phoenix.simm\n", []string{`phoenix has no member simm, did you mean "sim"?`}},
		{"undefined", "fss.write(\"/a\", \"b\")\n", []string{`undefined: fss, did you mean "fs"?`}},
		{"params passed whole", "p = params(a = param.bool())\nprint(p)\n", nil},
		{"params unused", "p = params(a = param.bool(), b = param.int())\nprint(p.b)\n", []string{"1:12: parameter a is declared but never used"}},
		{"params in a function", "p = params(a = param.bool())\ndef f():\n    return p.a\n", nil},
		{"params not assigned", "params(a = param.bool())\n", []string{"parameter a is declared but never used"}},
		{"unused load", "load(\"x.star\", \"a\", _b = \"b\", c = \"c\")\nprint(c)\n", []string{"1:17: a is loaded but never used"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.File("t.star", []byte(tc.src))
			if len(got) != len(tc.want) {
				t.Fatalf("findings %v, want %d: %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// scripts.run with a literal path is checked against the script's own
// params(), directly and as a parallel() task.
func TestScriptsRunParams(t *testing.T) {
	c := checker(t)
	dir := t.TempDir()
	step := "P = params(kind = param.string(\"all\"), restart = param.bool())\nprint(P)\n"
	if err := os.WriteFile(filepath.Join(dir, "step.star"), []byte(step), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"declared", "scripts.run(\"step.star\", kind = \"vm\", restart = True)\n", nil},
		{"undeclared", "scripts.run(\"step.star\", kidn = \"vm\")\n", []string{`1:26: step.star declares no parameter kidn, did you mean "kind"? (it declares kind, restart)`}},
		{"task", "parallel([task(scripts.run, \"step.star\", name = \"s\", needs = [], restart = True, max = 2)])\n", []string{"1:82: step.star declares no parameter max"}},
		{"missing script", "scripts.run(\"nope.star\")\n", []string{"1:13: scripts.run: no script nope.star beside this file"}},
		{"computed path", "p = \"nope.star\"\nscripts.run(p, x = 1)\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.File(filepath.Join(dir, "main.star"), []byte(tc.src))
			if len(got) != len(tc.want) {
				t.Fatalf("findings %v, want %d: %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("finding %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
