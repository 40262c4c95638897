package repl

import (
	"strconv"
	"strings"
	"testing"
)

// feedAll runs lines through a chunker and renders what it produced:
// each chunk as "N:src" with newlines shown as |, each error as "error".
func feedAll(lines []string) []string {
	var c chunker
	var out []string
	emit := func(chs []chunk, err error) {
		for _, ch := range chs {
			out = append(out, strings.Join([]string{strconv.Itoa(ch.line), strings.ReplaceAll(strings.TrimSuffix(ch.src, "\n"), "\n", "|")}, ":"))
		}
		if err != nil {
			out = append(out, "error: "+err.Error())
		}
	}
	for i, l := range lines {
		emit(c.feed(l, i+1))
	}
	ch, err := c.eof()
	if ch != nil {
		emit([]chunk{*ch}, nil)
	}
	if err != nil {
		emit(nil, err)
	}
	return out
}

func TestChunker(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"simple", []string{"x = 1", "y = 2; z = 3"}, []string{"1:x = 1", "2:y = 2; z = 3"}},
		{"blank and comment", []string{"", "# note", "x = 1"}, []string{"1:", "2:# note", "3:x = 1"}},
		{"def ended by blank", []string{"def f():", "    return 1", "", "f()"}, []string{"1:def f():|    return 1|", "4:f()"}},
		{"def ended by next statement", []string{"def f():", "    return 1", "f()"}, []string{"1:def f():|    return 1", "3:f()"}},
		{"if else", []string{"if x:", "    a()", "else:", "    b()", "c()"}, []string{"1:if x:|    a()|else:|    b()", "5:c()"}},
		{"elif", []string{"if x:", "    a()", "elif y:", "    b()"}, []string{"1:if x:|    a()|elif y:|    b()"}},
		{"open bracket", []string{"x = [", "1,", "2]", "y = 1"}, []string{"1:x = [|1,|2]", "4:y = 1"}},
		{"column zero inside bracket", []string{"f(", "a = 1,", ")"}, []string{"1:f(|a = 1,|)"}},
		{"triple quoted", []string{`s = """a`, "", `b"""`}, []string{`1:s = """a||b"""`}},
		{"nested blocks", []string{"for i in x:", "    if i:", "        f(i)", "    g()", "h()"}, []string{"1:for i in x:|    if i:|        f(i)|    g()", "5:h()"}},
		{"block at eof", []string{"def f():", "    return 1"}, []string{"1:def f():|    return 1"}},
		{"syntax error", []string{"x = = 1", "y = 2"}, []string{"error: <repl>:1:5: got '=', want primary expression", "2:y = 2"}},
		{"error line is the session's", []string{"a = 1", "def f():", "    return )"}, []string{"1:a = 1", "error: <repl>:3:12: unexpected ')'"}},
		{"unclosed at eof", []string{"x = (1,"}, []string{"error: <repl>: unexpected end of input"}},
		{"elsewhere is a name", []string{"if x:", "    a()", "elsewhere = 1"}, []string{"1:if x:|    a()", "3:elsewhere = 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := feedAll(c.lines)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestChunkerPending(t *testing.T) {
	var c chunker
	if chs, err := c.feed("def f():", 1); len(chs) != 0 || err != nil || !c.pending() {
		t.Fatalf("after def: %v %v pending=%v", chs, err, c.pending())
	}
	if _, ok := c.endBlock(); ok {
		t.Fatal("a def without a body ended")
	}
	c.feed("    pass", 2)
	ch, ok := c.endBlock()
	if !ok || ch.src != "def f():\n    pass\n" || c.pending() {
		t.Fatalf("endBlock = %q, %v, pending=%v", ch.src, ok, c.pending())
	}
}
