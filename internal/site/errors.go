package site

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in the site's configuration.
type Error struct {
	File string // base name of the file, e.g. "phoenix_lxc_configs.json"
	// Line and Col locate the offending key or value (1-based; Col counts
	// characters). Zero when the file could not be read.
	Line, Col int
	// Path is the JSON path of the offending key or value, for example
	// `103.mount_points[0].owner_uid`; empty for malformed JSON and for
	// problems with the file as a whole.
	Path string
	Msg  string
	// Syntax marks malformed JSON, reported as file:line:col.
	Syntax bool
}

func (e *Error) Error() string {
	switch {
	case e.Syntax:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Path == "":
		return e.File + ": " + e.Msg
	case e.File == "":
		return e.Path + ": " + e.Msg
	default:
		return e.File + ": " + e.Path + ": " + e.Msg
	}
}

// Errors is every problem found in one run, sorted by file (hypervisor,
// LXC, VM), then by position in the file.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// jpath is a JSON path, built as a chain from the root so that building
// one costs an allocation and printing happens only for errors.
type jpath struct {
	parent *jpath
	key    string
	idx    int // -1 for an object key
}

func (p *jpath) Key(k string) *jpath { return &jpath{parent: p, key: k, idx: -1} }
func (p *jpath) Index(i int) *jpath  { return &jpath{parent: p, idx: i} }

// plainKey reports whether a key can be written after a dot.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c == '-') {
			return false
		}
	}
	return true
}

func (p *jpath) String() string {
	if p == nil {
		return ""
	}
	var buf [16]*jpath
	segs := buf[:0]
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	var b strings.Builder
	b.Grow(64)
	for i := len(segs) - 1; i >= 0; i-- {
		q := segs[i]
		switch {
		case q.idx >= 0:
			b.WriteString("[" + strconv.Itoa(q.idx) + "]")
		case plainKey(q.key):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(q.key)
		default:
			// Keys with dots (zone names) or odd characters are quoted so
			// the path stays unambiguous and on one line.
			b.WriteString("[" + strconv.Quote(q.key) + "]")
		}
	}
	return b.String()
}

// place is a file and a path in it, used to name the other side of a
// cross-file error.
type place struct {
	file string
	p    *jpath
}

func (pl place) String() string {
	if pl.file == "" {
		return pl.p.String() // a spec written in a script
	}
	return pl.file + ": " + pl.p.String()
}

// Key is the place of a key below pl.
func (pl place) Key(k string) place { return place{pl.file, pl.p.Key(k)} }

// Index is the place of a list item below pl.
func (pl place) Index(i int) place { return place{pl.file, pl.p.Index(i)} }

// problem is an error before its position is resolved.
type problem struct {
	file   string
	p      *jpath
	off    int  // byte offset, -1 to resolve from p
	atKey  bool // off/p names the key rather than its value
	msg    string
	syntax bool
}

type problems struct {
	list []problem
}

func (ps *problems) add(file string, p *jpath, format string, args ...any) {
	ps.list = append(ps.list, problem{file: file, p: p, off: -1, msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) at(pl place, format string, args ...any) {
	ps.add(pl.file, pl.p, format, args...)
}

// fileOrder is the order in which files are reported.
var fileOrder = map[string]int{HypervisorFile: 0, LXCFile: 1, VMFile: 2}

// resolve turns problems into sorted Errors, using the parsed files to
// find line and column.
func (ps *problems) resolve(files map[string]*parsedFile) Errors {
	out := make(Errors, 0, len(ps.list))
	seen := map[string]bool{}
	for _, pr := range ps.list {
		e := &Error{File: pr.file, Path: pr.p.String(), Msg: pr.msg, Syntax: pr.syntax}
		if pf := files[pr.file]; pf != nil {
			off := pr.off
			if off < 0 && pf.tree != nil {
				off = locate(pf.tree, pr.p)
			}
			if off >= 0 {
				e.Line, e.Col = pf.lineCol(off)
			}
		}
		s := e.Error()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if fa, fb := fileOrder[a.File], fileOrder[b.File]; fa != fb {
			return fa < fb
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
	return out
}

// locate finds the byte offset of the value at p (or of its nearest
// existing ancestor), or -1.
func locate(t *tree, p *jpath) int {
	root := t.root()
	var segs []*jpath
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	n, off := root, int(root.off)
	for i := len(segs) - 1; i >= 0; i-- {
		q := segs[i]
		var next *node
		switch {
		case q.idx >= 0 && n.kind == kindArray && q.idx < len(t.kids(n)):
			next = t.val(&t.kids(n)[q.idx])
		case q.idx < 0 && n.kind == kindObject:
			kids := t.kids(n)
			for j := range kids {
				if t.key(&kids[j]) == q.key {
					next = t.val(&kids[j])
					break
				}
			}
		}
		if next == nil {
			return off
		}
		n, off = next, int(next.off)
	}
	return off
}
