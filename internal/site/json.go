package site

import (
	"fmt"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A small JSON parser that keeps byte offsets, so that every later error
// can name its line and column, and that reports duplicate keys, which
// encoding/json silently merges.

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

// node is kept small: a big site has hundreds of thousands of them.
// The tree holds no pointers, so the garbage collector never scans it:
// nodes and members refer to each other, and to the text, by index. A big
// site has hundreds of thousands of nodes.
type tree struct {
	src     string   // the file; strings without escapes are slices of it
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

// maxDepth bounds nesting so that hostile input cannot exhaust the stack;
// the deepest real path is about six levels.
const maxDepth = 64

type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

type parser struct {
	t     *tree
	data  []byte
	pos   int
	depth int
	// Scratch stack: an object's members (an array's elements) collect
	// here and are copied into t.members once complete.
	mstack []member
}

// parseJSON parses data, which must not change afterwards: the tree's
// strings share its memory.
func parseJSON(data []byte) (t *tree, err error) {
	t = &tree{
		src: unsafe.String(unsafe.SliceData(data), len(data)),
		// Typical files have a node per 12-20 bytes.
		nodes:   make([]node, 0, len(data)/16+16),
		members: make([]member, 0, len(data)/16+16),
	}
	p := &parser{t: t, data: data}
	// A UTF-8 byte order mark is tolerated: some editors write one.
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		p.pos = 3
	}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*syntaxError)
			if !ok {
				panic(r)
			}
			t, err = nil, se
		}
	}()
	p.skipSpace()
	p.value()
	p.skipSpace()
	if p.pos < len(p.data) {
		p.fail("invalid character %s after top-level value", p.quoteChar())
	}
	return t, nil
}

func (p *parser) fail(format string, args ...any) {
	panic(&syntaxError{off: p.pos, msg: fmt.Sprintf(format, args...)})
}

func (p *parser) quoteChar() string {
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	if r == '\'' {
		return `'\''`
	}
	if r == '"' {
		return `'"'`
	}
	return strconv.QuoteRune(r)
}

// newNode appends a node and returns its index; pointers into t.nodes are
// not stable while parsing.
func (p *parser) newNode(k kind) int32 {
	p.t.nodes = append(p.t.nodes, node{kind: k, off: int32(p.pos)})
	return int32(len(p.t.nodes) - 1)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() int32 {
	if p.pos >= len(p.data) {
		p.fail("unexpected end of JSON input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		i := p.newNode(kindString)
		a, n := p.str()
		p.t.nodes[i].a, p.t.nodes[i].n = a, n
		return i
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", kindBool, true)
	case c == 'f':
		return p.literal("false", kindBool, false)
	case c == 'n':
		return p.literal("null", kindNull, false)
	default:
		p.fail("invalid character %s looking for beginning of value", p.quoteChar())
		return 0
	}
}

func (p *parser) literal(word string, k kind, b bool) int32 {
	n := p.newNode(k)
	p.t.nodes[n].b = b
	for i := 0; i < len(word); i++ {
		if p.pos >= len(p.data) {
			p.fail("unexpected end of JSON input")
		}
		if p.data[p.pos] != word[i] {
			p.fail("invalid character %s in literal %s (expecting %q)", p.quoteChar(), word, word[i])
		}
		p.pos++
	}
	return n
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail("nesting deeper than %d levels", maxDepth)
	}
}

// peek skips white space and returns the next byte, which must exist.
func (p *parser) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.data) {
		p.fail("unexpected end of JSON input")
	}
	return p.data[p.pos]
}

// open enters an object or array at its opening bracket; empty reports
// that close follows at once.
func (p *parser) open(k kind, close byte) (n int32, empty bool) {
	p.enter()
	n = p.newNode(k)
	p.pos++
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == close {
		p.pos++
		p.depth--
		return n, true
	}
	return n, false
}

// more reads what follows an object's or array's member: a comma (true)
// or close (false); after names the member in the error.
func (p *parser) more(close byte, after string) bool {
	switch p.peek() {
	case ',':
		p.pos++
		return true
	case close:
		p.pos++
		p.depth--
		return false
	}
	p.fail("invalid character %s after %s", p.quoteChar(), after)
	return false
}

