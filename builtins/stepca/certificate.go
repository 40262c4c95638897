package stepca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	rootHost, err := sitePath(rt, fn, "root", root)
	if err != nil {
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
	sans, err := stringList(fn, "sans", sansV)
	if err != nil {
		return nil, err
	}
	renew, err := duration(fn, "renew_before", renewV)
	if err != nil {
		return nil, err
	}
	uid, gid, err := runtime.ParseOwner(owner)
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
		CAURL: caURL, Root: rootHost, Provisioner: provisioner, Password: pw,
		Subject: subject, SANs: sans, Cert: certHost, Key: keyHost, RenewBefore: renew, UID: uid, GID: gid,
	}
	resource := "cert:" + cert
	_, statErr := os.Stat(certHost)
	action := "update"
	if errors.Is(statErr, fs.ErrNotExist) {
		action = "create"
	}

	var st *ca.CertStatus
	if _, err := os.Stat(rootHost); errors.Is(err, fs.ErrNotExist) {
		if planned, _ := rt.Exists(root); !planned {
			return nil, fmt.Errorf("%s: root %s does not exist", fn, root)
		}
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
	err = runtime.Do(thread, runtime.Change{Resource: resource, Action: action, Detail: detail}, func() error {
		var err error
		out, err = be.Issuer.Apply(rt.Context(), req, st)
		return err
	})
	if err != nil {
		return nil, siteErr(rt, fn, err)
	}
	fields["changed"] = starlark.True
	if out == nil {
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
