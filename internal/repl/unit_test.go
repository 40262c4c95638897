package repl

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/builtins"
	"phoenix/builtins/fs"
	"phoenix/builtins/secret"
	"phoenix/internal/site"
	"phoenix/runtime"
)

func mkstruct(kv ...any) *starlarkstruct.Struct {
	d := starlark.StringDict{}
	for i := 0; i < len(kv); i += 2 {
		d[kv[i].(string)] = kv[i+1].(starlark.Value)
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, d)
}

func TestDisplay(t *testing.T) {
	secret := runtime.NewSecret([]byte("hunter2"))
	for _, c := range []struct {
		name string
		v    starlark.Value
		want string
	}{
		{"none", starlark.None, ""},
		{"string is repr", starlark.String("a\nb"), "\"a\\nb\"\n"},
		{"struct", mkstruct("changed", starlark.True, "path", starlark.String("/x")),
			"changed = True\npath    = \"/x\"\n"},
		{"secret field", mkstruct("password", secret), "password = <secret>\n"},
		{"table", starlark.NewList([]starlark.Value{
			mkstruct("vmid", starlark.MakeInt(103), "name", starlark.String("ca")),
			mkstruct("vmid", starlark.MakeInt(104), "name", starlark.String("dns server"), "pw", secret),
		}), "NAME        VMID  PW\nca          103   -\ndns server  104   <secret>\n"},
		{"mixed list is repr", starlark.NewList([]starlark.Value{mkstruct("a", starlark.MakeInt(1)), starlark.MakeInt(2)}),
			"[struct(a = 1), 2]\n"},
		{"empty list", starlark.NewList(nil), "[]\n"},
		{"secret", secret, "<secret>\n"},
		{"help text is raw", helpText("a\n\tb\n"), "a\n\tb\n"},
		{"site record", (*site.Site)(nil).Wrap(&site.RootFS{Storage: "local-zfs", SizeGB: 8}),
			"size_gb = 8\nstorage = \"local-zfs\"\n"},
		{"site records", starlark.NewList([]starlark.Value{
			(*site.Site)(nil).Wrap(&site.RootFS{Storage: "local-zfs", SizeGB: 8}),
		}), "SIZE_GB  STORAGE\n8        local-zfs\n"},
	} {
		var b bytes.Buffer
		display(&b, c.v)
		if b.String() != c.want {
			t.Errorf("%s: got %q, want %q", c.name, b.String(), c.want)
		}
		if strings.Contains(b.String(), "hunter2") {
			t.Errorf("%s: secret shown", c.name)
		}
	}
}

