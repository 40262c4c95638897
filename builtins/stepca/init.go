package stepca

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"phoenix/builtins/zfs"
	"phoenix/internal/ca"
	"phoenix/runtime"
)

// initArgs are init's arguments, checked.
type initArgs struct {
	dir     string // site path
	hostDir string
	opts    ca.Options
	// sources are adoption candidates (site paths); explicit means one
	// path that must hold a CA.
	sources  []string
	explicit bool
	force    bool
	reinit   bool
}

func parseInit(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*initArgs, error) {
	var (
		dir, name, provisioner string
		guestDir               = "/etc/step-ca/ssl"
		address                = ":9000"
		acme                   = true
		force, reinit          bool
		dnsNames, pw, provPW   starlark.Value
		durs, adopt, owner     starlark.Value = starlark.None, starlark.None, starlark.None
	)
	if err := starlark.UnpackArgs(fn, args, kwargs,
		"dir", &dir, "name", &name, "dns_names", &dnsNames, "provisioner", &provisioner,
		"password", &pw, "provisioner_password", &provPW,
		"guest_dir?", &guestDir, "address?", &address, "acme?", &acme, "durations?", &durs,
		"adopt_from?", &adopt, "force?", &force, "reinit?", &reinit, "owner?", &owner); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	a := &initArgs{dir: dir, force: force || reinit, reinit: reinit}
	var err error
	if a.hostDir, err = sitePath(rt, fn, "dir", dir); err != nil {
		return nil, err
	}
	// The CA directory is mounted into its guest: nothing in it is
	// trusted to stay what it was (the site config names the guest).
	rt.Root.Guard(dir, "the CA's guest")
	names, err := runtime.StringList(fn, "dns_names", dnsNames)
	if err != nil {
		return nil, err
	}
	password, err := secretArg(fn, "password", pw)
	if err != nil {
		return nil, err
	}
	provPassword, err := secretArg(fn, "provisioner_password", provPW)
	if err != nil {
		return nil, err
	}
	d, err := durations(fn, durs)
	if err != nil {
		return nil, err
	}
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	switch v := adopt.(type) {
	case starlark.NoneType:
	case starlark.String:
		a.sources, a.explicit = []string{string(v)}, true
	default:
		if a.sources, err = runtime.StringList(fn, "adopt_from", adopt); err != nil {
			return nil, err
		}
	}
	for _, s := range a.sources {
		if _, err := sitePath(rt, fn, "adopt_from", s); err != nil {
			return nil, err
		}
		if !a.explicit {
			// Candidates are in a container's root file system, which
			// its guest writes.
			rt.Root.Guard(s, "the guest whose root file system holds it")
		}
	}
	if reinit && a.explicit {
		return nil, fmt.Errorf("%s: reinit makes a new CA, adopt_from imports one: give one of them", fn)
	}
	a.opts = ca.Options{
		Dir: dir, Root: rt.Root, GuestDir: guestDir, Name: name, DNSNames: names, Address: address,
		Provisioner: provisioner, Password: password, ProvisionerPassword: provPassword,
		ACME: acme, Durations: d, UID: uid, GID: gid,
	}
	if err := a.opts.Validate(); err != nil {
		return nil, siteErr(rt, fn, err)
	}
	return a, nil
}

// initResult is what init returns; unknown fields stay nil.
type initResult struct {
	action                     string
	created, adopted, reissued starlark.Value
	fingerprint                starlark.Value
	backup, snapshot           string
	repaired                   bool // modes or owners put back
}

