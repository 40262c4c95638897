package repl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.starlark.net/starlark"
)

// display prints an expression statement's value for a reader: a struct
// as aligned `key = value` lines, a list of structs as a table, anything
// else as its repr. Every path goes through the values' own String, so a
// secret shows as <secret>.
func display(w io.Writer, v starlark.Value) {
	switch v := v.(type) {
	case starlark.NoneType:
	case helpText:
		fmt.Fprintln(w, strings.TrimRight(string(v), "\n"))
	case starlark.HasAttrs:
		if isStruct(v) {
			writeStruct(w, v)
			return
		}
		if l, ok := v.(starlark.Indexable); ok {
			if rows, ok := structRows(l); ok {
				writeTable(w, rows)
				return
			}
		}
		fmt.Fprintln(w, v.String())
	case starlark.Indexable:
		if rows, ok := structRows(v); ok {
			writeTable(w, rows)
			return
		}
		fmt.Fprintln(w, v.String())
	default:
		fmt.Fprintln(w, v.String())
	}
}

// isStruct: a struct, or a record of the site (which prints as one).
func isStruct(v starlark.Value) bool {
	_, ok := v.(starlark.HasAttrs)
	return ok && v.Type() == "struct"
}

func writeStruct(w io.Writer, s starlark.HasAttrs) {
	names := s.AttrNames()
	if len(names) == 0 {
		fmt.Fprintln(w, "struct()")
		return
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		v, _ := s.Attr(n)
		fmt.Fprintf(w, "%-*s = %s\n", width, n, oneLine(repr(v)))
	}
}

// structRows returns the elements of a non-empty list or tuple whose
// elements are all structs.
func structRows(v starlark.Indexable) ([]starlark.HasAttrs, bool) {
	if _, ok := v.(starlark.String); ok || v.Len() == 0 {
		return nil, false
	}
	if _, ok := v.(starlark.Bytes); ok {
		return nil, false
	}
	rows := make([]starlark.HasAttrs, v.Len())
	for i := range rows {
		s, ok := v.Index(i).(starlark.HasAttrs)
		if !ok || !isStruct(s) {
			return nil, false
		}
		rows[i] = s
	}
	return rows, true
}

// writeTable prints structs as rows; the columns are their fields in
// order of first appearance.
func writeTable(w io.Writer, rows []starlark.HasAttrs) {
	var cols []string
	seen := map[string]bool{}
	for _, r := range rows {
		for _, n := range r.AttrNames() {
			if !seen[n] {
				seen[n] = true
				cols = append(cols, n)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			v, err := r.Attr(c)
			switch {
			case err != nil || v == nil:
				cells[i] = "-"
			default:
				cells[i] = cell(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// cell shows strings bare (a table has no room for quotes), the rest as
// repr.
func cell(v starlark.Value) string {
	if s, ok := v.(starlark.String); ok {
		return oneLine(string(s))
	}
	return oneLine(repr(v))
}

func repr(v starlark.Value) string { return v.String() }

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\t", " ")
	return strings.ReplaceAll(s, "\n", "\\n")
}
