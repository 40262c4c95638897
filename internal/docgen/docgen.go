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

	"go.starlark.net/syntax"
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

// Func is one `name(args) - what it returns` entry, with the lines
// indented below it as its description.
type Func struct {
	Name    string   // as scripts write it after the module: "write", "param.bool"
	Sig     string   // without types: "write(path, content, mode=0o644, owner=None)"
	Params  []Param  // nil for a name that is not called
	Returns string   // "struct(changed, path)"
	Desc    string   // the indented lines below the entry, joined
	typed   string   // the signature as written, with types
	more    []string // the module's prose about it, wrapped
}

// Param is one declared parameter: `name: type = default` in the doc
// comment's signature, `*args`, `**kwargs`, or after a bare `*`
// keyword-only.
type Param struct {
	Name, Type, Default string
	Varargs, Kwargs     bool
	KeywordOnly         bool
}

// Line is the entry's one-line form: "write(path, ...) - struct(...)".
func (f Func) Line() string { return f.Sig + " - " + f.Returns }

// Text is the entry as help() and phoenix doc show it: the signature,
// one line per parameter with its type and default, what it returns, and
// the description. key is the name scripts call ("fs.write").
func (f Func) Text(key string) string {
	var b strings.Builder
	sig := f.Sig
	if key != f.Name {
		sig = strings.TrimSuffix(key, f.Name) + sig
	}
	fmt.Fprintf(&b, "%s -> %s\n", sig, f.Returns)
	if len(f.Params) > 0 {
		w := 0
		for _, p := range f.Params {
			w = max(w, len(p.display()))
		}
		b.WriteString("\n")
		for _, p := range f.Params {
			line := fmt.Sprintf("  %-*s  %s", w, p.display(), p.typeText())
			if p.Default != "" {
				line += " (default " + p.Default + ")"
			}
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	}
	if f.Desc != "" {
		b.WriteString("\n" + wrap(f.Desc, "", 72) + "\n")
	}
	for _, p := range f.more {
		b.WriteString("\n" + p + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (p Param) display() string {
	switch {
	case p.Varargs:
		return "*" + p.Name
	case p.Kwargs:
		return "**" + p.Name
	}
	return p.Name
}

func (p Param) typeText() string {
	t := strings.ReplaceAll(p.Type, "|", " or ")
	if p.KeywordOnly {
		t += ", keyword only"
	}
	return t
}

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
	for _, m := range extras {
		if err := checkStdlib(root, m); err != nil {
			return nil, err
		}
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

// checkStdlib keeps an extra that documents stdlib/NAME.star in step with
// the fields of the `NAME = struct(...)` the file exports.
func checkStdlib(root string, m *Module) error {
	rel := filepath.Join("stdlib", m.Name+".star")
	src, err := os.ReadFile(filepath.Join(root, rel))
	if m.Name == "" || os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := (&syntax.FileOptions{}).Parse(rel, src, 0)
	if err != nil {
		return err
	}
	for _, stmt := range f.Stmts {
		as, ok := stmt.(*syntax.AssignStmt)
		if !ok {
			continue
		}
		id, ok := as.LHS.(*syntax.Ident)
		call, isCall := as.RHS.(*syntax.CallExpr)
		if !ok || !isCall || id.Name != m.Name {
			continue
		}
		var keys []string
		for _, a := range call.Args {
			if b, ok := a.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
				keys = append(keys, b.X.(*syntax.Ident).Name)
			}
		}
		m.Source = filepath.ToSlash(rel)
		return checkMembers(m, keys)
	}
	return fmt.Errorf("%s: no `%s = struct(...)` to check the documentation of module %s against", rel, m.Name, m.Name)
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
	// A paragraph that opens with a function's name ("init converges a
	// CA...") and the prose after it, up to the next such paragraph, is
	// also that function's description in help().
	about := -1
	attach := func(text string) {
		if about >= 0 {
			m.Funcs[about].more = append(m.Funcs[about].more, text)
		}
	}
	for _, b := range blocks(text) {
		switch b := b.(type) {
		case *comment.Paragraph:
			para := wrap(plain(b.Text), "", 72)
			first, _, _ := strings.Cut(para, " ")
			for i, f := range m.Funcs {
				if f.Name == strings.Trim(first, "`,.:;") {
					about = i
				}
			}
			attach(para)
			doc = append(doc, para)
		case *comment.Heading:
			about = -1
			doc = append(doc, plain(b.Text))
		case *comment.List:
			var items []string
			for _, item := range b.Items {
				items = append(items, wrap(itemText(item), "  - ", 72))
			}
			attach(strings.Join(items, "\n"))
			doc = append(doc, strings.Join(items, "\n"))
		case *comment.Code:
			about = -1
			funcs, ok := parseFuncs(b.Text)
			if !ok {
				doc = append(doc, indent(b.Text))
				continue
			}
			m.Funcs = append(m.Funcs, funcs...)
			var lines []string
			for _, f := range funcs {
				lines = append(lines, f.Line())
			}
			doc = append(doc, indent(strings.Join(lines, "\n")))
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
// entry above it: its description.
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
			f := &funcs[len(funcs)-1]
			f.Desc = strings.TrimSpace(f.Desc + " " + strings.TrimSpace(line))
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

// parseFunc reads `name(args) - returns` or `name - what it is`; name
// may be dotted (param.bool). Arguments may carry types and defaults:
// `mode: int = 0o644`.
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
	var params []Param
	if i < len(line) && line[i] == '(' {
		j := closing(line, i)
		if j < 0 {
			return Func{}, false
		}
		var ok bool
		params, ok = parseParams(line[i+1 : j])
		if !ok {
			return Func{}, false
		}
		sig = line[:j+1]
		i = j + 1
	}
	rest, ok := strings.CutPrefix(line[i:], " - ")
	if !ok || strings.TrimSpace(rest) == "" {
		return Func{}, false
	}
	f := Func{Name: name, Sig: sig, Params: params, Returns: strings.TrimSpace(rest), typed: sig}
	if sig != name {
		f.Sig = name + "(" + untyped(params) + ")"
	}
	return f, true
}

// closing returns the index of the parenthesis closing the one at open,
// skipping brackets and quoted strings; -1 when there is none.
func closing(s string, open int) int {
	depth := 0
	for j := open; j < len(s); j++ {
		switch c := s[j]; c {
		case '"':
			k := strings.IndexByte(s[j+1:], '"')
			if k < 0 {
				return -1
			}
			j += k + 1
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// splitTop splits s at commas outside brackets and strings.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '"':
			if k := strings.IndexByte(s[j+1:], '"'); k >= 0 {
				j += k + 1
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:j])
				start = j + 1
			}
		}
	}
	return append(parts, s[start:])
}

// parseParams reads `a, b: int, c: str = "x", *args, *, d=1, **kw`.
func parseParams(s string) ([]Param, bool) {
	params := []Param{}
	if strings.TrimSpace(s) == "" {
		return params, true
	}
	kwOnly := false
	for _, part := range splitTop(s) {
		part = strings.TrimSpace(part)
		var p Param
		switch {
		case part == "*":
			kwOnly = true
			continue
		case strings.HasPrefix(part, "**"):
			n, typ, _ := strings.Cut(part[2:], ":")
			p = Param{Name: strings.TrimSpace(n), Type: strings.TrimSpace(typ), Kwargs: true}
		case strings.HasPrefix(part, "*"):
			n, typ, _ := strings.Cut(part[1:], ":")
			p = Param{Name: strings.TrimSpace(n), Type: strings.TrimSpace(typ), Varargs: true}
			kwOnly = true
		default:
			decl, def, hasDef := strings.Cut(part, "=")
			n, typ, _ := strings.Cut(decl, ":")
			p = Param{Name: strings.TrimSpace(n), Type: strings.TrimSpace(typ), KeywordOnly: kwOnly}
			if hasDef {
				p.Default = strings.TrimSpace(def)
				if p.Default == "" {
					return nil, false
				}
			}
		}
		if !validIdent(p.Name) {
			return nil, false
		}
		params = append(params, p)
	}
	return params, true
}

func validIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) {
			return false
		}
	}
	return true
}

// untyped renders parameters the way a call reads: `mode=0o644`.
func untyped(params []Param) string {
	var parts []string
	kwOnly := false
	for _, p := range params {
		if p.Varargs {
			kwOnly = true
		}
		if p.KeywordOnly && !kwOnly {
			kwOnly = true
			parts = append(parts, "*")
		}
		s := p.display()
		if p.Default != "" {
			s += "=" + p.Default
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
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
	b.WriteString("Every script, loaded module and REPL session sees these names (`assert` once loaded from the stdlib; `testing` in tests under `phoenix test`). `phoenix doc NAME` and, in the REPL, `help(name)` print the same entries; `phoenix check` accepts the keyword arguments listed here.\n\n")
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
			for _, f := range m.Funcs {
				if !inBlock(funcs, f.Name) {
					continue
				}
				writeFunc(b, m, f)
			}
		}
	}
}

func inBlock(funcs []Func, name string) bool {
	for _, f := range funcs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// writeFunc renders one entry: signature and returns, then a nested list
// of parameters with their types and defaults, then the description.
func writeFunc(b *bytes.Buffer, m *Module, f Func) {
	fmt.Fprintf(b, "- `%s` - %s\n", m.Key(Func{Name: f.Sig}), f.Returns)
	for _, p := range f.Params {
		line := "  - `" + p.display() + "`"
		if t := p.typeText(); t != "" {
			line += " " + t
		}
		if p.Default != "" {
			line += ", default `" + p.Default + "`"
		}
		b.WriteString(line + "\n")
	}
	if f.Desc != "" {
		fmt.Fprintf(b, "\n%s\n", wrap(f.Desc, "  ", 72))
	}
	b.WriteString("\n")
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
	funcs := map[string]Func{}
	for _, m := range mods {
		if m.Name != "" {
			docs[m.Name] = strings.TrimSpace(m.Summary + "\n\n" + m.Doc)
		}
		for _, f := range m.Funcs {
			docs[m.Key(f)] = f.Text(m.Key(f))
			funcs[m.Key(f)] = f
		}
	}
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/docgen from the modules' doc comments; DO NOT EDIT.\n\n")
	b.WriteString("package builtins\n\n")
	b.WriteString("// Docs is the reference help() shows: a module's documentation under its\n")
	b.WriteString("// name (\"fs\") and each function's entry under module.function\n")
	b.WriteString("// (\"fs.write\"); the runtime's globals under their own names (\"params\").\n")
	b.WriteString("var Docs = map[string]string{\n")
	for _, k := range sortedKeys(docs) {
		fmt.Fprintf(&b, "\t%s: %s,\n", strconv.Quote(k), strconv.Quote(docs[k]))
	}
	b.WriteString("}\n\n")
	b.WriteString("// Funcs is every documented builtin's signature, keyed like Docs.\n")
	b.WriteString("var Funcs = map[string]Func{\n")
	for _, k := range sortedKeys(funcs) {
		f := funcs[k]
		fmt.Fprintf(&b, "\t%s: {Sig: %s, Returns: %s", strconv.Quote(k), strconv.Quote(f.Sig), strconv.Quote(f.Returns))
		if f.Desc != "" {
			fmt.Fprintf(&b, ", Desc: %s", strconv.Quote(f.Desc))
		}
		if f.Params != nil {
			b.WriteString(", Params: []Param{")
			for i, p := range f.Params {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{Name: %s", strconv.Quote(p.Name))
				if p.Type != "" {
					fmt.Fprintf(&b, ", Type: %s", strconv.Quote(p.Type))
				}
				if p.Default != "" {
					fmt.Fprintf(&b, ", Default: %s", strconv.Quote(p.Default))
				}
				if p.Varargs {
					b.WriteString(", Varargs: true")
				}
				if p.Kwargs {
					b.WriteString(", Kwargs: true")
				}
				if p.KeywordOnly {
					b.WriteString(", KeywordOnly: true")
				}
				b.WriteString("}")
			}
			b.WriteString("}")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", GoFile, err)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
