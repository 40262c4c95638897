package proxmox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strings"

	"go.starlark.net/starlark"

	"phoenix/builtins/exec"
	"phoenix/internal/machine"
	"phoenix/internal/pve"
	"phoenix/runtime"
)

// onLocalNode checks that pct can reach the container from here: it must
// exist (or be planned) and run on the node phoenix runs on. ok is false
// when the container exists only in the plan.
func onLocalNode(ctx context.Context, be *conn, fn string, vmid int) (exists bool, err error) {
	g, ok, onlyPlanned, err := be.guest(ctx, vmid)
	if err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	if !ok {
		return false, fmt.Errorf("%s: lxc:%d does not exist in PVE", fn, vmid)
	}
	if g.Kind != pve.LXC {
		return false, fmt.Errorf("%s: VMID %d is a VM; pct works on containers only", fn, vmid)
	}
	local, err := be.LocalNode(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	if g.Node != local {
		return false, fmt.Errorf("%s: lxc:%d is on node %s but phoenix runs on %s; pct reaches only the containers of its own node: run this on %s", fn, vmid, g.Node, local, g.Node)
	}
	return !onlyPlanned, nil
}

func lxcExec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var vmidV starlark.Value
	var argvList *starlark.List
	var stdin starlark.Value = starlark.None
	readOnly, check := false, true
	if err := starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV, "argv", &argvList, "read_only?", &readOnly, "stdin?", &stdin, "check?", &check); err != nil {
		return nil, err
	}
	vmid, err := vmidArg(fn, vmidV)
	if err != nil {
		return nil, err
	}
	argv, err := exec.Argv(fn, argvList)
	if err != nil {
		return nil, err
	}
	in, err := exec.Stdin(fn, stdin)
	if err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	var cmd []string
	if pattern := rt.Flag("guest-netns"); pattern != "" {
		// Probes from inside the guest's network namespace, as on a real
		// site; no container needed.
		ns := strings.ReplaceAll(pattern, "{vmid}", itoa(vmid))
		cmd = append([]string{"ip", "netns", "exec", ns}, argv...)
	} else {
		be, ctx, err := backendOf(thread, fn)
		if err != nil {
			return nil, err
		}
		exists, err := onLocalNode(ctx, be, fn, vmid)
		if err != nil {
			return nil, err
		}
		if !exists && readOnly {
			// The container comes only with the plan's apply: nothing to read.
			return runtime.Struct(starlark.StringDict{
				"exit_code": runtime.NewUnknown(thread, fn+" exit_code"),
				"stdout":    runtime.NewUnknown(thread, fn+" stdout"),
				"stderr":    runtime.NewUnknown(thread, fn+" stderr"),
				"changed":   starlark.False,
			}), nil
		}
		cmd = append([]string{"pct", "exec", itoa(vmid), "--"}, argv...)
	}
	return exec.Run(thread, fn, "cmd:"+strings.Join(cmd, " "), machine.Cmd{Argv: cmd, Stdin: in}, readOnly, check)
}

