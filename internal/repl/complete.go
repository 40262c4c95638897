package repl

import (
	"sort"
	"strings"

	"go.starlark.net/starlark"
)

// completer completes the dotted name before the cursor: globals and
// Starlark's built-ins, then module members and struct fields. Tab with
// nothing to complete indents.
type completer struct {
	globals func() starlark.StringDict
}

const indentUnit = "    "

// Do implements readline.AutoCompleter: the suffixes that complete the
// word before pos, and the length of that word.
func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	before := string(line[:pos])
	word := trailingName(before)
	if word == "" {
		if strings.TrimSpace(before) == "" {
			return [][]rune{[]rune(indentUnit)}, 0
		}
		return nil, 0
	}
	cands := c.candidates(word)
	if len(cands) == 0 {
		return nil, 0
	}
	partial := word[strings.LastIndex(word, ".")+1:]
	out := make([][]rune, len(cands))
	for i, cand := range cands {
		out[i] = []rune(cand[len(partial):])
	}
	return out, len([]rune(partial))
}

// trailingName is the dotted identifier that ends s ("fs.wr" in
// "x = fs.wr"); "" when s ends in something else, or in a number.
func trailingName(s string) string {
	i := len(s)
	for i > 0 && (isIdentByte(s[i-1]) || s[i-1] == '.') {
		i--
	}
	w := s[i:]
	if w == "" || w[0] == '.' || w[0] >= '0' && w[0] <= '9' || strings.Contains(w, "..") {
		return ""
	}
	return w
}

// candidates lists the full names the last part of word may complete to.
func (c completer) candidates(word string) []string {
	parts := strings.Split(word, ".")
	partial := parts[len(parts)-1]
	var names []string
	if len(parts) == 1 {
		for n := range c.globals() {
			names = append(names, n)
		}
		for n := range starlark.Universe {
			names = append(names, n)
		}
	} else {
		v, ok := c.globals()[parts[0]]
		for _, p := range parts[1 : len(parts)-1] {
			if !ok {
				break
			}
			v, ok = attr(v, p)
		}
		if !ok {
			return nil
		}
		if ha, isAttrs := v.(starlark.HasAttrs); isAttrs {
			names = ha.AttrNames()
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if !strings.HasPrefix(n, partial) || seen[n] {
			continue
		}
		if strings.HasPrefix(n, "_") && !strings.HasPrefix(partial, "_") {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// attr reads a field without running anything but the value's own Attr,
// and survives values whose Attr misbehaves.
func attr(v starlark.Value, name string) (out starlark.Value, ok bool) {
	ha, isAttrs := v.(starlark.HasAttrs)
	if !isAttrs {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			out, ok = nil, false
		}
	}()
	x, err := ha.Attr(name)
	if err != nil || x == nil {
		return nil, false
	}
	return x, true
}
