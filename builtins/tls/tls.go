// Package tls is the Starlark `tls` module: TLS endpoints checked with a
// real handshake, for health checks.
package tls

import (
	"context"
	"crypto/x509"
	"encoding/pem"
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
//	verify(addr: str, root: str, server_name: str|None = None, wait: str|None = None, sans: list|None = None, min_days: int|None = None, timeout: str = "2s") - struct(ok, chain, sans, not_after, days_left, fingerprint, error)
//	get(url: str, root: str, server_name: str|None = None, timeout: str = "2s") - struct(ok, status, body, error)
//	fingerprints(pem: str) - list of str
//
// verify connects to addr ("host:port"), does a TLS handshake that
// verifies the server's certificate for server_name (addr's host when
// None) against the certificates in root (a site path), and reports what
// it saw: ok, the chain's subjects leaf first up to the root, the leaf's
// SANs, not_after (RFC 3339, UTC), whole days_left, the fingerprint of the
// root the chain verified to (SHA-256, lowercase hex, as `step certificate
// fingerprint` prints it; None when it did not verify), and the error
// when it failed (None when ok). sans lists names (DNS names or IPs) that
// must all be SANs of the leaf; min_days fails a certificate with fewer
// whole days left. The error names one cause, checked in this order:
// "connection refused", "timeout after 2s", "certificate signed by
// unknown authority (issuer CN=..., expected root fingerprint ...)",
// "expired 2 days ago", "not valid for 3 more days", "certificate is
// valid for a, b, not NAME", "SAN NAME missing", "only 3 days left (want
// at least 7)". A failed handshake is a result, not an error: chain, sans
// and not_after still show what the server sent. timeout (a Go duration)
// bounds the connection and handshake. wait (a Go duration such as "15s")
// retries, until it has passed, while no certificate comes back (a
// daemon just restarted and not listening yet); a certificate that fails
// to verify is never retried.
//
// get does an HTTPS GET of url ("https://host[:port]/path"), its
// connection verified as verify does (server_name defaults to the URL's
// host, and is the request's Host header too, as a browser sends it),
// within timeout for the whole request, and returns ok (verified
// and a 2xx status), the status (None when no response came back), the
// body (at most 1 MiB; None without a response) and the error (a cause
// as verify names it, or "status 503 Service Unavailable"; None when ok).
// Redirects are not followed.
//
// fingerprints lists the SHA-256 fingerprints (lowercase hex, as verify
// reports them) of the certificates in pem text, in order: to compare a
// root a server hands out (get(".../roots.pem").body) with a file.
//
// verify and get are reads and run in a plan too; a root that only the plan
// creates gives unknown fields. With --netns NAME they connect from inside
// that network namespace, as the host side of the site does.
var Module = &starlarkstruct.Module{
	Name: "tls",
	Members: starlark.StringDict{
		"verify":       starlark.NewBuiltin("tls.verify", verify),
		"get":          starlark.NewBuiltin("tls.get", get),
		"fingerprints": starlark.NewBuiltin("tls.fingerprints", fingerprints),
	},
}

func verify(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var addr, root string
	var serverName, waitV, sansV, minDaysV starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	timeoutV := "2s"
	if err := starlark.UnpackArgs(fn, args, kwargs, "addr", &addr, "root", &root, "server_name?", &serverName,
		"wait?", &waitV, "sans?", &sansV, "min_days?", &minDaysV, "timeout?", &timeoutV); err != nil {
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
	o, err := options(fn, serverName, timeoutV)
	if err != nil {
		return nil, err
	}
	if o.SANs, err = runtime.StringList(fn, "sans", sansV); err != nil {
		return nil, err
	}
	if minDaysV != starlark.None {
		n, err := starlark.AsInt32(minDaysV)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: min_days: want a whole number of days >= 0, got %s", fn, minDaysV.String())
		}
		o.MinDays = n
	}
	rt := runtime.FromThread(thread)
	host, planned, err := rootFile(thread, fn, root)
	if err != nil {
		return nil, err
	}
	if planned {
		return unknowns(thread, fn, "ok", "chain", "sans", "not_after", "days_left", "fingerprint", "error"), nil
	}
	o.Root, o.NetNS = host, rt.Flag("netns")
	r := probe(rt.Context(), addr, o, wait)
	var notAfter, daysLeft, fp starlark.Value = starlark.None, starlark.None, starlark.None
	if !r.NotAfter.IsZero() {
		notAfter = starlark.String(r.NotAfter.UTC().Format(time.RFC3339))
		daysLeft = starlark.MakeInt(r.DaysLeft)
	}
	if r.Fingerprint != "" {
		fp = starlark.String(r.Fingerprint)
	}
	return runtime.Struct(starlark.StringDict{
		"ok":          starlark.Bool(r.OK),
		"chain":       runtime.Strings(r.Chain),
		"sans":        runtime.Strings(r.SANs),
		"not_after":   notAfter,
		"days_left":   daysLeft,
		"fingerprint": fp,
		"error":       errText(r.Error, host, root),
	}), nil
}

func get(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var url, root string
	var serverName starlark.Value = starlark.None
	timeoutV := "2s"
	if err := starlark.UnpackArgs(fn, args, kwargs, "url", &url, "root", &root, "server_name?", &serverName, "timeout?", &timeoutV); err != nil {
		return nil, err
	}
	o, err := options(fn, serverName, timeoutV)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%s: url %q: want https://host[:port]/path", fn, url)
	}
	rt := runtime.FromThread(thread)
	host, planned, err := rootFile(thread, fn, root)
	if err != nil {
		return nil, err
	}
	if planned {
		return unknowns(thread, fn, "ok", "status", "body", "error"), nil
	}
	o.Root, o.NetNS = host, rt.Flag("netns")
	g := tlsprobe.Get(rt.Context(), url, o)
	var status, body starlark.Value = starlark.None, starlark.None
	if g.Status != 0 {
		status, body = starlark.MakeInt(g.Status), starlark.String(g.Body)
	}
	return runtime.Struct(starlark.StringDict{
		"ok":     starlark.Bool(g.OK),
		"status": status,
		"body":   body,
		"error":  errText(g.Error, host, root),
	}), nil
}

