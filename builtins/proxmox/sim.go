package proxmox

import (
	"context"
	"fmt"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// SimSetup installs the simulated pct under --sim: the Sim backend's pct
// (internal/pvesim), which answers for the simulated containers.
func SimSetup(rt *runtime.Runtime, sr *machine.SimRunner) error {
	sr.Handle("pct", func(ctx context.Context, c machine.Cmd) (machine.Result, error) {
		b, err := runBackend(rt)
		if err != nil {
			return machine.Result{}, err
		}
		s, ok := b.(*Sim)
		if !ok {
			return machine.Result{}, fmt.Errorf("simulated pct without the simulated PVE")
		}
		return s.Pct.Run(ctx, c.Argv)
	})
	return nil
}
