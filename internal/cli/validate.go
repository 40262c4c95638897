package cli

import (
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
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: phoenix validate [--config DIR]\n\nValidates phoenix_hypervisor_config.json, phoenix_lxc_configs.json and\nphoenix_vm_configs.json and reports every error found (exit 1).\n\nflags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		return flagError(stderr, "validate", err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phoenix validate: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	err := site.Validate(*dir)
	var es site.Errors
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
