package docgen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The checked-in files must be what the generator makes from today's
// doc comments.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	md, src, err := Generate(root)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{{MarkdownFile, md}, {GoFile, src}} {
		have, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v (run: go generate ./...)", f.path, err)
			continue
		}
		if !bytes.Equal(have, f.want) {
			t.Errorf("%s is out of date with the doc comments (run: go generate ./...); first difference: %s", f.path, firstDiff(have, f.want))
		}
	}
}

func firstDiff(have, want []byte) string {
	h := strings.Split(string(have), "\n")
	w := strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl {
			return "line " + strconv.Itoa(i+1) + ": have " + strconv.Quote(hl) + ", want " + strconv.Quote(wl)
		}
	}
	return "none"
}

func TestParseFunc(t *testing.T) {
	for _, c := range []struct {
		line           string
		ok             bool
		name, sig, des string
	}{
		{"write(path, content, mode=0o644) - struct(changed, path)", true, "write", "write(path, content, mode=0o644)", "struct(changed, path)"},
		{"param.bool(default=False) - a declaration", true, "param.bool", "param.bool(default=False)", "a declaration"},
		{"ensure(path, opts=struct(a=1)) - x - y", true, "ensure", "ensure(path, opts=struct(a=1))", "x - y"},
		{"VERSION - the version string", true, "VERSION", "VERSION", "the version string"},
		{"x = fs.read(\"/etc/hosts\")", false, "", "", ""},
		{"write(path - missing paren", false, "", "", ""},
		{"write(path)", false, "", "", ""},
		{"write(path) -", false, "", "", ""},
		{"9lives() - no", false, "", "", ""},
		{".hidden() - no", false, "", "", ""},
	} {
		f, ok := parseFunc(c.line)
		if ok != c.ok {
			t.Errorf("parseFunc(%q): ok = %v, want %v", c.line, ok, c.ok)
			continue
		}
		if ok && (f.Name != c.name || f.Sig != c.sig || f.Returns != c.des) {
			t.Errorf("parseFunc(%q) = %+v, want %s | %s | %s", c.line, f, c.name, c.sig, c.des)
		}
	}
}

// tree writes a fake repository: one builtins package per entry, and the
// extras file.
func tree(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, src := range pkgs {
		dir := filepath.Join(root, "builtins", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ex := filepath.Join(root, "internal", "docgen")
	if err := os.MkdirAll(ex, 0o755); err != nil {
		t.Fatal(err)
	}
	extra := "package docgen\n\ntype extra struct{ Name string }\n\n// Top-level names.\n//\n//\thello(who) - a greeting\nvar g = extra{Name: \"\"}\n"
	if err := os.WriteFile(filepath.Join(ex, "extra.go"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "builtins", "builtins.go"), []byte("package builtins\n"), 0o644)
	return root
}

const zfsSrc = `// Package zfs is the Starlark ` + "`zfs`" + ` module: datasets.
package zfs

// Module is the zfs module. Datasets are named pool/path.
//
//	dataset_ensure(name, properties={}) - struct(changed, name)
//	    properties maps ZFS property names to values
//	list(prefix="") - sorted dataset names
//
// For example:
//
//	zfs.dataset_ensure("tank/x", properties = {"compression": "lz4"})
var Module = &starlarkstruct.Module{
	Name: "zfs",
	Members: starlark.StringDict{
		"dataset_ensure": nil,
		"list":           nil,
	},
}
`

// A module added later is picked up with no change to the generator.
func TestNewModule(t *testing.T) {
	root := tree(t, map[string]string{"zfs": zfsSrc})
	mods, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2 || mods[0].Name != "" || mods[1].Name != "zfs" {
		t.Fatalf("modules: %+v", mods)
	}
	z := mods[1]
	if z.Summary != "The Starlark `zfs` module: datasets." {
		t.Errorf("summary %q", z.Summary)
	}
	if len(z.Funcs) != 2 || z.Funcs[0].Returns != "struct(changed, name)" || z.Funcs[0].Desc != "properties maps ZFS property names to values" {
		t.Errorf("funcs %+v", z.Funcs)
	}
	md, src, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## zfs\n\nThe Starlark `zfs` module: datasets.\n\nDatasets are named pool/path.\n",
		"- `zfs.dataset_ensure(name, properties={})` - struct(changed, name)\n  - `name`\n  - `properties`, default `{}`\n\n  properties maps",
		"```python\nzfs.dataset_ensure(\"tank/x\"",
		"- `hello(who)` - a greeting",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	docs := parseDocs(t, src)
	want := map[string]string{
		"zfs.list": "zfs.list(prefix=\"\") -> sorted dataset names\n\n  prefix   (default \"\")",
		"hello":    "hello(who) -> a greeting\n\n  who",
	}
	for k, v := range want {
		if docs[k] != v {
			t.Errorf("Docs[%q] = %q, want %q", k, docs[k], v)
		}
	}
	if !strings.HasPrefix(docs["zfs"], "The Starlark `zfs` module: datasets.\n\nDatasets are named pool/path.\n\n\tdataset_ensure(") {
		t.Errorf("Docs[zfs] = %q", docs["zfs"])
	}
}

// parseDocs reads the map literal back from generated Go source.
func parseDocs(t *testing.T, src []byte) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "docs.go", src, 0)
	if err != nil {
		t.Fatalf("generated Go does not parse: %v", err)
	}
	out := map[string]string{}
	var docs ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Names[0].Name == "Docs" {
			docs = vs
		}
		return docs == nil
	})
	ast.Inspect(docs, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		k, _ := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
		v, _ := strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
		out[k] = v
		return false
	})
	return out
}

