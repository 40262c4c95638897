// Package starfmt formats Starlark files the one way phoenix accepts:
// buildifier's formatter (github.com/bazelbuild/buildtools/build) in its
// generic Starlark mode, without the BUILD-file rewrites.
package starfmt

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bazelbuild/buildtools/build"
)

// Format returns src formatted.
func Format(filename string, src []byte) ([]byte, error) {
	f, err := build.ParseDefault(filename, src)
	if err != nil {
		return nil, err
	}
	return build.Format(f), nil
}

// Diff is a unified diff from src to formatted, or "" when equal. It uses
// diff(1) when installed, else shows the whole formatted file.
func Diff(filename string, src, formatted []byte) (string, error) {
	if bytes.Equal(src, formatted) {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "phoenix-fmt-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	a, b := filepath.Join(dir, "orig"), filepath.Join(dir, "formatted")
	if err := os.WriteFile(a, src, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(b, formatted, 0o600); err != nil {
		return "", err
	}
	out, err := exec.Command("diff", "-u", "--label", filename+".orig", "--label", filename, a, b).Output()
	if _, ok := err.(*exec.ExitError); ok || err == nil {
		return string(out), nil
	}
	return fmt.Sprintf("--- %s (not formatted; diff(1) is not installed)\n%s", filename, formatted), nil
}
