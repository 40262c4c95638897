// Package tls is the Starlark `tls` module: TLS endpoints checked with a
// real handshake, for health checks.
package tls

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/tlsprobe"
	"phoenix/runtime"
)

// Family registers tls with the runtime.
var Family = runtime.Family{Name: "tls", Module: Module}

// Module is the tls module.
//
//	verify(addr: str, root: str, server_name: str|None = None, wait: str|None = None) - struct(ok, chain, sans, not_after, days_left, error)
//
// verify connects to addr ("host:port"), does a TLS handshake that
// verifies the server's certificate for server_name (addr's host when
// None) against the certificates in root (a site path), and reports what
// it saw: ok, the chain's subjects leaf first up to the root, the leaf's
// SANs, not_after (RFC 3339, UTC) and whole days_left, and the error text
// when it failed (None when ok). A failed handshake is a result, not an
// error: chain, sans and not_after still show what the server sent. It is
// a read and runs in a plan too; a root that only the plan creates gives
// unknown fields. wait (a Go duration such as "15s") retries, until it
// has passed, while no certificate comes back (a daemon just restarted
// and not listening yet); a certificate that fails to verify is never
// retried. With --netns NAME it connects from inside that network
// namespace, as the host side of the site does.
var Module = &starlarkstruct.Module{
	Name: "tls",
	Members: starlark.StringDict{
		"verify": starlark.NewBuiltin("tls.verify", verify),
	},
}

func verify(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var addr, root string
	var serverName, waitV starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "addr", &addr, "root", &root, "server_name?", &serverName, "wait?", &waitV); err != nil {
		return nil, err
	}
	var wait time.Duration
	if waitV != starlark.None {
		s, ok := starlark.AsString(waitV)
		if !ok {
			return nil, fmt.Errorf("%s: wait: want a duration string such as \"15s\", got %s", fn, waitV.Type())
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: wait: %q is not a duration such as \"15s\"", fn, s)
		}
		wait = d
	}
	name := ""
	if serverName != starlark.None {
		s, ok := starlark.AsString(serverName)
		if !ok {
			return nil, fmt.Errorf("%s: server_name: want a string, got %s", fn, serverName.Type())
		}
		name = s
	}
	if !path.IsAbs(root) {
		return nil, fmt.Errorf("%s: root %q: want an absolute site path", fn, root)
	}
	rt := runtime.FromThread(thread)
	host, err := rt.Root.Resolve(root)
	if err != nil {
		return nil, fmt.Errorf("%s: root: %w", fn, err)
	}
	if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
		// Missing on disk, but written earlier in this plan.
		if f, _, _, _ := rt.PlannedPath(root); f != nil {
			u := func(f string) starlark.Value {
				return runtime.NewUnknown(thread, fn+"(...)."+f+": the root comes with this plan")
			}
			return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
				"ok": u("ok"), "chain": u("chain"), "sans": u("sans"), "not_after": u("not_after"),
				"days_left": u("days_left"), "error": u("error"),
			}), nil
		}
	}
	r := probe(rt.Context(), rt.Flag("netns"), addr, name, host, wait)
	var notAfter, daysLeft, errText starlark.Value = starlark.None, starlark.None, starlark.None
	if !r.NotAfter.IsZero() {
		notAfter = starlark.String(r.NotAfter.UTC().Format(time.RFC3339))
		daysLeft = starlark.MakeInt(r.DaysLeft)
	}
	if r.Error != "" {
		// Errors name the site path, not where --root put it.
		errText = starlark.String(strings.ReplaceAll(r.Error, host, root))
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"ok":        starlark.Bool(r.OK),
		"chain":     runtime.Strings(r.Chain),
		"sans":      runtime.Strings(r.SANs),
		"not_after": notAfter,
		"days_left": daysLeft,
		"error":     errText,
	}), nil
}

// probe verifies addr from network namespace ns (--netns), retrying until wait has passed while the server
// sends no certificate at all.
func probe(ctx context.Context, ns, addr, name, root string, wait time.Duration) tlsprobe.Result {
	deadline := time.Now().Add(wait)
	for {
		r := tlsprobe.VerifyIn(ctx, ns, addr, name, root)
		if r.OK || !r.NotAfter.IsZero() || !time.Now().Before(deadline) {
			return r
		}
		if _, err := os.Stat(root); err != nil {
			return r // no root to verify with: waiting will not help
		}
		select {
		case <-ctx.Done():
			return r
		case <-time.After(200 * time.Millisecond):
		}
	}
}
