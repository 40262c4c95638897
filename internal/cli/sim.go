package cli

import "phoenix/internal/pvesim"

func init() { register("sim", serveOnly("sim", simUsage, pvesim.Main)) }

const simUsage = `usage: phoenix sim serve [flags]

Runs the Proxmox VE API simulator over HTTPS until interrupted.
Run 'phoenix sim serve -h' for its flags; docs/simulator.md describes it.
`
