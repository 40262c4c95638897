package stepca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

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
	var caURL, provisioner, mountedAt string
	if err := starlark.UnpackArgs(fn, args, kwargs, "dir", &dir, "to", &to, "provisioner_password?", &provPW, "owner?", &owner,
		"ca_url?", &caURL, "provisioner?", &provisioner, "mounted_at?", &mountedAt); err != nil {
		return nil, err
	}
	if caURL != "" && !strings.HasPrefix(caURL, "https://") {
		return nil, fmt.Errorf("%s: ca_url %q: want https://host[:port]", fn, caURL)
	}
	if caURL == "" && (provisioner != "" || mountedAt != "") {
		return nil, fmt.Errorf("%s: provisioner and mounted_at go into the export's %s, which needs ca_url", fn, ca.ExportDefaultsFile)
	}
	if mountedAt == "" {
		mountedAt = to // no consumer mounts it elsewhere: it is used where it is
	} else if !path.IsAbs(mountedAt) || path.Clean(mountedAt) != mountedAt {
		return nil, fmt.Errorf("%s: mounted_at %q: want a clean absolute path (where consumers see the export)", fn, mountedAt)
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
		if err := planUnknownFile(thread, rootPath, modeExportRoot, uid, gid, "root certificate of the new CA"); err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = true
	}
	var defaults starlark.Value = starlark.None
	if caURL != "" {
		c, err := rt.EnsureDir(thread, joinSite(to, path.Dir(ca.ExportDefaultsFile)), modeExportDir, uid, gid)
		if err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = changed || c
		p := joinSite(to, ca.ExportDefaultsFile)
		if fp, ok := fingerprint.(starlark.String); ok {
			data := ca.StepDefaults(caURL, string(fp), path.Join(mountedAt, ca.ExportRootFile), provisioner)
			c, err = rt.EnsureFile(thread, runtime.FileSpec{Path: p, Data: data, Mode: modeExportRoot, UID: uid, GID: gid})
		} else {
			c, err = true, planUnknownFile(thread, p, modeExportRoot, uid, gid, "step defaults naming the new CA's fingerprint")
		}
		if err != nil {
			return nil, siteErr(rt, fn, err)
		}
		changed = changed || c
		defaults = starlark.String(p)
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
		"defaults":    defaults,
	}), nil
}

// planUnknownFile declares a file of a CA the plan creates (what names
// it): its content is known after apply. Later reads in the plan see that
// it will exist.
func planUnknownFile(thread *starlark.Thread, p string, mode os.FileMode, uid, gid int, what string) error {
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
	leaves := map[string]any{resource: runtime.PlannedFile{Mode: mode, UID: pick(uid), GID: pick(gid), Unknown: true}}
	_, err = runtime.Do(thread, runtime.Change{Resource: resource, Action: action,
		Detail: fmt.Sprintf("%s (known after apply), mode %04o", what, mode), Leaves: leaves},
		func() error { return errors.New(what + " is not known yet: apply the CA first") })
	return err
}
