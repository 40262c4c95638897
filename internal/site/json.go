package site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// A syntax tree of a configuration file, read with jsontext (json/v2's
// tokenizer), that keeps byte offsets, so that every later error can name
// its line and column, and that reports duplicate keys with where the
// first one was (encoding/json and jq silently keep the last).

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// The tree holds no pointers, so the garbage collector never scans it:
// nodes and members refer to each other, and to the text, by index. A big
// site has hundreds of thousands of nodes.
type tree struct {
	src     string   // the file
	nodes   []node   // nodes[0] is the top-level value
	members []member // each object's (array's) members are contiguous
	escaped []string // strings that differ from their source text
}

type node struct {
	kind kind
	b    bool
	off  int32 // byte offset of the value
	// A string or number: src[a:a+n], or escaped[a] when n is -1.
	// An object or array: members[a:a+n].
	a, n int32
}

// member is an object's key and value, or an array's element (no key).
type member struct {
	ka, kn int32 // the key, as node.a and node.n of a string
	off    int32 // offset of the key's opening quote
	val    int32 // index into nodes
}

func (t *tree) root() *node { return &t.nodes[0] }

func (t *tree) text(n *node) string { return t.ref(n.a, n.n) }

func (t *tree) ref(a, n int32) string {
	if n < 0 {
		return t.escaped[a]
	}
	return t.src[a : a+n]
}

func (t *tree) kids(n *node) []member {
	if n.kind != kindObject && n.kind != kindArray {
		return nil
	}
	return t.members[n.a : n.a+n.n]
}

func (t *tree) key(m *member) string { return t.ref(m.ka, m.kn) }

func (t *tree) val(m *member) *node { return &t.nodes[m.val] }

// The tree is the decoder's source for a file.
var _ source[*node] = (*tree)(nil)

func newDecoder(file string, t *tree, ps *problems) *decoder[*node] {
	return &decoder[*node]{src: t, words: jsonWords, file: file, ps: ps}
}

// str: only an escaped string can hold a control character, since the
// parser rejects raw ones.
func (t *tree) str(n *node) (string, bool, bool) {
	if n.kind != kindString {
		return "", false, false
	}
	return t.text(n), n.n >= 0, true
}

func (t *tree) integer(n *node) (int64, string, string, bool) {
	if n.kind != kindNumber {
		return 0, "", "", false
	}
	lit := t.text(n)
	i, ok := parseInteger(lit)
	if !ok {
		return 0, lit, "must be an integer, not " + lit, true
	}
	return i, lit, "", true
}

func (t *tree) boolean(n *node) (bool, bool) { return n.b, n.kind == kindBool }

func (t *tree) items(n *node) (int, bool) {
	if n.kind != kindArray {
		return 0, false
	}
	return int(n.n), true
}

func (t *tree) item(n *node, i int) *node { return t.val(&t.members[int(n.a)+i]) }

func (t *tree) entries(n *node, _ bool, buf []entry[*node]) ([]entry[*node], bool) {
	if n.kind != kindObject {
		return buf, false
	}
	for _, m := range t.members[n.a : n.a+n.n] {
		buf = append(buf, entry[*node]{key: t.key(&m), val: t.val(&m), off: int(m.off)})
	}
	return buf, true
}

func (t *tree) record(*node) (reflect.Value, bool) { return reflect.Value{}, false }
func (t *tree) null(n *node) bool                  { return n.kind == kindNull }
func (t *tree) typeName(n *node) string            { return n.kind.String() }
func (t *tree) off(n *node) int                    { return int(n.off) }

// maxDepth bounds nesting; the deepest real path is about six levels.
const maxDepth = 64

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// open is an object or array being read.
type open struct {
	n      int32 // its node
	base   int   // where its members start on the scratch stack
	obj    bool
	key    member // an object's key read, its value not yet
	hasKey bool
	first  map[string]int32 // an object's keys, once it has many
}