func fingerprints(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pem", &text); err != nil {
		return nil, err
	}
	var fps []string
	data := []byte(text)
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", b.Name(), len(fps)+1, err)
		}
		fps = append(fps, tlsprobe.Fingerprint(c))
	}
	return runtime.Strings(fps), nil
}

// options reads the arguments verify and get share.
func options(fn string, serverName starlark.Value, timeout string) (tlsprobe.Options, error) {
	var o tlsprobe.Options
	if serverName != starlark.None {
		s, ok := starlark.AsString(serverName)
		if !ok {
			return o, fmt.Errorf("%s: server_name: want a string, got %s", fn, serverName.Type())
		}
		o.ServerName = s
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d <= 0 {
		return o, fmt.Errorf("%s: timeout: %q is not a positive duration such as \"2s\"", fn, timeout)
	}
	o.Timeout = d
	return o, nil
}

// rootFile resolves root; planned says it is missing on disk but written
// earlier in this plan.
func rootFile(thread *starlark.Thread, fn, root string) (host string, planned bool, err error) {
	if !path.IsAbs(root) {
		return "", false, fmt.Errorf("%s: root %q: want an absolute site path", fn, root)
	}
	rt := runtime.FromThread(thread)
	host, err = rt.Root.Resolve(root)
	if err != nil {
		return "", false, fmt.Errorf("%s: root: %w", fn, err)
	}
	if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
		if f, _, _, _ := rt.PlannedPath(root); f != nil {
			return host, true, nil
		}
	}
	return host, false, nil
}

func unknowns(thread *starlark.Thread, fn string, fields ...string) starlark.Value {
	d := starlark.StringDict{}
	for _, f := range fields {
		d[f] = runtime.NewUnknown(thread, fn+"(...)."+f+": the root comes with this plan")
	}
	return runtime.Struct(d)
}

// errText is a probe's error, naming the site path, not where --root put it.
func errText(e, host, root string) starlark.Value {
	if e == "" {
		return starlark.None
	}
	return starlark.String(strings.ReplaceAll(e, host, root))
}

// probe verifies addr, retrying until wait has passed while the server
// sends no certificate at all.
func probe(ctx context.Context, addr string, o tlsprobe.Options, wait time.Duration) tlsprobe.Result {
	deadline := time.Now().Add(wait)
	for {
		r := tlsprobe.Probe(ctx, addr, o)
		if r.OK || !r.NotAfter.IsZero() || !time.Now().Before(deadline) {
			return r
		}
		if _, err := os.Stat(o.Root); err != nil {
			return r // no root to verify with: waiting will not help
		}
		select {
		case <-ctx.Done():
			return r
		case <-time.After(200 * time.Millisecond):
		}
	}
}