func initCA(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	a, err := parseInit(thread, fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	be, err := BackendOf(rt)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	st, err := be.Inspect(a.dir, a.opts.Password)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	var r *initResult
	if p, _, planned := runtime.PlannedAs[plannedCA](rt, "ca:"+a.dir); planned && !a.reinit {
		// Made earlier in this plan: valid, as the apply would find it.
		runtime.Unchanged(thread, "ca:"+a.dir)
		r = &initResult{action: "none", fingerprint: runtime.NewUnknown(thread, fn+"(...).fingerprint of a CA this plan makes")}
		if p.fingerprint != "" {
			r.fingerprint = starlark.String(p.fingerprint)
		}
	} else {
		r, err = converge(thread, fn, be, a, st)
	}
	if err == nil {
		be.Converged(a.opts)
	}
	if err != nil {
		return nil, err
	}
	f := starlark.False
	for _, v := range []*starlark.Value{&r.created, &r.adopted, &r.reissued} {
		if *v == nil {
			*v = f
		}
	}
	return runtime.Struct(starlark.StringDict{
		"changed":     starlark.Bool(r.action != "none" || r.repaired),
		"action":      starlark.String(r.action),
		"created":     r.created,
		"adopted":     r.adopted,
		"reissued":    r.reissued,
		"dir":         starlark.String(a.dir),
		"root":        starlark.String(joinSite(a.dir, ca.RootCertFile)),
		"fingerprint": r.fingerprint,
		"url":         starlark.String(a.opts.URL()),
		"backup":      orNone(r.backup),
		"snapshot":    orNone(r.snapshot),
	}), nil
}

// caArgs checks a builtin's dir (a CA directory: a clean site path) and
// password (a secret) arguments and finds the run's CA backend.
func caArgs(rt *runtime.Runtime, fn, dir string, pw starlark.Value) (host string, password []byte, be Backend, err error) {
	if host, err = sitePath(rt, fn, "dir", dir); err != nil {
		return "", nil, nil, err
	}
	if password, err = secretArg(fn, "password", pw); err != nil {
		return "", nil, nil, err
	}
	if be, err = BackendOf(rt); err != nil {
		return "", nil, nil, siteErr(rt, fn, err)
	}
	return host, password, be, nil
}

// inspectArgs is caArgs, then the CA in dir as it is.
func inspectArgs(thread *starlark.Thread, fn, dir string, pw starlark.Value) (*runtime.Runtime, *ca.State, error) {
	rt := runtime.FromThread(thread)
	_, password, be, err := caArgs(rt, fn, dir, pw)
	if err != nil {
		return nil, nil, err
	}
	st, err := be.Inspect(dir, password)
	if err != nil {
		return nil, nil, siteErr(rt, fn, err)
	}
	return rt, st, nil
}

// replaces reports whether init, given reinit and force, moves the CA
// in st aside for a new one: the change converging again cannot undo.
func replaces(st *ca.State, reinit, force bool) bool {
	switch {
	case reinit:
		return st.Status != ca.Missing
	case st.Status == ca.Invalid, len(st.Leftovers) > 0:
		return force
	}
	return false
}

// replaceQuestion is what the operator is asked before that; the run
// asks it once (runtime.Confirm remembers the answer).
func replaceQuestion(dir string, st *ca.State) string {
	return fmt.Sprintf("replace the CA in %s (root %s) with a new one? It is snapshotted and moved aside, and every consumer must then trust the new root", dir, ca.ShortFingerprint(st.Fingerprint))
}

// confirmReplace asks, before a run's first change, the question that
// init(dir, reinit=, force=) would ask when it reaches the CA, so that a
// refusal leaves everything as it was. It returns whether init would
// replace the CA.
func confirmReplace(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var dir string
	var pw starlark.Value
	var reinit, force bool
	if err := starlark.UnpackArgs(fn, args, kwargs, "dir", &dir, "password", &pw, "reinit?", &reinit, "force?", &force); err != nil {
		return nil, err
	}
	_, st, err := inspectArgs(thread, fn, dir, pw)
	if err != nil {
		return nil, err
	}
	if !replaces(st, reinit, force) {
		return starlark.False, nil
	}
	if err := runtime.Confirm(thread, replaceQuestion(dir, st)); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return starlark.True, nil
}

// converge decides by the CA's state and declares what it does.
func converge(thread *starlark.Thread, fn string, be Backend, a *initArgs, st *ca.State) (*initResult, error) {
	resource := "ca:" + a.dir
	reason := siteText(runtime.FromThread(thread), st.Reason)
	repair := "force=True (lxc_103.star: --reinit) snapshots the dataset, moves the CA aside and makes a new one"
	backup := replaces(st, a.reinit, a.force)
	switch {
	case a.reinit:
	case st.Status == ca.Invalid:
		if !a.force {
			return nil, fmt.Errorf("%s: %s: the CA is invalid: %s. Nothing was changed; %s", fn, a.dir, reason, repair)
		}
	case len(st.Leftovers) > 0:
		if !a.force {
			return nil, fmt.Errorf("%s: %s: %s, which no phoenix run staged. Nothing was changed; %s", fn, a.dir, reason, repair)
		}
	case st.Status == ca.Valid || st.Status == ca.NeedsReissue:
		if a.explicit {
			if err := sameRoot(thread, fn, be, a, st); err != nil {
				return nil, err
			}
		}
		repaired, err := repairModes(thread, fn, a)
		if err != nil {
			return nil, err
		}
		if !st.Complete {
			if err := mark(thread, fn, a, st); err != nil {
				return nil, err
			}
			repaired = true
		}
		renamed, err := syncNames(thread, fn, a, st)
		if err != nil {
			return nil, err
		}
		repaired = repaired || renamed
		if st.Status == ca.Valid {
			runtime.Unchanged(thread, resource)
			return &initResult{action: "none", repaired: repaired, fingerprint: starlark.String(st.Fingerprint)}, nil
		}
		detail := fmt.Sprintf("re-issue the intermediate under the same root %s: %s", ca.ShortFingerprint(st.Fingerprint), reason)
		leaves := map[string]any{resource: plannedCA{fingerprint: st.Fingerprint}}
		for _, f := range []string{ca.IntermediateCertFile, ca.IntermediateKeyFile} {
			leaves["file:"+joinSite(a.dir, f)] = runtime.PlannedFile{Mode: modeOf(f), UID: pick(a.opts.UID), GID: pick(a.opts.GID), Unknown: true}
		}
		_, err = runtime.Do(thread, runtime.Change{Resource: resource, Action: "update", Detail: detail, Leaves: leaves}, func() error {
			_, err := be.Reissue(a.opts)
			return err
		})
		if err != nil {
			return nil, siteErr(runtime.FromThread(thread), fn, err)
		}
		return &initResult{action: "reissue", reissued: starlark.True, fingerprint: starlark.String(st.Fingerprint)}, nil
	}

	res := &initResult{}
	if backup {
		if err := runtime.Confirm(thread, replaceQuestion(a.dir, st)); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		if err := backupCA(thread, fn, be, a, st, res); err != nil {
			return nil, err
		}
	}
	if !backup && st.StagingReady {
		return finishStaged(thread, fn, be, a, st, res)
	}
	if !a.reinit {
		src, srcPath, err := findSource(thread, fn, be, a)
		if err != nil {
			return nil, err
		}
		if src != nil {
			return adoptCA(thread, fn, be, a, src, srcPath, res)
		}
	}
	return createCA(thread, fn, be, a, st, backup, res)
}

// mark writes the completion marker of a valid CA that lacks it: a run
// killed between the CA's install and its marker leaves one, and the
// rerun keeps the CA (its root must not change) but finishes the install.
func mark(thread *starlark.Thread, fn string, a *initArgs, st *ca.State) error {
	rt := runtime.FromThread(thread)
	p := joinSite(a.dir, ca.MarkerFile)
	ch := runtime.Change{Resource: "file:" + p, Action: "create",
		Detail: fmt.Sprintf("completion marker of the valid CA (root %s) an interrupted run installed", ca.ShortFingerprint(st.Fingerprint)),
		Leaves: map[string]any{"file:" + p: runtime.PlannedFile{Mode: modeOf(ca.MarkerFile), UID: pick(a.opts.UID), GID: pick(a.opts.GID), Unknown: true}}}
	_, err := runtime.Do(thread, ch, func() error { return ca.Mark(a.opts) })
	if err != nil {
		return siteErr(rt, fn, err)
	}
	return nil
}

// repairModes puts back the mode (and owner) of every entry of the CA's
// layout that drifted, each its own change, on the handle that was
// checked: a key left 0644 is readable by all who reach the directory.
func repairModes(thread *starlark.Thread, fn string, a *initArgs) (bool, error) {
	rt := runtime.FromThread(thread)
	repaired := false
	for _, e := range ca.Layout() {
		p := joinSite(a.dir, e.Path)
		f, err := rt.Root.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, siteErr(rt, fn, err)
		}
		i := f.Info()
		var diffs []string
		if i.Mode.Perm() != e.Mode {
			diffs = append(diffs, fmt.Sprintf("mode: %04o -> %04o", i.Mode.Perm(), e.Mode))
		}
		uid, gid := a.opts.UID, a.opts.GID
		if uid >= 0 && i.UID != uid || gid >= 0 && i.GID != gid {
			diffs = append(diffs, fmt.Sprintf("owner: %d:%d -> %d:%d", i.UID, i.GID, pickID(uid, i.UID), pickID(gid, i.GID)))
		}
		if len(diffs) == 0 {
			f.Close()
			continue
		}
		resource := "dir:" + p
		var leaf any = runtime.PlannedDir{Mode: e.Mode, UID: pickID(uid, i.UID), GID: pickID(gid, i.GID)}
		if !i.IsDir() {
			data, err := f.ReadAll()
			if err != nil {
				f.Close()
				return false, siteErr(rt, fn, err)
			}
			resource, leaf = "file:"+p, runtime.PlannedFile{Data: data, Mode: e.Mode, UID: pickID(uid, i.UID), GID: pickID(gid, i.GID)}
		}
		ch := runtime.Change{Resource: resource, Action: "update", Detail: commaList(diffs), Leaves: map[string]any{resource: leaf}}
		_, err = runtime.Do(thread, ch, func() error {
			if err := f.Chmod(e.Mode); err != nil {
				return err
			}
			return f.Chown(uid, gid)
		})
		f.Close()
		if err != nil {
			return false, siteErr(rt, fn, err)
		}
		repaired = true
	}
	return repaired, nil
}

