package cli_test

import (
	"bytes"
	"phoenix/internal/testkit"
	"testing"

	"phoenix/internal/cli"
)

// CI runs phoenix check over the shipped scripts: every .star under
// scripts/ (and the README's example), including files added later and
// their tests.
func TestShippedScriptsPassCheck(t *testing.T) {
	var out, errb bytes.Buffer
	code := cli.Run([]string{"check", "../../scripts", "../../docs/examples"}, nil, &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("phoenix check scripts/: exit %d\n%s", code, errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("lxc_103.star: ok")) {
		t.Errorf("no script was checked:\n%s", out.String())
	}
}

// make test runs the tests scripts/ ships for its own scripts, and the
// README's example test.
func TestShippedScriptTests(t *testing.T) {
	testkit.NeedRoot(t, "the shipped scripts chown bind-mount directories to the containers' mapped root")
	var out, errb bytes.Buffer
	code := cli.Run([]string{"test", "--config", "../../config", "../../scripts", "../../docs/examples"}, nil, &out, &errb)
	if code != cli.ExitOK {
		t.Fatalf("phoenix test scripts/: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("ok    ../../scripts/lxc_103_test.star test_second_run_changes_nothing")) {
		t.Errorf("the shipped tests did not run:\n%s", out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("ok    ../../docs/examples/inventory_test.star test_lxc_only_then_converged")) {
		t.Errorf("the README's example test did not run:\n%s", out.String())
	}
}
