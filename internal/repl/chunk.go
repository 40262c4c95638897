package repl

import (
	"errors"
	"strings"

	"go.starlark.net/syntax"
)

// chunk is one unit of input the session runs: a compound statement or a
// line of simple statements, with the session line it starts on.
type chunk struct {
	src  string
	line int
}

// chunker groups input lines into chunks. The parser decides: it reads
// lines on demand, and when it asks for one more than we have, the input
// is incomplete (an open bracket or string, a block still open).
type chunker struct {
	lines []string
	first int
}

// errMore is what the parser gets when it wants a line not yet typed.
var errMore = errors.New("phoenix: more input needed")

type status int

const (
	complete status = iota
	incomplete
	invalid
)

// check parses lines as one compound statement.
func check(lines []string) (status, error) {
	i := 0
	next := func() ([]byte, error) {
		if i < len(lines) {
			i++
			return []byte(lines[i-1] + "\n"), nil
		}
		return nil, errMore
	}
	_, err := fileOptions.ParseCompoundStmt("<repl>", next)
	if err == nil {
		return complete, nil
	}
	var se syntax.Error
	if errors.As(err, &se) && se.Msg == errMore.Error() {
		return incomplete, nil
	}
	return invalid, err
}

// shift renumbers a syntax error's line from the chunk's to the session's.
func shift(err error, first int) error {
	var se syntax.Error
	if !errors.As(err, &se) || first < 1 {
		return err
	}
	name := se.Pos.Filename()
	se.Pos = syntax.MakePosition(&name, se.Pos.Line+int32(first)-1, se.Pos.Col)
	return se
}

// pending reports whether a multi-line statement is being typed.
func (c *chunker) pending() bool { return len(c.lines) > 0 }

func (c *chunker) reset() { c.lines, c.first = nil, 0 }

func (c *chunker) take() chunk {
	ch := chunk{src: strings.Join(c.lines, "\n") + "\n", line: c.first}
	c.reset()
	return ch
}

// feed adds input line n. It returns the chunks now complete, or the
// syntax error that ends the pending statement.
func (c *chunker) feed(line string, n int) ([]chunk, error) {
	line = strings.TrimSuffix(line, "\r")
	var out []chunk
	// A block ends at a blank line; a new statement at column 0 also ends
	// it, so piped scripts need no blank line after a def.
	if startsStatement(line) {
		if ch, ok := c.endBlock(); ok {
			out = append(out, ch)
		}
	}
	if !c.pending() {
		c.first = n
	}
	c.lines = append(c.lines, line)
	st, err := check(c.lines)
	switch st {
	case complete:
		out = append(out, c.take())
	case invalid:
		first := c.first
		c.reset()
		return out, shift(err, first)
	}
	return out, nil
}

// endBlock closes a pending block that a blank line would complete, for
// a session command typed right after it.
func (c *chunker) endBlock() (chunk, bool) {
	if !c.pending() {
		return chunk{}, false
	}
	if st, _ := check(append(c.lines, "")); st != complete {
		return chunk{}, false
	}
	return c.take(), true
}

// eof ends the input: a pending block is closed as if by a blank line.
func (c *chunker) eof() (*chunk, error) {
	if !c.pending() {
		return nil, nil
	}
	st, err := check(append(c.lines, ""))
	if st == complete {
		ch := c.take()
		return &ch, nil
	}
	first := c.first
	c.reset()
	if st == incomplete {
		return nil, errors.New("<repl>: unexpected end of input")
	}
	return nil, shift(err, first)
}

// startsStatement reports whether line begins a new top-level statement
// rather than continuing a block: not indented, not blank, not a comment,
// not elif/else.
func startsStatement(line string) bool {
	if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
		return false
	}
	for _, kw := range []string{"elif", "else"} {
		if rest, ok := strings.CutPrefix(line, kw); ok && (rest == "" || !isIdentByte(rest[0])) {
			return false
		}
	}
	return true
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