func TestComplete(t *testing.T) {
	globals := starlark.StringDict{
		"secret": secret.Module,
		"fs":     fs.Module,
		"st":     mkstruct("vmid", starlark.MakeInt(1), "volumes", starlark.NewList(nil), "inner", mkstruct("deep", starlark.None)),
		"second": starlark.MakeInt(2),
		"_priv":  starlark.None,
		"u":      runtime.NewSecret([]byte("x")),
	}
	c := completer{globals: func() starlark.StringDict { return globals }}
	for _, tc := range []struct {
		line string
		want []string
		n    int
	}{
		{"secr", []string{"et"}, 4},
		{"sec", []string{"ond", "ret"}, 3},
		{"x = fs.wr", []string{"ite"}, 2},
		{"fs.", []string{"chmod", "chown", "exists", "glob", "list", "mkdir", "move", "read", "remove", "stat", "write"}, 0},
		{"st.v", []string{"mid", "olumes"}, 1},
		{"st.inner.d", []string{"eep"}, 1},
		{"le", []string{"n"}, 2},                   // Starlark's own built-ins
		{"_p", []string{"riv"}, 2},                 // private names only when asked
		{"", []string{indentUnit}, 0},              // Tab on an empty line indents
		{"    ", []string{indentUnit}, 0},          // ... and in a block
		{"f(", nil, 0},                             // nothing to complete
		{"1.", nil, 0},                             // a number
		{"nosuch.x", nil, 0},                       // unknown global
		{"second.x", nil, 0},                       // no attributes
		{"fs..", nil, 0},                           // malformed
		{"print(secret.ge", []string{"nerate"}, 2}, // inside a call
	} {
		got, n := c.Do([]rune(tc.line), len([]rune(tc.line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if !reflect.DeepEqual(gs, tc.want) || n != tc.n {
			t.Errorf("Do(%q) = %q, %d; want %q, %d", tc.line, gs, n, tc.want, tc.n)
		}
	}
	// Completing after the cursor's word ignores the rest of the line.
	line := []rune("fs.wr + x")
	if got, n := c.Do(line, 5); len(got) != 1 || string(got[0]) != "ite" || n != 2 {
		t.Errorf("mid-line: %q %d", got, n)
	}
	if names := c.candidates("No"); !slices.Contains(names, "None") {
		t.Errorf("None not offered: %v", names)
	}
	if names := c.candidates("s"); slices.Contains(names, "_priv") {
		t.Errorf("private name offered: %v", names)
	}
}

func TestHistoryPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	if p, _ := HistoryPath(); p != "/state/phoenix/history" {
		t.Errorf("XDG_STATE_HOME: %s", p)
	}
	t.Setenv("HOME", "/home/op")
	t.Setenv("XDG_STATE_HOME", "relative/dir")
	if p, _ := HistoryPath(); p != "/home/op/.local/state/phoenix/history" {
		t.Errorf("relative XDG_STATE_HOME is ignored: %s", p)
	}
	t.Setenv("XDG_STATE_HOME", "")
	if p, _ := HistoryPath(); p != "/home/op/.local/state/phoenix/history" {
		t.Errorf("default: %s", p)
	}
}

func TestHistoryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "phoenix", "history")
	h, lines, err := openHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 0 {
		t.Fatalf("new history has lines: %q", lines)
	}
	h.add("x = 1")
	h.add("   ")
	h.add("fs.read(\"/etc/hosts\")")
	h.close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("history mode %04o, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Errorf("history dir mode %04o, want 0700", st.Mode().Perm())
	}
	_, lines, err = openHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x = 1", `fs.read("/etc/hosts")`}; !reflect.DeepEqual(lines, want) {
		t.Errorf("reloaded %q, want %q", lines, want)
	}

	// A loose mode is tightened; a long history is trimmed to the newest.
	var b strings.Builder
	for i := 0; i < 2*historyKeep+5; i++ {
		b.WriteString("line " + strings.Repeat("x", i%7) + "\n")
	}
	b.WriteString("newest\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	h, lines, err = openHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	h.close()
	if len(lines) != historyKeep || lines[len(lines)-1] != "newest" {
		t.Errorf("loaded %d lines ending %q", len(lines), lines[len(lines)-1])
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != historyKeep {
		t.Errorf("trimmed file has %d lines, want %d", n, historyKeep)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode after trim %04o", st.Mode().Perm())
	}
}

// help() must know every builtin a session has: a module added without
// regenerating builtins.Docs fails here.
func TestHelpCoversEveryBuiltin(t *testing.T) {
	rt, err := runtime.New(context.Background(), runtime.Options{
		Sim: true, RootDir: t.TempDir(), Families: builtins.All(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	s := &session{rt: rt, docs: builtins.Docs, globals: rt.Predeclared()}
	for name, v := range s.globals {
		switch v := v.(type) {
		case *starlarkstruct.Module:
			if name != "param" {
				if _, ok := builtins.Docs[name]; !ok {
					t.Errorf("no documentation for module %s (run: go generate ./...)", name)
				}
			}
			for _, m := range v.AttrNames() {
				if _, ok := builtins.Docs[v.Name+"."+m]; !ok {
					t.Errorf("no documentation for %s.%s (run: go generate ./...)", v.Name, m)
				}
			}
		case *starlark.Builtin:
			if _, ok := builtins.Docs[v.Name()]; !ok {
				t.Errorf("no documentation for %s (run: go generate ./...)", v.Name())
			}
		}
	}
	for _, c := range []struct {
		x    starlark.Value
		want string
	}{
		{s.globals["fs"].(*starlarkstruct.Module).Members["write"], "fs.write(path, content, mode=None, owner=None, readable=False) -> struct(changed, path)\n\n  path      str\n"},
		{s.globals["fs"], "\twrite(path, content"},
		{starlark.String("exec.run"), "exec.run(argv"},
		{s.globals["param"], "param.bool(default=False"},
		{s.globals["parallel"], "parallel(steps, max=8)"},
		{starlark.Universe["len"], "a Starlark built-in"},
		{mkstruct("a", starlark.None), "fields: a"},
	} {
		if got := s.helpFor(c.x); !strings.Contains(got, c.want) {
			t.Errorf("help(%s) = %q, want it to contain %q", c.x, got, c.want)
		}
	}
}

// On piped input Ctrl-C (or SIGTERM) stops the running statement and
// ends the session, even while it waits for more input.
func TestSignalEndsPipedSession(t *testing.T) {
	for _, input := range []string{"while True:\n    pass\n\n", "x = 1\n"} {
		rt, err := runtime.New(context.Background(), runtime.Options{
			Sim: true, RootDir: t.TempDir(), Families: builtins.All(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		pr, pw := io.Pipe()
		sigs := make(chan os.Signal, 1)
		var stdout, stderr bytes.Buffer
		done := make(chan int)
		go func() {
			n, _ := Run(rt, Options{Stdin: pr, Stdout: &stdout, Stderr: &stderr, Signals: sigs})
			done <- n
		}()
		pw.Write([]byte(input)) // the pipe stays open: the session waits for more
		time.Sleep(100 * time.Millisecond)
		sigs <- os.Interrupt
		select {
		case n := <-done:
			if strings.HasPrefix(input, "while") && (n != 1 || !strings.Contains(stderr.String(), "cancelled")) {
				t.Errorf("loop: failed=%d, stderr %q", n, stderr.String())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: the session did not end on the signal", input)
		}
		pw.Close()
	}
}