// syncNames sets the dnsNames of a CA that is kept to dns_names: the CA's
// own TLS certificate must name every address consumers dial, such as
// the guest's IP added to the site after the CA was made. The daemon
// picks it up when it restarts, which init's changed asks for.
func syncNames(thread *starlark.Thread, fn string, a *initArgs, st *ca.State) (bool, error) {
	if slices.Equal(st.DNSNames, a.opts.DNSNames) {
		return false, nil
	}
	rt := runtime.FromThread(thread)
	p := joinSite(a.dir, ca.ConfigFile)
	cur, err := rt.ReadFile(p)
	if err != nil {
		return false, siteErr(rt, fn, err)
	}
	data, err := ca.SetDNSNames(cur, a.opts.DNSNames)
	if err != nil {
		return false, siteErr(rt, fn, fmt.Errorf("%s: %w", a.dir, err))
	}
	// ca.json holds the provisioner's encrypted key: never shown.
	changed, err := rt.EnsureFile(thread, runtime.FileSpec{Path: p, Data: data, Mode: modeOf(ca.ConfigFile),
		UID: a.opts.UID, GID: a.opts.GID, Secret: true})
	if err != nil {
		return false, siteErr(rt, fn, err)
	}
	return changed, nil
}

func pickID(want, cur int) int {
	if want < 0 {
		return cur
	}
	return want
}