func TestDocMemberMismatch(t *testing.T) {
	undocumented := strings.Replace(zfsSrc, `"list":           nil,`, `"list": nil, "destroy": nil,`, 1)
	nonMember := strings.Replace(zfsSrc, `"list":           nil,`, "", 1)
	noFuncs := "package log\n\n// Module is the log module.\nvar Module = &starlarkstruct.Module{Name: \"log\"}\n"
	for name, c := range map[string]struct{ src, want string }{
		"undocumented": {undocumented, "member zfs.destroy is missing from the Module doc comment"},
		"non-member":   {nonMember, "documents zfs.list, which is not a member"},
		"no functions": {noFuncs, `module "log" lists no functions`},
	} {
		pkg := "zfs"
		if name == "no functions" {
			pkg = "log"
		}
		_, err := Load(tree(t, map[string]string{pkg: c.src}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	f, ok := parseFunc(`task(fn: callable, *args: any, name: str|None = None, needs: list = [], **kwargs: any) - a step`)
	if !ok {
		t.Fatal("not parsed")
	}
	if f.Sig != "task(fn, *args, name=None, needs=[], **kwargs)" {
		t.Errorf("sig %q", f.Sig)
	}
	want := []Param{
		{Name: "fn", Type: "callable"},
		{Name: "args", Type: "any", Varargs: true},
		{Name: "name", Type: "str|None", Default: "None", KeywordOnly: true},
		{Name: "needs", Type: "list", Default: "[]", KeywordOnly: true},
		{Name: "kwargs", Type: "any", Kwargs: true},
	}
	if fmt.Sprint(f.Params) != fmt.Sprint(want) {
		t.Errorf("params\n got %+v\nwant %+v", f.Params, want)
	}
	f, ok = parseFunc(`indent(str: str, *, prefix: str = "a, b", indent: str = "\t") - text`)
	if !ok || f.Sig != `indent(str, *, prefix="a, b", indent="\t")` || len(f.Params) != 3 || !f.Params[1].KeywordOnly || f.Params[1].Default != `"a, b"` {
		t.Errorf("kw-only: %v %+v", ok, f)
	}
	for _, bad := range []string{"f(a b) - x", "f(a=) - x", "f(1a) - x", "f(a, ) - x"} {
		if _, ok := parseFunc(bad); ok {
			t.Errorf("parseFunc(%q) accepted", bad)
		}
	}
}

// Every family, including one added later, declares a type for each
// parameter: help(), phoenix doc and the docs show them.
func TestEveryParameterTyped(t *testing.T) {
	mods, err := Load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		for _, f := range m.Funcs {
			for _, p := range f.Params {
				if p.Type == "" {
					t.Errorf("%s: %s: parameter %s has no type; write it as `%s: str` (or int, bool, list, dict, struct, secret, any, a|b) in the doc comment", m.Source, m.Key(f), p.Name, p.Name)
				}
			}
		}
	}
}

// A documented parameter name the code does not accept would make
// phoenix check reject correct calls: every one must appear as a string
// literal (an UnpackArgs name, "?" optional) in its family's Go code.
func TestDocumentedParamsExist(t *testing.T) {
	root := filepath.Join("..", "..")
	mods, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range mods {
		if !strings.HasPrefix(m.Source, "builtins/") {
			continue
		}
		fset, files, err := parseDir(filepath.Join(root, m.Source))
		if err != nil {
			t.Fatal(err)
		}
		_ = fset
		lits := map[string]bool{}
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					if s, err := strconv.Unquote(bl.Value); err == nil {
						lits[strings.TrimSuffix(s, "?")] = true
					}
				}
				return true
			})
		}
		for _, f := range m.Funcs {
			for _, p := range f.Params {
				if p.Varargs || p.Kwargs {
					continue
				}
				checked++
				if !lits[p.Name] && !lits[p.Name+"?"] {
					t.Errorf("%s: %s documents parameter %s, which no string literal in %s names (a typo, or a renamed argument?)", m.Source, m.Key(f), p.Name, m.Source)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no parameter checked")
	}
}
