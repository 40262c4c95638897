package stepca

import (
	"fmt"
	"path/filepath"

	"go.starlark.net/starlark"

	"phoenix/internal/ca"
	"phoenix/runtime"
)

// serve starts the CA in this process. It changes nothing on disk, so it
// declares nothing and runs in a plan too; a CA the plan only declares
// cannot be served, and its fields are unknown.
func serve(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var dir string
	var pw starlark.Value
	listen := "127.0.0.1:0"
	if err := starlark.UnpackArgs(fn, args, kwargs, "dir", &dir, "password", &pw, "listen?", &listen); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	host, password, be, err := caArgs(rt, fn, dir, pw)
	if err != nil {
		return nil, err
	}
	root := joinSite(dir, ca.RootCertFile)
	if p, _, ok := runtime.PlannedAs[plannedCA](rt, "ca:"+dir); ok {
		fp := starlark.Value(runtime.NewUnknown(thread, fn+"(...).fingerprint"))
		if p.fingerprint != "" {
			fp = starlark.String(p.fingerprint)
		}
		return runtime.Struct(starlark.StringDict{
			"url": runtime.NewUnknown(thread, fn+"(...).url of a CA this plan creates"), "root": starlark.String(root), "fingerprint": fp,
		}), nil
	}
	st, err := be.Inspect(dir, password)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	if st.Status != ca.Valid && st.Status != ca.NeedsReissue {
		return nil, fmt.Errorf("%s: %s: the CA is %s: %s", fn, dir, st.Status, st.Reason)
	}
	srv, err := be.Serve(filepath.Join(host, filepath.FromSlash(ca.ConfigFile)), password, ca.ServeOptions{
		PathMap: map[string]string{st.GuestDir: host},
		Listen:  listen,
	})
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	return runtime.Struct(starlark.StringDict{
		"url": starlark.String(srv.URL()), "root": starlark.String(root), "fingerprint": starlark.String(srv.Fingerprint()),
	}), nil
}
