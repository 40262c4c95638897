package docgen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"sort"
	"strconv"
	"strings"
)

// The generated files, relative to the repository root.
const (
	MarkdownFile = "docs/builtins.md"
	GoFile       = "builtins/docs_generated.go"
)

// Module is one documented namespace: a builtin module, or the runtime's
// top-level globals (Name "").
type Module struct {
	Name    string
	Summary string // one line, from the package doc
	Doc     string // the doc comment, boilerplate first sentence removed
	Funcs   []Func
	Source  string // directory it came from, relative to the root
}

// Func is one `name(args) - what it returns` entry.
type Func struct {
	Name string // as scripts write it after the module: "write", "param.bool"
	Sig  string // "write(path, content, mode=0o644, owner=None)"
	Desc string // "struct(changed, path)"
}

// Text is the entry as help() shows it.
func (f Func) Text() string { return f.Sig + " - " + f.Desc }

// Key is the name help() and builtins.Docs use: "fs.write", "params".
func (m *Module) Key(f Func) string {
	if m.Name == "" {
		return f.Name
	}
	return m.Name + "." + f.Name
}

// Load reads every builtins/*/ package under root, and the extras
// documented in internal/docgen, sorted by name with the globals first.
func Load(root string) ([]*Module, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "builtins", "*"))
	if err != nil {
		return nil, err
	}
	var mods []*Module
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		m, err := loadPackage(root, dir)
		if err != nil {
			return nil, err
		}
		if m != nil {
			mods = append(mods, m)
		}
	}
	extras, err := loadExtras(root)
	if err != nil {
		return nil, err
	}
	mods = append(mods, extras...)
	seen := map[string]string{}
	for _, m := range mods {
		if prev, dup := seen[m.Name]; dup {
			return nil, fmt.Errorf("module %q is documented twice: %s and %s", m.Name, prev, m.Source)
		}
		seen[m.Name] = m.Source
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
	return mods, nil
}

// parseDir parses the non-test Go files of one directory with comments.
func parseDir(dir string) (*token.FileSet, []*ast.File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
	return fset, files, nil
}

// loadPackage returns the module a builtins/<family> package exports, or
// nil for a directory without one.
func loadPackage(root, dir string) (*Module, error) {
	rel, _ := filepath.Rel(root, dir)
	rel = filepath.ToSlash(rel)
	fset, files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	pkg, err := doc.NewFromFiles(fset, files, "phoenix/"+rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	for _, v := range pkg.Vars {
		spec := valueSpec(v, "Module")
		if spec == nil {
			continue
		}
		lit := compositeLit(spec)
		if lit == nil {
			return nil, fmt.Errorf("%s: Module: want &starlarkstruct.Module{Name: ..., Members: ...}", rel)
		}
		name, ok := stringField(lit, "Name")
		if !ok {
			return nil, fmt.Errorf("%s: Module: Name must be a string literal", rel)
		}
		m, err := newModule(name, summary(pkg.Doc), v.Doc, rel)
		if err != nil {
			return nil, err
		}
		if members, ok := memberKeys(lit); ok {
			if err := checkMembers(m, members); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return nil, nil
}

// loadExtras reads the documentation of names that have no package under
// builtins/ (extra.go in this package).
func loadExtras(root string) ([]*Module, error) {
	const rel = "internal/docgen"
	fset, files, err := parseDir(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	var mods []*Module
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				spec := s.(*ast.ValueSpec)
				if len(spec.Values) != 1 {
					continue
				}
				lit, ok := spec.Values[0].(*ast.CompositeLit)
				if !ok {
					continue
				}
				if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "extra" {
					continue
				}
				name, ok := stringField(lit, "Name")
				if !ok {
					return nil, fmt.Errorf("%s: %s: Name must be a string literal", rel, fset.Position(lit.Pos()))
				}
				text := gd.Doc.Text()
				if spec.Doc != nil {
					text = spec.Doc.Text()
				}
				sum, rest, _ := strings.Cut(strings.TrimSpace(text), "\n\n")
				m, err := newModule(name, strings.Join(strings.Fields(sum), " "), rest, rel)
				if err != nil {
					return nil, err
				}
				mods = append(mods, m)
			}
		}
	}
	return mods, nil
}

func valueSpec(v *doc.Value, name string) *ast.ValueSpec {
	for _, s := range v.Decl.Specs {
		vs := s.(*ast.ValueSpec)
		for i, n := range vs.Names {
			if n.Name == name && i < len(vs.Values) && len(vs.Names) == 1 {
				return vs
			}
		}
	}
	return nil
}

// compositeLit unwraps &T{...}.
func compositeLit(vs *ast.ValueSpec) *ast.CompositeLit {
	e := vs.Values[0]
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = u.X
	}
	lit, _ := e.(*ast.CompositeLit)
	return lit
}

func field(lit *ast.CompositeLit, name string) ast.Expr {
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == name {
			return kv.Value
		}
	}
	return nil
}

