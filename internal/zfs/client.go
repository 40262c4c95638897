// Package zfs drives OpenZFS 2.x through its command line, and simulates
// that command line for --sim and tests.
//
// The Client only uses the machine-readable forms (-H: tab-separated, no
// header; -p: exact numbers), and runs every command through a
// machine.Runner, so the same code runs against a real host, against the
// Sim (installed into a machine.SimRunner as the "zfs" program), or
// against scripted output. A failed command is an *Error carrying argv,
// exit code and stderr; errors.Is classifies the common failures
// (ErrNotExist, ErrExist, ErrNoParent, ErrHasChildren, ErrNewerSnapshots).
package zfs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"phoenix/internal/machine"
	"slices"
	"strings"
)

// Client runs zfs commands.
type Client struct {
	runner machine.Runner
	bin    string
}

// New returns a client that runs "zfs" through r.
func New(r machine.Runner) *Client { return &Client{runner: r, bin: "zfs"} }

func (c *Client) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := machine.Cmd{Argv: append([]string{c.bin}, args...)}
	res, err := c.runner.Run(ctx, cmd)
	res, err = machine.Check(cmd, res, err)
	var ce *machine.CommandError
	switch {
	case errors.As(err, &ce):
		return nil, &Error{ce}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return res.Stdout, nil
}

// List lists name (all filesystems when name is ""), and with recursive
// its descendants, in zfs's order (sorted by name).
func (c *Client) List(ctx context.Context, name string, recursive bool) ([]Dataset, error) {
	return list(ctx, c, name, recursive, ListColumns, ParseList)
}

// Lookup returns one filesystem; ok is false when it does not exist.
func (c *Client) Lookup(ctx context.Context, name string) (d Dataset, ok bool, err error) {
	return lookup(ctx, c, name, ListColumns, ParseList)
}

// Mounts is List without the space columns: names and mountpoints only.
func (c *Client) Mounts(ctx context.Context, name string, recursive bool) ([]Mount, error) {
	return list(ctx, c, name, recursive, MountColumns, ParseMounts)
}

// LookupMount is Lookup without the space columns.
func (c *Client) LookupMount(ctx context.Context, name string) (m Mount, ok bool, err error) {
	return lookup(ctx, c, name, MountColumns, ParseMounts)
}

// list runs zfs list -H -p with columns, parsed by parse.
func list[T any](ctx context.Context, c *Client, name string, recursive bool, columns string, parse func([]byte) ([]T, error)) ([]T, error) {
	args := []string{"list", "-H", "-p", "-o", columns, "-t", "filesystem"}
	if recursive {
		args = append(args, "-r")
	}
	if name != "" {
		if err := CheckName(name, false); err != nil {
			return nil, err
		}
		args = append(args, name)
	}
	out, err := c.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	return parse(out)
}

// lookup lists one filesystem; ok is false when it does not exist.
func lookup[T any](ctx context.Context, c *Client, name, columns string, parse func([]byte) ([]T, error)) (row T, ok bool, err error) {
	rows, err := list(ctx, c, name, false, columns, parse)
	switch {
	case errors.Is(err, ErrNotExist):
		return row, false, nil
	case err != nil:
		return row, false, err
	case len(rows) != 1:
		return row, false, fmt.Errorf("zfs list %s: want 1 row, got %d", name, len(rows))
	}
	return rows[0], true, nil
}

// Get reads properties of a filesystem or snapshot: the named ones, or
// all of them when props is empty.
func (c *Client) Get(ctx context.Context, name string, props ...string) ([]Property, error) {
	if err := CheckName(name, true); err != nil {
		return nil, err
	}
	which := "all"
	if len(props) > 0 {
		for _, p := range props {
			if err := checkPropName(p); err != nil {
				return nil, err
			}
		}
		which = strings.Join(props, ",")
	}
	out, err := c.run(ctx, "get", "-H", "-p", "-o", "name,property,value,source", which, name)
	if err != nil {
		return nil, err
	}
	return ParseGet(out)
}

// Create creates a filesystem with properties; parents creates missing
// ancestors (zfs create -p), which also makes an existing name succeed.
func (c *Client) Create(ctx context.Context, name string, props map[string]string, parents bool) error {
	if err := CheckName(name, false); err != nil {
		return err
	}
	args := []string{"create"}
	if parents {
		args = append(args, "-p")
	}
	kv, err := propArgs(props)
	if err != nil {
		return err
	}
	for _, p := range kv {
		args = append(args, "-o", p)
	}
	_, err = c.run(ctx, append(args, name)...)
	return err
}

// Set sets properties in one command; OpenZFS 2.x applies them together.
func (c *Client) Set(ctx context.Context, name string, props map[string]string) error {
	if err := CheckName(name, true); err != nil {
		return err
	}
	if len(props) == 0 {
		return nil
	}
	kv, err := propArgs(props)
	if err != nil {
		return err
	}
	args := append([]string{"set"}, kv...)
	_, err = c.run(ctx, append(args, name)...)
	return err
}

// Snapshot takes name@snap.
func (c *Client) Snapshot(ctx context.Context, name, snap string) error {
	if err := snapArg(name, snap); err != nil {
		return err
	}
	_, err := c.run(ctx, "snapshot", name+"@"+snap)
	return err
}

// Snapshots lists a filesystem's own snapshots, oldest first.
func (c *Client) Snapshots(ctx context.Context, name string) ([]Snapshot, error) {
	if err := CheckName(name, false); err != nil {
		return nil, err
	}
	out, err := c.run(ctx, "list", "-H", "-p", "-t", "snapshot", "-o", "name,creation", name)
	if err != nil {
		return nil, err
	}
	return ParseSnapshots(out)
}

// Rollback rolls name back to name@snap. Unless destroyNewer (-r), zfs
// refuses when later snapshots exist (ErrNewerSnapshots).
func (c *Client) Rollback(ctx context.Context, name, snap string, destroyNewer bool) error {
	if err := snapArg(name, snap); err != nil {
		return err
	}
	args := []string{"rollback"}
	if destroyNewer {
		args = append(args, "-r")
	}
	_, err := c.run(ctx, append(args, name+"@"+snap)...)
	return err
}

// Destroy destroys a filesystem or a snapshot (name@snap). Unless
// recursive (-r), zfs refuses when it has children (ErrHasChildren).
func (c *Client) Destroy(ctx context.Context, name string, recursive bool) error {
	if err := CheckName(name, true); err != nil {
		return err
	}
	args := []string{"destroy"}
	if recursive {
		args = append(args, "-r")
	}
	_, err := c.run(ctx, append(args, name)...)
	return err
}

func snapArg(name, snap string) error {
	if err := CheckName(name, false); err != nil {
		return err
	}
	return CheckSnapName(snap)
}

// propArgs renders props as sorted k=v arguments, refusing what would be
// misread on the command line or in -H output.
func propArgs(props map[string]string) ([]string, error) {
	keys := slices.Sorted(maps.Keys(props))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := checkPropName(k); err != nil {
			return nil, err
		}
		v := props[k]
		if strings.ContainsAny(v, "\n\t\x00") {
			return nil, fmt.Errorf("property %s: value contains a newline, tab or NUL", k)
		}
		out = append(out, k+"="+v)
	}
	return out, nil
}

func checkPropName(p string) error {
	if p == "" || p == "all" || p[0] == '-' || strings.ContainsAny(p, "=, \t\n\x00") {
		return fmt.Errorf("invalid property name %q", p)
	}
	return nil
}
