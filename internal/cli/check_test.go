package cli_test

import (
	"bytes"
	"testing"

	"phoenix/internal/cli"
)

// CI runs phoenix check over the shipped scripts: every .star under
// scripts/, including files added later and their tests.
func TestShippedScriptsPassCheck(t *testing.T) {
	var out, errb bytes.Buffer
	code := cli.Run([]string{"check", "../../scripts"}, nil, &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("phoenix check scripts/: exit %d\n%s", code, errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("lxc_103.star: ok")) {
		t.Errorf("no script was checked:\n%s", out.String())
	}
}

// make test runs the tests scripts/ ships for its own scripts.
func TestShippedScriptTests(t *testing.T) {
	var out, errb bytes.Buffer
	code := cli.Run([]string{"test", "--config", "../../config", "../../scripts"}, nil, &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("phoenix test scripts/: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("ok    ../../scripts/lxc_103_test.star test_second_run_changes_nothing")) {
		t.Errorf("the shipped tests did not run:\n%s", out.String())
	}
}
