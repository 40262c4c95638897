package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"phoenix/internal/machine"
	"phoenix/internal/nft"
)

func init() { register("fw", fwCmd) }

const fwUsage = `usage: phoenix fw confirm [--root DIR | --sim]   keep the ruleset a commit-confirmed apply made
       phoenix fw status  [--root DIR | --sim]   show a pending rollback and its deadline

nft.apply(rs, confirm_timeout="60s") restores the previous firewall table
unless 'phoenix fw confirm' runs within the timeout. Neither subcommand
takes the site lock, so confirm works while another run holds it.
`

func fwCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fwUsage)
		return ExitUsage
	}
	sub := args[0]
	switch sub {
	case "-h", "--help":
		fmt.Fprint(stdout, fwUsage)
		return ExitOK
	case "rollback-wait":
		// The detached rollback process that nft.apply starts; not for operators.
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: phoenix fw rollback-wait FILE")
			return ExitUsage
		}
		if err := nft.Wait(args[1]); err != nil {
			fmt.Fprintf(stderr, "phoenix fw rollback-wait: %v\n", err)
			return ExitError
		}
		return ExitOK
	case "confirm", "status":
	default:
		fmt.Fprintf(stderr, "phoenix fw: unknown subcommand %q\n\n%s", sub, fwUsage)
		return ExitUsage
	}
	fs := pflag.NewFlagSet("fw "+sub, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "the run's --root (default /, or ./.phoenix-sim with --sim)")
	sim := fs.Bool("sim", false, "the --sim run's default root")
	fs.Usage = func() { fmt.Fprintf(stderr, "%s\nflags:\n%s", fwUsage, fs.FlagUsages()) }
	if err := fs.Parse(args[1:]); err != nil {
		return flagError(stderr, "fw "+sub, err)
	}
	dir := rootDir(*root, *sim)
	r, err := machine.NewRoot(dir)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix fw %s: --root: %v\n", sub, err)
		return ExitUsage
	}
	path, err := r.Resolve(nft.PendingFile)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix fw %s: %v\n", sub, err)
		return ExitError
	}
	if sub == "status" {
		text, err := nft.StatusText(path, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "phoenix fw status: %v\n", err)
			return ExitError
		}
		fmt.Fprint(stdout, text)
		return ExitOK
	}
	p, err := nft.Confirm(path)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix fw confirm: %v\n", err)
		return ExitError
	}
	if p == nil {
		fmt.Fprintf(stderr, "phoenix fw confirm: no rollback pending under %s (none was armed, or it already rolled back: see %s.log)\n", dir, filepath.Base(path))
		return ExitError
	}
	fmt.Fprintf(stdout, "confirmed: the applied ruleset stays (the rollback due at %s is cancelled)\n", p.Deadline.UTC().Format(time.RFC3339))
	return ExitOK
}
