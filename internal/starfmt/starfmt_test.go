package starfmt

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every .star file the repository ships (scripts, stdlib, the README's
// example) is formatted, including files
// added later: run `phoenix fmt -w scripts stdlib` after editing.
func TestShippedFilesFormatted(t *testing.T) {
	n := 0
	for _, dir := range []string{"../../scripts", "../../stdlib", "../../docs/examples"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".star") {
				return err
			}
			n++
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out, err := Format(path, src)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			if d, _ := Diff(path, src, out); d != "" {
				t.Errorf("%s is not formatted (run: phoenix fmt -w %s):\n%s", path, path, d)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("no .star file found under scripts/ or stdlib/")
	}
}

func TestFormat(t *testing.T) {
	out, err := Format("x.star", []byte("x=[1,2 ,3]\ndef f( a ,b = 2 ):\n  return a+b\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "x = [1, 2, 3]\n\ndef f(a, b = 2):\n    return a + b\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := Format("bad.star", []byte("x = (1,\n")); err == nil {
		t.Error("a syntax error formatted")
	}
}
