package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"phoenix/internal/machine"
	"phoenix/internal/starfmt"
	"phoenix/internal/startest"
)

func init() { register("fmt", fmtCmd) }

// fmtCmd is `phoenix fmt [-w] [-d] FILE|DIR...`, gofmt's contract for
// Starlark: without -w or -d it lists the files that are not formatted.
func fmtCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("fmt", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	write := fs.BoolP("write", "w", false, "rewrite the files that are not formatted")
	diff := fs.BoolP("diff", "d", false, "print the diffs instead of the file names")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: phoenix fmt [-w] [-d] FILE|DIR...

Formats Starlark (every .star below a DIR) with buildifier's formatter in
its generic Starlark mode. Without flags it lists the files that are not
formatted and exits 1 if there are any.

flags:
%s`, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		return flagError(stderr, "fmt", err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	files, err := startest.Files(fs.Args(), ".star")
	if err != nil {
		fmt.Fprintln(stderr, "phoenix fmt:", err)
		return ExitUsage
	}
	code := ExitOK
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, "phoenix fmt:", err)
			code = ExitError
			continue
		}
		out, err := starfmt.Format(file, src)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = ExitError
			continue
		}
		if string(out) == string(src) {
			continue
		}
		switch {
		case *write:
			st, err := os.Stat(file)
			if err == nil {
				err = machine.WriteFileAtomic(file, out, st.Mode().Perm(), -1, -1)
			}
			if err != nil {
				fmt.Fprintln(stderr, "phoenix fmt:", err)
				code = ExitError
				continue
			}
			if *diff {
				d, _ := starfmt.Diff(file, src, out)
				fmt.Fprint(stdout, d)
			}
		case *diff:
			d, err := starfmt.Diff(file, src, out)
			if err != nil {
				fmt.Fprintln(stderr, "phoenix fmt:", err)
			}
			fmt.Fprint(stdout, d)
			code = ExitError
		default:
			fmt.Fprintln(stdout, file)
			code = ExitError
		}
	}
	return code
}
