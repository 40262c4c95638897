package cli

import (
	"fmt"
	"io"

	"phoenix/internal/ca"
)

func init() { register("ca", caCmd) }

const caUsage = `usage: phoenix ca serve --ca-config FILE --password-file FILE [--map GUEST=HOST]... [--listen HOST:PORT]

Runs the private CA from its ca.json until interrupted, so that the CA's
container can run phoenix itself as its CA daemon. Run 'phoenix ca serve -h'
for its flags; docs/ca.md describes the CA.
`

func caCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w, code := stderr, ExitUsage
		if len(args) > 0 {
			w, code = stdout, ExitOK
		}
		fmt.Fprint(w, caUsage)
		return code
	}
	if args[0] != "serve" {
		fmt.Fprintf(stderr, "phoenix ca: unknown subcommand %q\n\n%s", args[0], caUsage)
		return ExitUsage
	}
	return ca.ServeMain(args[1:], stdout, stderr)
}
