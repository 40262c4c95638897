package exec_test

import (
	"testing"

	"phoenix/builtins"
	"phoenix/runtime/runtimetest"
)

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{Families: builtins.All(), ConfigDir: "../../config"})
}
