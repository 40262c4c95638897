package repl_test

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"phoenix": func() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// Piped sessions: stdin is a file, so the REPL reads line by line and
// never prompts.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
