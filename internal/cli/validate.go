package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"phoenix/internal/site"
)

func init() { register("validate", validateCmd) }

// validateCmd runs the same check that runs before any script that loads
// the site, and reports every problem at once.
func validateCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("config", "./config", "directory holding the site's three JSON files")
	output := fs.String("output", "text", "result format: text or json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: phoenix validate [--config DIR] [--output text|json]\n\nValidates phoenix_hypervisor_config.json, phoenix_lxc_configs.json and\nphoenix_vm_configs.json and reports every error found (exit 1).\n\nflags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		return flagError(stderr, "validate", err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phoenix validate: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "phoenix validate: --output: want text or json, got %q\n", *output)
		return ExitUsage
	}
	err := site.Validate(*dir)
	var es site.Errors
	if *output == "json" {
		return validateJSON(stdout, stderr, *dir, err)
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: ok\n", *dir)
		return ExitOK
	case errors.As(err, &es):
		for _, e := range es {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "%d errors\n", len(es))
	default:
		fmt.Fprintln(stderr, "phoenix validate:", err)
	}
	return ExitError
}

// validationError is one problem in validate's JSON: where (file, line,
// column, JSON path) and what.
type validationError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func validateJSON(stdout, stderr io.Writer, dir string, err error) int {
	out := struct {
		Config string            `json:"config"`
		Valid  bool              `json:"valid"`
		Errors []validationError `json:"errors"`
	}{Config: dir, Valid: err == nil, Errors: []validationError{}}
	var es site.Errors
	switch {
	case err == nil:
	case errors.As(err, &es):
		for _, e := range es {
			out.Errors = append(out.Errors, validationError{File: e.File, Line: e.Line, Column: e.Col, Path: e.Path, Message: e.Msg})
		}
	default:
		out.Errors = append(out.Errors, validationError{Message: err.Error()})
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "phoenix validate:", err)
		return ExitError
	}
	if !out.Valid {
		return ExitError
	}
	return ExitOK
}
