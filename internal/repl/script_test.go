package repl_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli/clitest"
)

func TestMain(m *testing.M) { clitest.Main(m, nil) }

// Piped sessions: stdin is a file, so the REPL reads line by line and
// never prompts.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
