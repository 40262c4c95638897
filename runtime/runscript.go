package runtime

import (
	"fmt"
	"os"

	"go.starlark.net/starlark"
)

// RunScript runs the script at path once more inside this run, with its
// own parameters (command-line style: --name=value), mode and report; the run's
// backends, root and command runner are shared, so what the script
// changed is what the caller sees next. A dry run's planned state is
// forgotten afterwards. phoenix test's testing.exec and testing.plan use it.
func (rt *Runtime) RunScript(path string, args []string, dryRun bool) (*Report, error) {
	decls, err := DeclaredParams(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	oldDry, oldParams := rt.Opts.DryRun, rt.params
	rt.mu.Unlock()
	defer func() {
		rt.SetDryRun(oldDry)
		rt.mu.Lock()
		rt.params = oldParams
		rt.mu.Unlock()
	}()
	if _, err := rt.SetParams(decls, args, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rt.SetDryRun(dryRun)
	rep := &Report{}
	th := rt.NewThread("run "+path, rep, rt.Opts.Stderr)
	defer rt.Release(th)
	_, err = starlark.ExecFileOptions(FileOptions, th, path, src, rt.Predeclared())
	if dryRun {
		rt.ResetPlan()
	}
	return rep, err
}