func (p *parser) object() int32 {
	n, empty := p.open(kindObject, '}')
	if empty {
		return n
	}
	var firstAt map[string]int
	base := len(p.mstack)
	for {
		if p.peek() != '"' {
			p.fail("invalid character %s looking for beginning of object key string", p.quoteChar())
		}
		koff := p.pos
		ka, kn := p.str()
		key := p.t.ref(ka, kn)
		// Duplicate keys are malformed for our purposes: encoding/json and
		// jq keep the last one silently, which hides typos in big files.
		// A scan is cheaper than a map for the usual dozen keys.
		if cur := p.mstack[base:]; len(cur) < 32 {
			for _, m := range cur {
				if p.t.key(&m) == key {
					p.pos = koff
					p.fail("duplicate key %q (first at %s)", key, p.position(int(m.off)))
				}
			}
		} else {
			if firstAt == nil {
				firstAt = make(map[string]int, 16)
				for _, m := range p.mstack[base:] {
					firstAt[p.t.key(&m)] = int(m.off)
				}
			}
			if prev, dup := firstAt[key]; dup {
				p.pos = koff
				p.fail("duplicate key %q (first at %s)", key, p.position(prev))
			}
			firstAt[key] = koff
		}
		if p.peek() != ':' {
			p.fail("invalid character %s after object key", p.quoteChar())
		}
		p.pos++
		p.skipSpace()
		v := p.value()
		p.mstack = append(p.mstack, member{ka: ka, kn: kn, off: int32(koff), val: v})
		if !p.more('}', "object key:value pair") {
			p.t.nodes[n].a, p.t.nodes[n].n = p.members(base)
			return n
		}
	}
}

// members moves the scratch entries above base into t.members and
// returns where they went.
func (p *parser) members(base int) (int32, int32) {
	i := len(p.t.members)
	p.t.members = append(p.t.members, p.mstack[base:]...)
	k := len(p.mstack) - base
	p.mstack = p.mstack[:base]
	return int32(i), int32(k)
}

func (p *parser) array() int32 {
	n, empty := p.open(kindArray, ']')
	if empty {
		return n
	}
	base := len(p.mstack)
	for {
		p.skipSpace()
		v := p.value()
		p.mstack = append(p.mstack, member{val: v})
		if !p.more(']', "array element") {
			p.t.nodes[n].a, p.t.nodes[n].n = p.members(base)
			return n
		}
	}
}

func (p *parser) number() int32 {
	n := p.newNode(kindNumber)
	start := p.pos
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		s := p.pos
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
		return p.pos - s
	}
	if p.pos >= len(d) {
		p.fail("unexpected end of JSON input")
	}
	if d[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		p.fail("invalid character %s in numeric literal", p.quoteChar())
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			if p.pos >= len(d) {
				p.fail("unexpected end of JSON input")
			}
			p.fail("invalid character %s after decimal point in numeric literal", p.quoteChar())
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			if p.pos >= len(d) {
				p.fail("unexpected end of JSON input")
			}
			p.fail("invalid character %s in exponent of numeric literal", p.quoteChar())
		}
	}
	p.t.nodes[n].a, p.t.nodes[n].n = int32(start), int32(p.pos-start)
	return n
}

// plainString scans a string without escapes; ok is false when it has
// escapes (the position is then unchanged).
func (p *parser) plainString() (a, n int32, ok bool) {
	d := p.data
	i := p.pos + 1
	ascii := true
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(d[p.pos+1:i]) {
				return 0, 0, false
			}
			a, n = int32(p.pos+1), int32(i-p.pos-1)
			p.pos = i + 1
			return a, n, true
		case c == '\\' || c < 0x20 || c == 0x7f:
			// DEL is legal JSON but takes the slow path, which marks the
			// string for the decoder's control character check.
			return 0, 0, false
		case c >= 0x80:
			ascii = false
		}
		i++
	}
	return 0, 0, false
}

// str reads a string and returns it as node.a and node.n.
func (p *parser) str() (int32, int32) {
	if a, n, ok := p.plainString(); ok {
		return a, n
	}
	d := p.data
	p.pos++ // opening quote
	var b []byte
	for {
		if p.pos >= len(d) {
			p.fail("unexpected end of JSON input")
		}
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.t.escaped = append(p.t.escaped, string(b))
			return int32(len(p.t.escaped) - 1), -1
		case c < 0x20:
			p.fail("invalid character %s in string literal", p.quoteChar())
		case c == '\\':
			p.pos++
			if p.pos >= len(d) {
				p.fail("unexpected end of JSON input")
			}
			e := d[p.pos]
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := p.hex4()
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if p.pos+2 < len(d) && d[p.pos+1] == '\\' && d[p.pos+2] == 'u' {
						save := p.pos
						p.pos += 2
						r2 = p.hex4()
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
						} else {
							p.pos = save
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				p.fail("invalid character %s in string escape code", p.quoteChar())
			}
			p.pos++
		case c < 0x80:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(d[p.pos:])
			if r == utf8.RuneError && size == 1 {
				p.fail("invalid UTF-8 in string")
			}
			b = append(b, d[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

// hex4 reads the four hex digits after "\u", leaving pos on the last one.
func (p *parser) hex4() rune {
	var r rune
	for i := 0; i < 4; i++ {
		p.pos++
		if p.pos >= len(p.data) {
			p.fail("unexpected end of JSON input")
		}
		c := p.data[p.pos]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			p.fail("invalid character %s in \\u hexadecimal character escape", p.quoteChar())
		}
	}
	return r
}

// position renders an offset as line:col for messages inside the parser.
func (p *parser) position(off int) string {
	line, col := lineCol(p.data, nil, off)
	return fmt.Sprintf("%d:%d", line, col)
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
