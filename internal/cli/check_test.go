package cli_test

import (
	"bytes"
	"testing"

	"phoenix/internal/cli"
)

// CI runs phoenix check over the shipped scripts and the stdlib: every
// .star under them, including files added later.
func TestShippedScriptsPassCheck(t *testing.T) {
	var out, errb bytes.Buffer
	code := cli.Run([]string{"check", "../../scripts", "../../stdlib"}, nil, &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("phoenix check scripts/ stdlib/: exit %d\n%s", code, errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("lxc_103.star: ok")) {
		t.Errorf("no script was checked:\n%s", out.String())
	}
}
