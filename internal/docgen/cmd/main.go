// Command cmd writes docs/builtins.md and builtins/docs_generated.go from
// the builtin modules' doc comments (go generate ./internal/docgen).
package main

import (
	"flag"
	"fmt"
	"os"

	"phoenix/internal/docgen"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := docgen.Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}
