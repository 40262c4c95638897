package cli_test

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli/clitest"
)

func TestMain(m *testing.M) { clitest.Main(m, nil) }

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: clitest.Setup, Condition: clitest.Condition})
}