// parseJSON parses one JSON value (a UTF-8 byte order mark before it is
// tolerated: some editors write one).
func parseJSON(data []byte) (*tree, error) {
	start := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	t := &tree{
		src: string(data),
		// Typical files have a node per 12-20 bytes.
		nodes:   make([]node, 0, len(data)/16+16),
		members: make([]member, 0, len(data)/16+16),
	}
	// Duplicate names are found here, to say where the first one was.
	dec := jsontext.NewDecoder(bytes.NewReader(data[start:]), jsontext.AllowDuplicateNames(true))
	fail := func(off int, format string, args ...any) (*tree, error) {
		return nil, &syntaxError{off: off, msg: fmt.Sprintf(format, args...)}
	}
	var stack []open
	var scratch []member // members of the open objects and arrays
	done := false
	for {
		off := start + int(dec.InputOffset())
		k := dec.PeekKind()
		if k == 0 {
			_, err := dec.ReadToken()
			if err == io.EOF && done {
				return t, nil
			}
			return nil, syntaxErr(data, start, err)
		}
		if done {
			return fail(nextChar(data, off), "invalid character %s after top-level value", quoteChar(data, nextChar(data, off)))
		}
		var top *open
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch k {
		case '{', '[':
			if len(stack) == maxDepth {
				return fail(nextChar(data, off), "nesting deeper than %d levels", maxDepth)
			}
			if _, err := dec.ReadToken(); err != nil {
				return nil, syntaxErr(data, start, err)
			}
			off := start + int(dec.InputOffset()) - 1
			kd := kindArray
			if k == '{' {
				kd = kindObject
			}
			t.nodes = append(t.nodes, node{kind: kd, off: int32(off)})
			i := int32(len(t.nodes) - 1)
			if top != nil {
				scratch = top.add(scratch, i)
			}
			stack = append(stack, open{n: i, base: len(scratch), obj: k == '{'})
		case '}', ']':
			if _, err := dec.ReadToken(); err != nil {
				return nil, syntaxErr(data, start, err)
			}
			a := int32(len(t.members))
			t.members = append(t.members, scratch[top.base:]...)
			scratch = scratch[:top.base]
			t.nodes[top.n].a, t.nodes[top.n].n = a, int32(len(t.members))-a
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
		default:
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, syntaxErr(data, start, err)
			}
			end := start + int(dec.InputOffset())
			off := end - len(raw)
			if top != nil && top.obj && !top.hasKey {
				ka, kn := t.quoted(raw, off)
				key := t.ref(ka, kn)
				if prev, dup := top.seen(t, scratch, key, int32(off)); dup {
					line, col := lineCol(data, nil, int(prev))
					return fail(off, "duplicate key %q (first at %d:%d)", key, line, col)
				}
				top.key, top.hasKey = member{ka: ka, kn: kn, off: int32(off)}, true
				continue
			}
			n := node{off: int32(off)}
			switch k {
			case 'n':
				n.kind = kindNull
			case 't', 'f':
				n.kind, n.b = kindBool, k == 't'
			case '0':
				n.kind, n.a, n.n = kindNumber, int32(off), int32(len(raw))
			case '"':
				n.kind = kindString
				n.a, n.n = t.quoted(raw, off)
			}
			t.nodes = append(t.nodes, n)
			if top != nil {
				scratch = top.add(scratch, int32(len(t.nodes)-1))
			}
			done = len(stack) == 0
		}
	}
}

// add puts a value on the scratch stack as o's next member.
func (o *open) add(scratch []member, val int32) []member {
	m := member{val: val}
	if o.obj {
		m.ka, m.kn, m.off = o.key.ka, o.key.kn, o.key.off
		o.hasKey = false
	}
	return append(scratch, m)
}

// seen reports where key was first in o. A scan is cheaper than a map
// for the usual dozen keys.
func (o *open) seen(t *tree, scratch []member, key string, off int32) (int32, bool) {
	cur := scratch[o.base:]
	if len(cur) < 32 {
		for i := range cur {
			if t.key(&cur[i]) == key {
				return cur[i].off, true
			}
		}
		return 0, false
	}
	if o.first == nil {
		o.first = make(map[string]int32, 2*len(cur))
		for i := range cur {
			o.first[t.key(&cur[i])] = cur[i].off
		}
	}
	if prev, dup := o.first[key]; dup {
		return prev, true
	}
	o.first[key] = off
	return 0, false
}

// quoted refers to a string token's text: a slice of the source, or its
// unescaped form when it has escapes.
func (t *tree) quoted(raw []byte, off int) (a, n int32) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return int32(off + 1), int32(len(raw) - 2)
	}
	u, _ := jsontext.AppendUnquote(nil, raw) // already validated
	t.escaped = append(t.escaped, string(u))
	return int32(len(t.escaped) - 1), -1
}

// syntaxErr turns what the decoder reported into a syntaxError at the
// offending byte.
func syntaxErr(data []byte, start int, err error) error {
	off := len(data)
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		off = start + int(se.ByteOffset)
		err = se.Err
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &syntaxError{off: len(data), msg: "unexpected end of JSON input"}
	}
	return &syntaxError{off: off, msg: strings.TrimPrefix(err.Error(), "jsontext: ")}
}

// nextChar skips white space from off.
func nextChar(data []byte, off int) int {
	for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r') {
		off++
	}
	return off
}

func quoteChar(data []byte, off int) string {
	r, _ := utf8.DecodeRune(data[off:])
	if r == '\'' {
		return `'\''`
	}
	if r == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(r)
}

// lineCol converts a byte offset into a 1-based line and a 1-based column
// counted in characters. starts, when given, holds the offsets of line
// starts (sorted) to avoid rescanning a big file for every error.
func lineCol(data []byte, starts []int, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	var line, start int
	if starts != nil {
		i := sort.SearchInts(starts, off+1) - 1
		line, start = i+1, starts[i]
	} else {
		line = 1
		for i := 0; i < off; i++ {
			if data[i] == '\n' {
				line++
				start = i + 1
			}
		}
	}
	return line, utf8.RuneCount(data[start:off]) + 1
}

// parsedFile is one configuration file and its syntax tree.
type parsedFile struct {
	name   string
	data   []byte
	tree   *tree // nil when the file could not be parsed
	starts []int // line start offsets, built on first use
}

func (f *parsedFile) lineCol(off int) (int, int) {
	if f.starts == nil {
		f.starts = []int{0}
		for i, c := range f.data {
			if c == '\n' {
				f.starts = append(f.starts, i+1)
			}
		}
	}
	return lineCol(f.data, f.starts, off)
}
