package stepca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.starlark.net/starlark"

	"phoenix/internal/ca"
	"phoenix/runtime"
)

// Modes of an export, as consumers mount it read-only.
const (
	modeExportDir  os.FileMode = 0o755
	modeExportRoot os.FileMode = 0o644
	modeExportPW   os.FileMode = 0o600
)

func export(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var dir, to string
	var provPW, owner starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "dir", &dir, "to", &to, "provisioner_password?", &provPW, "owner?", &owner); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	if _, err := sitePath(rt, fn, "dir", dir); err != nil {
		return nil, err
	}
	if _, err := sitePath(rt, fn, "to", to); err != nil {
		return nil, err
	}
	pw, err := optSecret(fn, "provisioner_password", provPW)
	if err != nil {
		return nil, err
	}
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	// The root as it is, or as this plan leaves it.
	var rootPEM []byte
	var fingerprint starlark.Value
	rootPEM, err = rt.ReadFile(joinSite(dir, ca.RootCertFile))
	switch {
	case errors.Is(err, runtime.ErrKnownAfterApply):
		rootPEM, fingerprint = nil, runtime.NewUnknown(thread, fn+"(...).fingerprint of a CA this plan creates")
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %s holds no CA (%s is missing); stepca.init makes one", fn, dir, ca.RootCertFile)
	case err != nil:
		return nil, siteErr(rt, fn, err)
	default:
		fp, ok := fingerprintPEM(rootPEM)
		if !ok {
			return nil, fmt.Errorf("%s: %s: %s holds no PEM certificate", fn, dir, ca.RootCertFile)
		}
		fingerprint = starlark.String(fp)
	}

	changed, err := rt.EnsureDir(thread, to, modeExportDir, uid, gid)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	rootPath := joinSite(to, ca.ExportRootFile)
	if rootPEM != nil {
		c, err := rt.EnsureFile(thread, runtime.FileSpec{Path: rootPath, Data: rootPEM, Mode: modeExportRoot, UID: uid, GID: gid})
		if err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = changed || c
	} else {
		// Only a plan gets here: the new root does not exist yet.
		if err := planUnknownFile(thread, rootPath, uid, gid); err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = true
	}
	if pw != nil {
		data := append(append([]byte(nil), pw...), '\n')
		c, err := rt.EnsureFile(thread, runtime.FileSpec{
			Path: joinSite(to, ca.ExportPasswordFile), Data: data, Mode: modeExportPW, UID: uid, GID: gid, Secret: true,
		})
		if err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = changed || c
	}
	return runtime.Struct(starlark.StringDict{
		"changed":     starlark.Bool(changed),
		"fingerprint": fingerprint,
		"path":        starlark.String(to),
		"root":        starlark.String(rootPath),
	}), nil
}

// planUnknownFile declares the root certificate of a CA the plan creates:
// its content is known after apply. Later reads in the plan see that it
// will exist.
func planUnknownFile(thread *starlark.Thread, p string, uid, gid int) error {
	rt := runtime.FromThread(thread)
	host, err := rt.Root.Resolve(p)
	if err != nil {
		return err
	}
	action := "create"
	if ok, _ := rt.Exists(p); ok {
		action = "update"
	}
	resource := "file:" + rt.Root.Rel(host)
	leaves := map[string]any{resource: runtime.PlannedFile{Mode: modeExportRoot, UID: pick(uid), GID: pick(gid), Unknown: true}}
	_, err = runtime.Do(thread, runtime.Change{Resource: resource, Action: action,
		Detail: fmt.Sprintf("root certificate of the new CA (known after apply), mode %04o", modeExportRoot), Leaves: leaves},
		func() error { return errors.New("the root certificate is not known yet: apply the CA first") })
	return err
}
