package proxmox_test

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli/clitest"
)

func TestMain(m *testing.M) { clitest.Main(m, nil) }

// TestScripts runs the CLI acceptance scripts: scripts/guests.star under
// phoenix exec --sim, and against a separate phoenix sim serve process.
// $REPO is the repository; $WORK/config the example site renamed for the
// simulator (simConfig).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			if err := clitest.Setup(env); err != nil {
				return err
			}
			return simConfig(filepath.Join(env.WorkDir, "config"))
		},
		Cmds:      map[string]func(ts *testscript.TestScript, neg bool, args []string){"simserve": simServe},
		Condition: clitest.Condition,
	})
}

// simServe starts `phoenix sim serve` as its own process on a free
// loopback port, with a fresh root password, and exports what a client
// needs: PVE_URL, PHOENIX_PVE_FINGERPRINT and PHOENIX_PVE_PASSWORD (also
// as SIM_PASSWORD). The process is stopped with SIGTERM when the script
// ends.
//
//	simserve [sim serve flags]
func simServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("simserve does not support !")
	}
	pwb := make([]byte, 12)
	if _, err := rand.Read(pwb); err != nil {
		ts.Fatalf("simserve: %v", err)
	}
	pw := hex.EncodeToString(pwb)
	url, fp := clitest.SimServe(ts, append([]string{"--root-password", pw}, args...)...)
	ts.Setenv("PVE_URL", url)
	ts.Setenv("PHOENIX_PVE_FINGERPRINT", fp)
	ts.Setenv("PHOENIX_PVE_PASSWORD", pw)
	ts.Setenv("SIM_PASSWORD", pw)
}
