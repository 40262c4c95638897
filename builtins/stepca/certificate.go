package stepca

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.starlark.net/starlark"

	"phoenix/internal/ca"
	"phoenix/runtime"
)

func certificate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var caURL, root, provisioner, subject, cert, key string
	var provPW starlark.Value
	var sansV, renewV, owner starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs,
		"ca_url", &caURL, "root", &root, "provisioner", &provisioner, "provisioner_password", &provPW,
		"subject", &subject, "cert", &cert, "key", &key,
		"sans?", &sansV, "renew_before?", &renewV, "owner?", &owner); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	if _, err := sitePath(rt, fn, "root", root); err != nil {
		return nil, err
	}
	certHost, err := sitePath(rt, fn, "cert", cert)
	if err != nil {
		return nil, err
	}
	keyHost, err := sitePath(rt, fn, "key", key)
	if err != nil {
		return nil, err
	}
	pw, err := secretArg(fn, "provisioner_password", provPW)
	if err != nil {
		return nil, err
	}
	sans, err := runtime.StringList(fn, "sans", sansV)
	if err != nil {
		return nil, err
	}
	renew, err := duration(fn, "renew_before", renewV)
	if err != nil {
		return nil, err
	}
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	if caURL == "" || provisioner == "" || subject == "" {
		return nil, fmt.Errorf("%s: ca_url, provisioner and subject must not be empty", fn)
	}
	be, err := BackendOf(rt)
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	req := ca.CertRequest{
		CAURL: caURL, Root: root, Provisioner: provisioner, Password: pw,
		Subject: subject, SANs: sans, Cert: cert, Key: key, RenewBefore: renew, UID: uid, GID: gid, Under: rt.Root,
	}
	resource := "cert:" + cert
	action := "update"
	if have, err := rt.Exists(cert); err != nil {
		return nil, siteErr(rt, fn, err)
	} else if !have {
		action = "create"
	}

	var st *ca.CertStatus
	if _, err := rt.ReadFile(root); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: root %s does not exist", fn, root)
	} else if plannedFiles(rt, cert) {
		// Issued earlier in this plan, as the apply would have it now.
		runtime.Unchanged(thread, resource)
		return runtime.Struct(starlark.StringDict{
			"action": starlark.String(ca.CertUnchanged.String()), "reason": starlark.String("issued earlier in this plan"),
			"cert": starlark.String(cert), "key": starlark.String(key), "changed": starlark.False,
			"serial": runtime.NewUnknown(thread, fn+"(...).serial"), "not_after": runtime.NewUnknown(thread, fn+"(...).not_after"),
			"sans": runtime.NewUnknown(thread, fn+"(...).sans"),
		}), nil
	} else if plannedFiles(rt, root) {
		// The root comes with this plan's apply: the certificate too.
		st = &ca.CertStatus{Action: ca.CertIssue, Reason: "the root " + root + " is created by this plan"}
	} else if st, err = ca.CertState(req, time.Now()); err != nil {
		return nil, siteErr(rt, fn, err)
	}

	fields := starlark.StringDict{
		"action": starlark.String(st.Action.String()),
		"reason": starlark.String(siteText(rt, st.Reason)),
		"cert":   starlark.String(cert),
		"key":    starlark.String(key),
	}
	if st.Action == ca.CertUnchanged {
		runtime.Unchanged(thread, resource)
		fields["changed"] = starlark.False
		fields["serial"] = starlark.String(st.Serial)
		fields["not_after"] = timeString(st.NotAfter)
		fields["sans"] = runtime.Strings(st.SANs)
		return runtime.Struct(fields), nil
	}
	var out *ca.CertResult
	detail := fmt.Sprintf("%s %s: %s", st.Action, subject, siteText(rt, st.Reason))
	leaves := map[string]any{
		"file:" + rt.Root.Rel(certHost): runtime.PlannedFile{Mode: ca.LeafCertMode, UID: pick(uid), GID: pick(gid), Unknown: true},
		"file:" + rt.Root.Rel(keyHost):  runtime.PlannedFile{Mode: ca.LeafKeyMode, UID: pick(uid), GID: pick(gid), Unknown: true},
	}
	applied, err := runtime.Do(thread, runtime.Change{Resource: resource, Action: action, Detail: detail, Leaves: leaves}, func() error {
		var err error
		out, err = be.Certificate(rt.Context(), req, st)
		return err
	})
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	fields["changed"] = starlark.True
	if !applied {
		for _, k := range []string{"serial", "not_after", "sans"} {
			fields[k] = runtime.NewUnknown(thread, fn+"(...)."+k)
		}
		return runtime.Struct(fields), nil
	}
	state, err := ca.CertState(req, time.Now())
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	fields["serial"] = starlark.String(out.Serial)
	fields["not_after"] = timeString(out.NotAfter)
	fields["sans"] = runtime.Strings(state.SANs)
	return runtime.Struct(fields), nil
}

// plannedFiles reports whether the plan writes any of the site paths.
func plannedFiles(rt *runtime.Runtime, paths ...string) bool {
	for _, p := range paths {
		if f, _, _, err := rt.PlannedPath(p); err == nil && f != nil {
			return true
		}
	}
	return false
}