// sameRoot refuses an explicit adopt_from that names another root than
// the CA already in place: adopting it would replace a live CA.
func sameRoot(thread *starlark.Thread, fn string, be Backend, a *initArgs, st *ca.State) error {
	rt := runtime.FromThread(thread)
	src, err := be.InspectSource(a.sources[0], a.opts.Password)
	if err != nil {
		return siteErr(rt, fn, fmt.Errorf("adopt_from: %w", err))
	}
	if src.Fingerprint != st.Fingerprint {
		return fmt.Errorf("%s: adopt_from %s holds the CA with root %s, but %s already holds another CA (root %s). Nothing was changed; move that CA away first (force=True when it is invalid)",
			fn, a.sources[0], ca.ShortFingerprint(src.Fingerprint), a.dir, ca.ShortFingerprint(st.Fingerprint))
	}
	return nil
}

// backupCA snapshots the dataset holding the CA, then moves the CA's
// entries to the backup directory, each its own change.
func backupCA(thread *starlark.Thread, fn string, be Backend, a *initArgs, st *ca.State, res *initResult) error {
	rt := runtime.FromThread(thread)
	tag := st.Fingerprint
	if tag == "" {
		// No readable root: name the backup from the content instead.
		h, err := contentTag(rt, a.dir)
		if err != nil {
			return siteErr(rt, fn, err)
		}
		tag = h
	}
	bakSite := ca.BackupTargetIn(rt.Root, a.dir, tag)
	snap := "phoenix-" + path.Base(bakSite)
	ds, _, err := zfs.Containing(thread, a.dir)
	if err != nil {
		return fmt.Errorf("%s: %s: the CA is snapshotted before it is moved aside, but %w", fn, a.dir, err)
	}
	if _, err := zfs.Snapshot(thread, ds, snap); err != nil {
		return siteErr(rt, fn, fmt.Errorf("snapshot before the backup: %w", err))
	}
	res.snapshot = ds + "@" + snap
	what := st.Status.String()
	if st.Reason != "" && st.Status != ca.Valid {
		what += ": " + siteText(rt, st.Reason)
	}
	detail := fmt.Sprintf("back up the CA in %s (root %s, %s): its files move here, nothing is deleted", a.dir, ca.ShortFingerprint(st.Fingerprint), what)
	// The CA's entries move into the backup: gone from dir until the new
	// CA is made.
	leaves := map[string]any{"dir:" + bakSite: runtime.PlannedDir{Mode: ca.DirMode, UID: pick(a.opts.UID), GID: pick(a.opts.GID)}}
	for _, e := range ca.Layout() {
		if !strings.Contains(e.Path, "/") {
			leaves["file:"+joinSite(a.dir, e.Path)] = runtime.Gone
		}
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: "dir:" + bakSite, Action: "create", Detail: detail, Leaves: leaves}, func() error {
		got, err := be.Backup(a.dir, tag)
		if err != nil {
			return err
		}
		if got != bakSite {
			return fmt.Errorf("the backup went to %s, not to the planned %s", got, bakSite)
		}
		return nil
	})
	if err != nil {
		return siteErr(rt, fn, err)
	}
	res.backup = bakSite
	return nil
}