func stringField(lit *ast.CompositeLit, name string) (string, bool) {
	bl, ok := field(lit, name).(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// memberKeys returns the keys of a literal Members map; false when the
// members are built some other way and cannot be checked.
func memberKeys(lit *ast.CompositeLit) ([]string, bool) {
	ml, ok := field(lit, "Members").(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	var keys []string
	for _, el := range ml.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return nil, false
		}
		bl, ok := kv.Key.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return nil, false
		}
		k, err := strconv.Unquote(bl.Value)
		if err != nil {
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, true
}

// checkMembers keeps help() complete: every member is documented and
// every documented function exists.
func checkMembers(m *Module, members []string) error {
	have := map[string]bool{}
	for _, k := range members {
		have[k] = true
	}
	documented := map[string]bool{}
	for _, f := range m.Funcs {
		top, _, _ := strings.Cut(f.Name, ".")
		if !have[top] {
			return fmt.Errorf("%s: the Module doc comment documents %s.%s, which is not a member", m.Source, m.Name, f.Name)
		}
		documented[top] = true
	}
	for _, k := range members {
		if !documented[k] {
			return fmt.Errorf("%s: member %s.%s is missing from the Module doc comment (add an indented line `%s(args) - what it returns`)", m.Source, m.Name, k, k)
		}
	}
	return nil
}

// summary turns "Package fs is the Starlark `fs` module: files." into
// "The Starlark `fs` module: files."
func summary(pkgDoc string) string {
	s := firstSentence(pkgDoc)
	if strings.HasPrefix(s, "Package ") {
		if _, rest, ok := strings.Cut(s, " is "); ok && rest != "" {
			s = strings.ToUpper(rest[:1]) + rest[1:]
		}
	}
	return s
}

func firstSentence(text string) string {
	para, _, _ := strings.Cut(strings.TrimSpace(text), "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	if i := strings.Index(para, ". "); i >= 0 {
		return para[:i+1]
	}
	return para
}

// newModule parses a doc comment into prose and function entries, and
// normalises the prose (wrapped at 72 columns) for help() and Markdown.
func newModule(name, sum, text, source string) (*Module, error) {
	text = strings.TrimLeft(strings.TrimPrefix(text, "Module is the "+name+" module."), " \n")
	m := &Module{Name: name, Summary: sum, Source: source}
	var doc []string
	for _, b := range blocks(text) {
		switch b := b.(type) {
		case *comment.Paragraph:
			doc = append(doc, wrap(plain(b.Text), "", 72))
		case *comment.Heading:
			doc = append(doc, plain(b.Text))
		case *comment.List:
			var items []string
			for _, item := range b.Items {
				items = append(items, wrap(itemText(item), "  - ", 72))
			}
			doc = append(doc, strings.Join(items, "\n"))
		case *comment.Code:
			doc = append(doc, indent(b.Text))
			if funcs, ok := parseFuncs(b.Text); ok {
				m.Funcs = append(m.Funcs, funcs...)
			}
		}
	}
	m.Doc = strings.Join(doc, "\n\n")
	seen := map[string]bool{}
	for _, f := range m.Funcs {
		if seen[f.Name] {
			return nil, fmt.Errorf("%s: %s is documented twice", source, m.Key(f))
		}
		seen[f.Name] = true
	}
	if len(m.Funcs) == 0 {
		return nil, fmt.Errorf("%s: the doc comment of module %q lists no functions (an indented block of `name(args) - what it returns` lines)", source, name)
	}
	return m, nil
}

func itemText(item *comment.ListItem) string {
	var parts []string
	for _, c := range item.Content {
		if p, ok := c.(*comment.Paragraph); ok {
			parts = append(parts, plain(p.Text))
		}
	}
	return strings.Join(parts, " ")
}

// wrap fills text into lines of at most width columns; the first line
// starts with lead, the others are indented as deep.
func wrap(text, lead string, width int) string {
	var b strings.Builder
	b.WriteString(lead)
	col := len(lead)
	pad := strings.Repeat(" ", len(lead))
	for i, w := range strings.Fields(text) {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString("\n" + pad)
				col = len(pad)
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func indent(code string) string {
	lines := strings.Split(strings.TrimRight(code, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

// blocks parses doc text. A comment whose first line is indented would be
// read as a paragraph; a leading paragraph, dropped after, keeps the
// function block a code block.
func blocks(text string) []comment.Block {
	var p comment.Parser
	return p.Parse("-\n\n" + text).Content[1:]
}

// parseFuncs reads a code block of entries; false when the block is
// something else (an example). A line indented further continues the
// entry above it.
func parseFuncs(block string) ([]Func, bool) {
	var funcs []Func
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(funcs) == 0 {
				return nil, false
			}
			funcs[len(funcs)-1].Desc += " " + strings.TrimSpace(line)
			continue
		}
		f, ok := parseFunc(line)
		if !ok {
			return nil, false
		}
		funcs = append(funcs, f)
	}
	return funcs, len(funcs) > 0
}

// parseFunc reads `name(args) - desc` or `name - desc`; name may be
// dotted (param.bool).
func parseFunc(line string) (Func, bool) {
	i := 0
	for i < len(line) && (isIdent(line[i]) || line[i] == '.' && i > 0) {
		i++
	}
	name := line[:i]
	if name == "" || name[0] >= '0' && name[0] <= '9' || strings.HasSuffix(name, ".") {
		return Func{}, false
	}
	sig := name
	if i < len(line) && line[i] == '(' {
		depth := 0
		j := i
		for ; j < len(line); j++ {
			if line[j] == '(' {
				depth++
			} else if line[j] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		if j == len(line) {
			return Func{}, false
		}
		sig = line[:j+1]
		i = j + 1
	}
	rest, ok := strings.CutPrefix(line[i:], " - ")
	if !ok || strings.TrimSpace(rest) == "" {
		return Func{}, false
	}
	return Func{Name: name, Sig: sig, Desc: strings.TrimSpace(rest)}, true
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Generate renders both files from the sources under root.
func Generate(root string) (markdown, goSource []byte, err error) {
	mods, err := Load(root)
	if err != nil {
		return nil, nil, err
	}
	goSource, err = GoSource(mods)
	if err != nil {
		return nil, nil, err
	}
	return Markdown(mods), goSource, nil
}

// Markdown renders docs/builtins.md.
func Markdown(mods []*Module) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated by internal/docgen from the doc comments in builtins/ and internal/docgen/extra.go; DO NOT EDIT. Run: go generate ./... -->\n\n")
	b.WriteString("# Builtin reference\n\n")
	b.WriteString("Every script, loaded module and REPL session sees these names. In the REPL, `help(name)` prints the same text and `dir(module)` lists a module's members.\n\n")
	for _, m := range mods {
		if m.Name == "" {
			fmt.Fprintf(&b, "- [Globals](#globals): %s\n", m.Summary)
		} else {
			fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", m.Name, m.Name, m.Summary)
		}
	}
	for _, m := range mods {
		b.WriteString("\n")
		if m.Name == "" {
			b.WriteString("## Globals\n\n")
		} else {
			fmt.Fprintf(&b, "## %s\n\n", m.Name)
		}
		if m.Summary != "" {
			fmt.Fprintf(&b, "%s\n\n", m.Summary)
		}
		writeBlocks(&b, m)
		fmt.Fprintf(&b, "Source: `%s`\n", m.Source)
	}
	return b.Bytes()
}

func writeBlocks(b *bytes.Buffer, m *Module) {
	for _, blk := range blocks(m.Doc) {
		switch blk := blk.(type) {
		case *comment.Paragraph:
			fmt.Fprintf(b, "%s\n\n", wrap(plain(blk.Text), "", 72))
		case *comment.Heading:
			fmt.Fprintf(b, "### %s\n\n", plain(blk.Text))
		case *comment.List:
			for _, item := range blk.Items {
				fmt.Fprintf(b, "%s\n", wrap(itemText(item), "- ", 72))
			}
			b.WriteString("\n")
		case *comment.Code:
			funcs, ok := parseFuncs(blk.Text)
			if !ok {
				fmt.Fprintf(b, "```python\n%s```\n\n", blk.Text)
				continue
			}
			for _, f := range funcs {
				sig := f.Sig
				if m.Name != "" {
					sig = m.Name + "." + sig
				}
				fmt.Fprintf(b, "- `%s` - %s\n", sig, f.Desc)
			}
			b.WriteString("\n")
		}
	}
}

// plain renders comment text as written: the authors use Markdown-style
// backticks, which comment.Printer would escape.
func plain(text []comment.Text) string {
	var b strings.Builder
	for _, t := range text {
		switch t := t.(type) {
		case comment.Plain:
			b.WriteString(string(t))
		case comment.Italic:
			b.WriteString(string(t))
		case *comment.Link:
			b.WriteString(plain(t.Text))
		case *comment.DocLink:
			b.WriteString(plain(t.Text))
		}
	}
	return b.String()
}

// GoSource renders builtins/docs_generated.go.
func GoSource(mods []*Module) ([]byte, error) {
	docs := map[string]string{}
	for _, m := range mods {
		if m.Name != "" {
			docs[m.Name] = strings.TrimSpace(m.Summary + "\n\n" + m.Doc)
		}
		for _, f := range m.Funcs {
			docs[m.Key(f)] = f.Text()
		}
	}
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/docgen from the modules' doc comments; DO NOT EDIT.\n\n")
	b.WriteString("package builtins\n\n")
	b.WriteString("// Docs is the reference help() shows: a module's documentation under its\n")
	b.WriteString("// name (\"fs\") and each function's entry under module.function\n")
	b.WriteString("// (\"fs.write\"); the runtime's globals under their own names (\"params\").\n")
	b.WriteString("var Docs = map[string]string{\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%s: %s,\n", strconv.Quote(k), strconv.Quote(docs[k]))
	}
	b.WriteString("}\n")
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", GoFile, err)
	}
	return out, nil
}

// Write generates both files under root, each written atomically.
func Write(root string) error {
	md, src, err := Generate(root)
	if err != nil {
		return err
	}
	if err := machine.WriteFileAtomic(filepath.Join(root, MarkdownFile), md, 0o644, -1, -1); err != nil {
		return err
	}
	return machine.WriteFileAtomic(filepath.Join(root, GoFile), src, 0o644, -1, -1)
}
