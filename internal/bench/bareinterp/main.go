// Command bareinterp is the baseline for phoenix's startup figure: a bare
// go.starlark.net interpreter that links the same packages as phoenix (so
// package init costs are the same) and runs a script with nothing else.
package main

import (
	"fmt"
	"os"

	"go.starlark.net/starlark"

	_ "phoenix/internal/cli" // link exactly what phoenix links
)

func main() {
	th := &starlark.Thread{Name: "main"}
	if _, err := starlark.ExecFile(th, os.Args[1], nil, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
