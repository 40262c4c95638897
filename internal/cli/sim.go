package cli

import (
	"fmt"
	"io"

	"phoenix/internal/pvesim"
)

func init() { register("sim", simCmd) }

const simUsage = `usage: phoenix sim serve [flags]

Runs the Proxmox VE API simulator over HTTPS until interrupted.
Run 'phoenix sim serve -h' for its flags; docs/simulator.md describes it.
`

func simCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w := stderr
		code := ExitUsage
		if len(args) > 0 {
			w, code = stdout, ExitOK
		}
		fmt.Fprint(w, simUsage)
		return code
	}
	if args[0] != "serve" {
		fmt.Fprintf(stderr, "phoenix sim: unknown subcommand %q\n\n%s", args[0], simUsage)
		return ExitUsage
	}
	return pvesim.Main(args[1:], stdout, stderr)
}