// contentTag names a CA without a readable root from its files' content
// (12 hex digits), so that plans stay deterministic.
func contentTag(rt *runtime.Runtime, dir string) (string, error) {
	h := sha256.New()
	for _, c := range []string{ca.ConfigFile, ca.RootKeyFile, ca.IntermediateCertFile, ca.IntermediateKeyFile} {
		b, err := rt.Root.ReadFile(joinSite(dir, c))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", c, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// findSource returns the CA to adopt: the explicit path, or the first
// candidate holding a config/ca.json; nil when there is none.
func findSource(thread *starlark.Thread, fn string, be Backend, a *initArgs) (*ca.Source, string, error) {
	rt := runtime.FromThread(thread)
	for _, s := range a.sources {
		if _, err := sitePath(rt, fn, "adopt_from", s); err != nil {
			return nil, "", err
		}
		if !a.explicit {
			if _, err := rt.Root.Stat(joinSite(s, ca.ConfigFile)); err != nil {
				continue
			}
		}
		src, err := be.InspectSource(s, a.opts.Password)
		if err != nil {
			return nil, "", siteErr(rt, fn, fmt.Errorf("adopt_from: %w. Nothing was changed", err))
		}
		want := a.opts.Provisioner + " (JWK)"
		found := false
		for _, p := range src.Provisioners {
			found = found || p == want
		}
		if !found {
			return nil, "", fmt.Errorf("%s: adopt_from %s: the CA has no JWK provisioner %q (it has: %s), so consumers could not request certificates. Nothing was changed",
				fn, s, a.opts.Provisioner, commaList(src.Provisioners))
		}
		return src, s, nil
	}
	return nil, "", nil
}

func adoptCA(thread *starlark.Thread, fn string, be Backend, a *initArgs, src *ca.Source, srcPath string, res *initResult) (*initResult, error) {
	detail := fmt.Sprintf("adopt the step CA in %s: root %s (%s), provisioners %s; ca.json rewritten for %s",
		srcPath, ca.ShortFingerprint(src.Fingerprint), src.RootSubject, commaList(src.Provisioners), a.opts.GuestDir)
	pemData, err := runtime.FromThread(thread).Root.ReadFile(src.Files.RootCert)
	if err != nil {
		return nil, siteErr(runtime.FromThread(thread), fn, err)
	}
	leaves := caLeaves(thread, a, plannedCA{fingerprint: src.Fingerprint, rootPEM: pemData})
	_, err = runtime.Do(thread, runtime.Change{Resource: "ca:" + a.dir, Action: "create", Detail: detail, Leaves: leaves}, func() error {
		_, err := be.Adopt(a.opts, src.Dir)
		return err
	})
	if err != nil {
		return nil, siteErr(runtime.FromThread(thread), fn, err)
	}
	res.action, res.adopted, res.fingerprint = "adopt", starlark.True, starlark.String(src.Fingerprint)
	return res, nil
}

func createCA(thread *starlark.Thread, fn string, be Backend, a *initArgs, st *ca.State, replaced bool, res *initResult) (*initResult, error) {
	o := a.opts
	extra := ""
	if o.ACME {
		extra = " and ACME"
	}
	leaves := "step-ca's default lifetimes"
	if o.Durations.Default > 0 || o.Durations.Max > 0 {
		leaves = fmt.Sprintf("leaves %s (max %s)", fmtDur(o.Durations.Default), fmtDur(o.Durations.Max))
	}
	detail := fmt.Sprintf("new CA %q: root and intermediate (ECDSA P-256, 10 years), provisioner %s (JWK)%s, %s; ca.json for %s",
		o.Name, o.Provisioner, extra, leaves, o.GuestDir)
	if replaced {
		detail += fmt.Sprintf("; replaces root %s", ca.ShortFingerprint(st.Fingerprint))
	}
	var made *ca.Result
	applied, err := runtime.Do(thread, runtime.Change{Resource: "ca:" + a.dir, Action: "create", Detail: detail, Leaves: caLeaves(thread, a, plannedCA{})}, func() error {
		var err error
		made, err = be.Create(o)
		return err
	})
	if err != nil {
		return nil, siteErr(runtime.FromThread(thread), fn, err)
	}
	res.action, res.created = "create", starlark.True
	if applied {
		res.fingerprint = starlark.String(made.Fingerprint)
	} else {
		res.fingerprint = runtime.NewUnknown(thread, fn+"(...).fingerprint of a new CA")
	}
	return res, nil
}

// finishStaged completes an install an interrupted run left staged.
func finishStaged(thread *starlark.Thread, fn string, be Backend, a *initArgs, st *ca.State, res *initResult) (*initResult, error) {
	r := runtime.FromThread(thread).Root
	stagedRoot := joinSite(a.dir, ca.StagingDir+"/"+ca.RootCertFile)
	fp, pemData := st.Fingerprint, []byte(nil)
	if b, err := r.ReadFile(stagedRoot); err == nil {
		if f, ok := fingerprintPEM(b); ok {
			fp, pemData = f, b
		}
	} else if b, err := r.ReadFile(joinSite(a.dir, ca.RootCertFile)); err == nil {
		pemData = b
	}
	detail := fmt.Sprintf("finish the install an interrupted run staged in %s (root %s)", ca.StagingDir, ca.ShortFingerprint(fp))
	var made *ca.Result
	leaves := caLeaves(thread, a, plannedCA{fingerprint: fp, rootPEM: pemData})
	applied, err := runtime.Do(thread, runtime.Change{Resource: "ca:" + a.dir, Action: "create", Detail: detail, Leaves: leaves}, func() error {
		var err error
		made, err = be.Create(a.opts)
		return err
	})
	if err != nil {
		return nil, siteErr(runtime.FromThread(thread), fn, err)
	}
	res.action = "finish"
	if applied {
		res.created, res.adopted = starlark.Bool(made.Created), starlark.Bool(made.Adopted)
		res.fingerprint = starlark.String(made.Fingerprint)
		return res, nil
	}
	res.created = runtime.NewUnknown(thread, fn+"(...).created of a staged CA")
	res.adopted = runtime.NewUnknown(thread, fn+"(...).adopted of a staged CA")
	if fp != "" {
		res.fingerprint = starlark.String(fp)
	} else {
		res.fingerprint = runtime.NewUnknown(thread, fn+"(...).fingerprint of a staged CA")
	}
	return res, nil
}

// caLeaves is what a planned init leaves: the CA, its directory (and the
// parents Create makes) and every entry of its layout, owned as asked.
// Content is unknown but for the root of a CA whose root is known.
func caLeaves(thread *starlark.Thread, a *initArgs, p plannedCA) map[string]any {
	rt := runtime.FromThread(thread)
	uid, gid := pick(a.opts.UID), pick(a.opts.GID)
	leaves := map[string]any{"ca:" + a.dir: p}
	missing := func(d string) bool {
		f, dir, err := rt.Current(d)
		return err == nil && f == nil && dir == nil
	}
	if missing(a.dir) {
		leaves["dir:"+a.dir] = runtime.PlannedDir{Mode: ca.DirMode, UID: uid, GID: gid}
		for d := path.Dir(a.dir); d != "/" && missing(d); d = path.Dir(d) {
			leaves["dir:"+d] = runtime.PlannedDir{Mode: 0o755}
		}
	}
	for _, e := range ca.Layout() {
		k := joinSite(a.dir, e.Path)
		if e.Dir {
			leaves["dir:"+k] = runtime.PlannedDir{Mode: e.Mode, UID: uid, GID: gid}
			continue
		}
		f := runtime.PlannedFile{Mode: e.Mode, UID: uid, GID: gid, Unknown: true}
		if e.Path == ca.RootCertFile && p.rootPEM != nil {
			f.Data, f.Unknown = p.rootPEM, false
		}
		leaves["file:"+k] = f
	}
	return leaves
}

// pick is an owner id as a CA's files get it: -1 leaves them to whoever
// runs phoenix, root.
func pick(id int) int {
	if id < 0 {
		return 0
	}
	return id
}

// modeOf is the mode of a file of the layout.
func modeOf(rel string) os.FileMode {
	for _, e := range ca.Layout() {
		if e.Path == rel {
			return e.Mode
		}
	}
	return 0o600
}

// fingerprintPEM is the fingerprint of the first certificate in data.
func fingerprintPEM(data []byte) (string, bool) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return "", false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", false
	}
	return ca.Fingerprint(c), true
}