func lxcPush(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var vmidV starlark.Value
	var dst string
	var src, content starlark.Value = starlark.None, starlark.None
	mode := -1
	executable := false
	if err := starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV, "dst", &dst, "src?", &src, "content?", &content, "mode?", &mode, "executable?", &executable); err != nil {
		return nil, err
	}
	vmid, err := vmidArg(fn, vmidV)
	if err != nil {
		return nil, err
	}
	if !path.IsAbs(dst) || path.Clean(dst) != dst {
		return nil, fmt.Errorf("%s: dst %q: want a clean absolute path inside the container", fn, dst)
	}
	given := 0
	for _, set := range []bool{src != starlark.None, content != starlark.None, executable} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, fmt.Errorf("%s: give exactly one of src (a site path), content (a string) and executable=True", fn)
	}
	if mode == -1 {
		mode = 0o644
		if executable {
			mode = 0o755
		}
	}
	if mode < 0 || mode > 0o7777 {
		return nil, fmt.Errorf("%s: mode %#o out of range", fn, mode)
	}
	rt := runtime.FromThread(thread)
	ctx := rt.Context()

	// data is what must end up in the container; hostPath, when the data
	// already is a host file, what pct push reads.
	var data []byte
	var hostPath, what string
	switch {
	case src != starlark.None:
		p, ok := starlark.AsString(src)
		if !ok {
			return nil, fmt.Errorf("%s: src: want a site path, got %s", fn, src.Type())
		}
		// Read through the root's handles and pushed from a private copy:
		// pct would follow a link planted at the path since.
		if data, err = rt.ReadFile(p); err != nil {
			return nil, fmt.Errorf("%s: src: %w", fn, err)
		}
		what = p
	case executable:
		if hostPath, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%s: the phoenix binary: %w", fn, err)
		}
		if data, err = os.ReadFile(hostPath); err != nil {
			return nil, fmt.Errorf("%s: the phoenix binary: %w", fn, err)
		}
		what = "the phoenix binary"
	default:
		if data, err = exec.Stdin(fn, content); err != nil {
			return nil, fmt.Errorf("%s: content: %w", fn, err)
		}
		what = fmt.Sprintf("%d bytes", len(data))
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	be, _, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}
	exists, err := onLocalNode(ctx, be, fn, vmid)
	if err != nil {
		return nil, err
	}
	have := ""
	if exists {
		if have, err = remoteHash(ctx, rt.Runner, vmid, dst); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	res := fmt.Sprintf("file:lxc:%d%s", vmid, dst)
	if h, _, planned := runtime.PlannedAs[string](rt, res); planned {
		have = h // pushed earlier in this plan
	}
	result := func(changed bool) starlark.Value {
		return runtime.Struct(starlark.StringDict{"changed": starlark.Bool(changed), "path": starlark.String(dst), "sha256": starlark.String(want)})
	}
	if have == want {
		runtime.Unchanged(thread, res)
		return result(false), nil
	}
	action, detail := "create", fmt.Sprintf("push %s (sha256 %s), mode %04o", what, want[:12], mode)
	if have != "" {
		action, detail = "update", fmt.Sprintf("push %s: sha256 %s -> %s, mode %04o", what, have[:12], want[:12], mode)
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: res, Action: action, Detail: detail, Leaves: map[string]any{res: want}}, func() error {
		from := hostPath
		if from == "" {
			tmp, err := tempCopy(data)
			if err != nil {
				return err
			}
			defer os.Remove(tmp)
			from = tmp
		}
		// Pushed beside dst and renamed over it: pct push writes in
		// place, and a daemon watching dst (or running it) must never
		// see half a file.
		tmp := dst + ".phoenix-new"
		run := func(argv ...string) error {
			cmd := machine.Cmd{Argv: argv}
			res, err := rt.Runner.Run(ctx, cmd)
			_, err = machine.Check(cmd, res, err)
			return err
		}
		if err := run("pct", "push", itoa(vmid), from, tmp, "--perms", fmt.Sprintf("%04o", mode)); err != nil {
			return err
		}
		if err := run("pct", "exec", itoa(vmid), "--", "mv", "-f", tmp, dst); err != nil {
			_ = run("pct", "exec", itoa(vmid), "--", "rm", "-f", tmp)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return result(true), nil
}

// remoteHash reads the SHA-256 of a file in a container, read-only; ""
// when the file does not exist. Any other failure (a stopped container,
// a missing sha256sum) is an error: reading it as "absent" would plan a
// push that cannot happen.
func remoteHash(ctx context.Context, r machine.Runner, vmid int, p string) (string, error) {
	cmd := machine.Cmd{Argv: []string{"pct", "exec", itoa(vmid), "--", "sha256sum", p}}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return "", fmt.Errorf("lxc:%d: reading %s: %w", vmid, p, err)
	}
	if res.ExitCode != 0 {
		// GNU and busybox sha256sum both say so, with exit status 1.
		if res.ExitCode == 1 && strings.Contains(string(res.Stderr), "No such file or directory") {
			return "", nil
		}
		_, err := machine.Check(cmd, res, nil)
		return "", fmt.Errorf("lxc:%d: reading %s: %w", vmid, p, err)
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) == 0 || len(f[0]) != 64 {
		return "", fmt.Errorf("lxc:%d: %s: unexpected output %q", vmid, cmd, strings.TrimSpace(string(res.Stdout)))
	}
	return strings.ToLower(f[0]), nil
}

// tempCopy writes data to a private temporary file for pct push.
func tempCopy(data []byte) (string, error) {
	f, err := os.CreateTemp("", "phoenix-push-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Chmod(0o600); err == nil {
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			return name, nil
		}
	} else {
		f.Close()
	}
	os.Remove(name)
	return "", err
}
