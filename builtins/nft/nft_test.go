package nft_test

import (
	"testing"

	"phoenix/builtins"
	"phoenix/runtime/runtimetest"
)

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{Families: builtins.All(), ConfigDir: "../../config"})
}

// TestPlan: a dry run declares the sysctls and the table and changes
// nothing in the simulated host.
func TestPlan(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{Families: builtins.All(), ConfigDir: "../../config", DryRun: true})
}