func status(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var dir string
	var pw starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "dir", &dir, "password", &pw); err != nil {
		return nil, err
	}
	rt, st, err := inspectArgs(thread, fn, dir, pw)
	if err != nil {
		return nil, err
	}
	if p, _, ok := runtime.PlannedAs[plannedCA](rt, "ca:"+dir); ok {
		// Made by this plan: valid once applied; what it holds is known after.
		u := func(f string) starlark.Value {
			return runtime.NewUnknown(thread, fn+"(...)."+f+" of a CA this plan makes")
		}
		fp := u("fingerprint")
		if p.fingerprint != "" {
			fp = starlark.String(p.fingerprint)
		}
		return runtime.Struct(starlark.StringDict{
			"status": starlark.String(ca.Valid.String()), "reason": starlark.String(""), "fingerprint": fp,
			"root_subject": u("root_subject"), "intermediate_not_after": u("intermediate_not_after"),
			"provisioners": u("provisioners"), "guest_dir": u("guest_dir"), "dns_names": u("dns_names"), "address": u("address"),
		}), nil
	}
	reason := siteText(rt, st.Reason)
	return runtime.Struct(starlark.StringDict{
		"status":                 starlark.String(st.Status.String()),
		"reason":                 starlark.String(reason),
		"fingerprint":            orNone(st.Fingerprint),
		"root_subject":           orNone(st.RootSubject),
		"intermediate_not_after": timeString(st.IntermediateNotAfter),
		"provisioners":           runtime.Strings(st.Provisioners),
		"guest_dir":              orNone(st.GuestDir),
		"dns_names":              runtime.Strings(st.DNSNames),
		"address":                orNone(st.Address),
	}), nil
}
