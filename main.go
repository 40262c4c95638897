// Command phoenix automates a Proxmox VE site with Starlark scripts.
package main

import (
	"os"

	"phoenix/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
