package site

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// exampleDir is the example site, relative to this package.
const exampleDir = "../../config"

func readExample(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range Files {
		b, err := os.ReadFile(filepath.Join(exampleDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// siteEdit is a copy of the example site being given one defect: either
// structured edits on the decoded JSON or a raw text edit, per file.
type siteEdit struct {
	t    *testing.T
	raw  map[string][]byte
	docs map[string]any
}

func newSiteEdit(t *testing.T) *siteEdit {
	return &siteEdit{t: t, raw: readExample(t), docs: map[string]any{}}
}

func (e *siteEdit) doc(file string) any {
	if d, ok := e.docs[file]; ok {
		return d
	}
	dec := json.NewDecoder(bytes.NewReader(e.raw[file]))
	dec.UseNumber()
	var d any
	if err := dec.Decode(&d); err != nil {
		e.t.Fatalf("%s: %v", file, err)
	}
	e.docs[file] = d
	return d
}

// parent walks to the container holding the last element of keys.
func (e *siteEdit) parent(file string, keys []string) (any, string) {
	e.t.Helper()
	cur := e.doc(file)
	for _, k := range keys[:len(keys)-1] {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[k]
			if !ok {
				e.t.Fatalf("%s: no key %q in path %v", file, k, keys)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(c) {
				e.t.Fatalf("%s: bad index %q in path %v", file, k, keys)
			}
			cur = c[i]
		default:
			e.t.Fatalf("%s: cannot descend into %T at %q", file, cur, k)
		}
	}
	return cur, keys[len(keys)-1]
}

// get returns a deep copy of the value at keys.
func (e *siteEdit) get(file string, keys ...string) any {
	e.t.Helper()
	c, last := e.parent(file, keys)
	var v any
	switch c := c.(type) {
	case map[string]any:
		v = c[last]
	case []any:
		i, _ := strconv.Atoi(last)
		v = c[i]
	}
	b, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var cp any
	_ = dec.Decode(&cp)
	return cp
}

// set assigns val at keys; an index equal to the array's length appends.
func (e *siteEdit) set(file string, val any, keys ...string) {
	e.t.Helper()
	c, last := e.parent(file, keys)
	switch c := c.(type) {
	case map[string]any:
		c[last] = val
	case []any:
		i, _ := strconv.Atoi(last)
		if i == len(c) {
			// Appending needs the parent to hold the new slice.
			pc, pl := e.parent(file, keys[:len(keys)-1])
			c = append(c, val)
			switch pc := pc.(type) {
			case map[string]any:
				pc[pl] = c
			case []any:
				j, _ := strconv.Atoi(pl)
				pc[j] = c
			}
			return
		}
		c[i] = val
	default:
		e.t.Fatalf("%s: cannot set in %T", file, c)
	}
}

func (e *siteEdit) del(file string, keys ...string) {
	e.t.Helper()
	c, last := e.parent(file, keys)
	m, ok := c.(map[string]any)
	if !ok {
		e.t.Fatalf("%s: del needs an object", file)
	}
	if _, ok := m[last]; !ok {
		e.t.Fatalf("%s: no key %q to delete", file, last)
	}
	delete(m, last)
}

func (e *siteEdit) rename(file, to string, keys ...string) {
	e.t.Helper()
	v := e.get(file, keys...)
	e.del(file, keys...)
	e.set(file, v, append(keys[:len(keys)-1:len(keys)-1], to)...)
}

// replace edits a file's text; old must occur exactly once.
func (e *siteEdit) replace(file, old, new string) {
	e.t.Helper()
	if _, ok := e.docs[file]; ok {
		e.t.Fatalf("%s: mixing raw and structured edits", file)
	}
	if n := bytes.Count(e.raw[file], []byte(old)); n != 1 {
		e.t.Fatalf("%s: %q occurs %d times, want once", file, old, n)
	}
	e.raw[file] = bytes.Replace(e.raw[file], []byte(old), []byte(new), 1)
}

// files returns the edited files.
func (e *siteEdit) files() map[string][]byte {
	out := map[string][]byte{}
	for name, b := range e.raw {
		out[name] = b
	}
	for name, d := range e.docs {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			e.t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func mapFS(files map[string][]byte) fstest.MapFS {
	m := fstest.MapFS{}
	for name, b := range files {
		m[name] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return m
}

func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}
