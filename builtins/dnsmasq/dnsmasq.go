// Package dnsmasq is the Starlark `dnsmasq` module: the host's
// split-horizon DNS, rendered from the site config into dnsmasq's files.
package dnsmasq

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/dnsmasq"
	sitepkg "phoenix/internal/site"
	"phoenix/runtime"
)

// Family registers dnsmasq with the runtime. `dnsmasq --test` only reads
// the file it is given, so --sim still runs it when dnsmasq is installed.
var Family = runtime.Family{
	Name:       "dnsmasq",
	Module:     Module,
	Validators: map[string][]string{"dnsmasq": {"--test"}},
}

// Module is the dnsmasq module: the host's split-horizon DNS.
//
//	records(site: struct) - list of struct(view, name, type, value, source), sorted
//	    The zones' records and every VM's and LXC's dns_records of config.site(), each with the file and field that declares it.
//	render(site: struct, records: list|None = None, hosts: str = "hostsdir", options: list = []) - struct(files, listen, external_listen)
//	    The files of both views, from site's records or the records given (dicts or structs with view, name, type, value, source).
//	apply(rendered: any) - struct(changed, files, actions)
//	    Converges what render returned under the root: validated, atomic, 0644; then per service none, reload or restart.
//
// records: a name with two meanings in one view is an error naming both
// sources; a name that is not an RFC 1123 DNS name (a line break, space,
// "=", "#" or "/" in it) or an address that is not IPv4 or IPv6 is an
// error naming its source, before anything is written.
//
// render: the internal view answers on dns.listen_address, the external
// view (only when dns.external_listen_address is set) on its own address,
// served by a second instance, dnsmasq@external, so an external client is
// never answered from internal data. Each view has a small restart-only
// file (listen address, local zones, upstream servers, CNAMEs, and
// options: extra lines for the internal view's file) and a hosts file: in
// a hostsdir= directory, which dnsmasq re-reads by itself, or with
// hosts="addn-hosts" an addn-hosts file, re-read on SIGHUP. The same
// records render the same bytes. files are struct(path, kind, unit,
// content); kind is hostsdir, addn-hosts or conf.
//
// apply writes mode 0644 files (dnsmasq runs as nobody and silently drops
// names it cannot read), atomically, and only after every changed conf
// file has passed `dnsmasq --test`. Then, per service, by what changed:
// hostsdir files need nothing, addn-hosts files a reload (SIGHUP), conf
// files a restart (`systemctl restart dnsmasq`, or dnsmasq@external), as
// does a daemon that started before its conf file was last written (a
// hand edit). A reload or restart that a run owes is recorded in
// /run/phoenix/dnsmasq-pending until it is done, so one that failed,
// or that a failure before it left undone, is repeated by the next run;
// the plan lists the reload or restart. The shell
// script's old /etc/dnsmasq.d/00-phoenix-aggregated-hosts.conf is deleted
// when present, with a restart, and so is a hosts file of the other kind
// that an earlier render left. A site without an external view any more
// has the external instance's files removed and dnsmasq@external stopped
// and disabled. actions maps each service to none, reload
// or restart.
var Module = &starlarkstruct.Module{
	Name: "dnsmasq",
	Members: starlark.StringDict{
		"records": starlark.NewBuiltin("dnsmasq.records", recordsFn),
		"render":  starlark.NewBuiltin("dnsmasq.render", renderFn),
		"apply":   starlark.NewBuiltin("dnsmasq.apply", applyFn),
	},
}

// attr reads a field of a struct or a key of a dict, so that both forms
// of a site value work.
func attr(v starlark.Value, name string) (starlark.Value, bool, error) {
	// A dict has attributes too (its methods): keys come first.
	switch x := v.(type) {
	case starlark.Mapping:
		f, found, err := x.Get(starlark.String(name))
		return f, found, err
	case starlark.HasAttrs:
		f, err := x.Attr(name)
		if err != nil || f == nil {
			return nil, false, nil
		}
		return f, true, nil
	}
	return nil, false, fmt.Errorf("want a struct or dict, got %s", v.Type())
}

func str(v starlark.Value, name string) (string, error) {
	f, ok, err := attr(v, name)
	if err != nil || !ok || f == starlark.None {
		return "", err
	}
	s, ok := starlark.AsString(f)
	if !ok {
		if err := runtime.Known(f, name); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%s: want a string, got %s", name, f.Type())
	}
	return s, nil
}

// siteRecords reads site.records(), the records of config.site(): from
// the typed site when it is one, else through its attributes (a site
// written in a script).
func siteRecords(thread *starlark.Thread, site starlark.Value) ([]dnsmasq.Record, error) {
	if s, ok := sitepkg.SiteOf(site); ok {
		var out []dnsmasq.Record
		for _, r := range s.Records() {
			out = append(out, dnsmasq.Record{View: r.View, Name: r.Name, Type: r.Type, Value: r.Value, Source: r.Source})
		}
		return out, nil
	}
	f, ok, err := attr(site, "records")
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("site: want the value of config.site(), which has records()")
	}
	if _, callable := f.(starlark.Callable); callable {
		if f, err = starlark.Call(thread, f, nil, nil); err != nil {
			return nil, err
		}
	}
	return toRecords(f, "site.records()")
}

func toRecords(v starlark.Value, what string) ([]dnsmasq.Record, error) {
	var out []dnsmasq.Record
	err := each(v, what, "a list of records", func(i int, x starlark.Value) error {
		var r dnsmasq.Record
		for _, f := range []struct {
			name string
			dst  *string
		}{{"view", &r.View}, {"name", &r.Name}, {"type", &r.Type}, {"value", &r.Value}, {"source", &r.Source}} {
			s, err := str(x, f.name)
			if err != nil {
				return fmt.Errorf("%s[%d]: %w", what, i, err)
			}
			*f.dst = s
		}
		if r.Source == "" {
			r.Source = fmt.Sprintf("%s[%d]", what, i)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// each calls f with every item of v, which what (in errors) says must be
// want: "a list".
func each(v starlark.Value, what, want string, f func(i int, x starlark.Value) error) error {
	it, ok := v.(starlark.Iterable)
	if !ok {
		return fmt.Errorf("%s: want %s, got %s", what, want, v.Type())
	}
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for i := 0; iter.Next(&x); i++ {
		if err := f(i, x); err != nil {
			return err
		}
	}
	return nil
}

func recordValues(recs []dnsmasq.Record) *starlark.List {
	out := make([]starlark.Value, len(recs))
	for i, r := range recs {
		out[i] = runtime.Struct(starlark.StringDict{
			"view": starlark.String(r.View), "name": starlark.String(r.Name), "type": starlark.String(r.Type),
			"value": starlark.String(r.Value), "source": starlark.String(r.Source),
		})
	}
	return starlark.NewList(out)
}

func recordsFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var site starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "site", &site); err != nil {
		return nil, err
	}
	recs, err := siteRecords(thread, site)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	recs, err = dnsmasq.Check(recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return recordValues(recs), nil
}

// siteConfig reads site.hypervisor.dns, typed when the site is a
// config.site() value.
func siteConfig(site starlark.Value) (dnsmasq.Config, error) {
	var c dnsmasq.Config
	if s, ok := sitepkg.SiteOf(site); ok {
		d := s.Hypervisor.DNS
		c.Listen, c.ExternalListen = d.ListenAddress, d.ExternalListenAddress
		c.Upstream = append(c.Upstream, d.Upstream...)
		for z := range d.Zones {
			c.Zones = append(c.Zones, z)
		}
		return c, nil
	}
	h, ok, err := attr(site, "hypervisor")
	if err != nil || !ok {
		return c, fmt.Errorf("site: want the value of config.site(), which has hypervisor.dns")
	}
	dns, ok, err := attr(h, "dns")
	if err != nil || !ok {
		return c, fmt.Errorf("site.hypervisor has no dns")
	}
	addr := func(field string) (netip.Addr, error) {
		s, err := str(dns, field)
		if err != nil || s == "" {
			return netip.Addr{}, err
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return a, fmt.Errorf("dns.%s: %w", field, err)
		}
		return a, nil
	}
	if c.Listen, err = addr("listen_address"); err != nil {
		return c, err
	}
	if c.ExternalListen, err = addr("external_listen_address"); err != nil {
		return c, err
	}
	if up, ok, _ := attr(dns, "upstream"); ok && up != starlark.None {
		err := each(up, "dns.upstream", "a list", func(_ int, x starlark.Value) error {
			s, _ := starlark.AsString(x)
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("dns.upstream: %s is not an address", x)
			}
			c.Upstream = append(c.Upstream, a)
			return nil
		})
		if err != nil {
			return c, err
		}
	}
	if zs, ok, _ := attr(dns, "zones"); ok {
		err := each(zs, "dns.zones", "a dict", func(_ int, x starlark.Value) error {
			s, ok := starlark.AsString(x)
			if !ok {
				return fmt.Errorf("dns.zones: want zone names, got %s", x.Type())
			}
			c.Zones = append(c.Zones, s)
			return nil
		})
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// Rendered is what render returns and apply takes: the files, kept as Go
// values so that apply writes exactly what was rendered.
type Rendered struct {
	files []dnsmasq.File
	attrs starlark.StringDict
}

var _ starlark.HasAttrs = (*Rendered)(nil)

func (r *Rendered) String() string {
	return fmt.Sprintf("dnsmasq.rendered(%d files)", len(r.files))
}
func (r *Rendered) Type() string          { return "dnsmasq.rendered" }
func (r *Rendered) Freeze()               { r.attrs.Freeze() }
func (r *Rendered) Truth() starlark.Bool  { return true }
func (r *Rendered) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", r.Type()) }
func (r *Rendered) Attr(name string) (starlark.Value, error) {
	return r.attrs[name], nil
}
func (r *Rendered) AttrNames() []string { return sortedKeys(r.attrs) }

func sortedKeys(d starlark.StringDict) []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func renderFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var site starlark.Value
	var given starlark.Value = starlark.None
	hosts := string(dnsmasq.HostsDir)
	var options *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "site", &site, "records?", &given, "hosts?", &hosts, "options?", &options); err != nil {
		return nil, err
	}
	fail := func(err error) (starlark.Value, error) { return nil, fmt.Errorf("%s: %w", b.Name(), err) }
	c, err := siteConfig(site)
	if err != nil {
		return fail(err)
	}
	c.Hosts = dnsmasq.Kind(hosts)
	if options != nil {
		for i := 0; i < options.Len(); i++ {
			s, ok := starlark.AsString(options.Index(i))
			if !ok {
				return fail(fmt.Errorf("options[%d]: want a string, got %s", i, options.Index(i).Type()))
			}
			c.Options = append(c.Options, s)
		}
	}
	var recs []dnsmasq.Record
	if given == starlark.None {
		recs, err = siteRecords(thread, site)
	} else {
		recs, err = toRecords(given, "records")
	}
	if err != nil {
		return fail(err)
	}
	if recs, err = dnsmasq.Check(recs); err != nil {
		return fail(err)
	}
	files, err := dnsmasq.Render(c, recs)
	if err != nil {
		return fail(err)
	}
	vals := make([]starlark.Value, len(files))
	for i, f := range files {
		vals[i] = runtime.Struct(starlark.StringDict{
			"path": starlark.String(f.Path), "kind": starlark.String(f.Kind),
			"unit": starlark.String(f.Unit), "content": starlark.String(f.Data),
		})
	}
	ext := starlark.Value(starlark.None)
	if c.ExternalListen.IsValid() {
		ext = starlark.String(c.ExternalListen.String())
	}
	r := &Rendered{files: files, attrs: starlark.StringDict{
		"files": starlark.NewList(vals), "listen": starlark.String(c.Listen.String()), "external_listen": ext,
	}}
	r.Freeze()
	return r, nil
}

func applyFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var r *Rendered
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "rendered", &r); err != nil {
		return nil, err
	}
	res, err := apply(thread, r.files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return res, nil
}

// apply validates, writes, then reloads or restarts what needs it.
func apply(thread *starlark.Thread, files []dnsmasq.File) (starlark.Value, error) {
	rt := runtime.FromThread(thread)
	be, err := runtime.UseBackend(rt, "dnsmasq", newHost, newSim)
	if err != nil {
		return nil, err
	}
	ctx := rt.Context()

	// Nothing is written until every changed conf file passes dnsmasq --test.
	units := []string{}
	changedKinds := map[string]map[dnsmasq.Kind][]string{}
	for _, f := range files {
		if _, ok := changedKinds[f.Unit]; !ok {
			units = append(units, f.Unit)
			changedKinds[f.Unit] = map[dnsmasq.Kind][]string{}
		}
		if f.Kind != dnsmasq.Conf || f.Path == dnsmasq.ExternalDefaults {
			continue
		}
		cur, err := rt.ReadFile(f.Path)
		if err == nil && bytes.Equal(cur, f.Data) {
			continue
		}
		if err := be.Test(ctx, f.Data); err != nil {
			return nil, fmt.Errorf("%s is not applied, the current file stays: %w", f.Path, err)
		}
	}

	// Hosts files first, so that a restarted daemon finds them.
	ordered := append([]dnsmasq.File(nil), files...)
	sort.SliceStable(ordered, func(i, j int) bool {
		return ordered[i].Kind != dnsmasq.Conf && ordered[j].Kind == dnsmasq.Conf
	})
	var written []starlark.Value
	for _, f := range ordered {
		changed, err := rt.EnsureFile(thread, runtime.FileSpec{Path: f.Path, Data: f.Data, Mode: 0o644, UID: -1, GID: -1})
		if err != nil {
			return nil, err
		}
		if changed {
			changedKinds[f.Unit][f.Kind] = append(changedKinds[f.Unit][f.Kind], f.Path)
			written = append(written, starlark.String(f.Path))
		}
	}

	// A hosts file of the other kind, from an earlier render, is read by
	// nothing now.
	for _, f := range files {
		if other := f.Other(); other != "" {
			gone, err := rt.RemoveFile(thread, other)
			if err != nil {
				return nil, err
			}
			if gone {
				written = append(written, starlark.String(other))
			}
		}
	}

	// The shell script's aggregate is replaced by the files above.
	if _, ok := changedKinds["dnsmasq"]; ok {
		gone, err := rt.RemoveFile(thread, dnsmasq.OldAggregate)
		if err != nil {
			return nil, err
		}
		if gone {
			changedKinds["dnsmasq"][dnsmasq.Conf] = append(changedKinds["dnsmasq"][dnsmasq.Conf], dnsmasq.OldAggregate)
			written = append(written, starlark.String(dnsmasq.OldAggregate))
		}
	}

	retired, err := retireExternal(thread, rt, be, files)
	if err != nil {
		return nil, err
	}
	written = append(written, retired...)

	pending, err := readPending(rt)
	if err != nil {
		return nil, err
	}
	type step struct{ unit, action, detail string }
	var steps []step
	actions := starlark.NewDict(len(units))
	for _, unit := range units {
		kinds := changedKinds[unit]
		action, detail := "none", ""
		switch {
		case len(kinds[dnsmasq.Conf]) > 0:
			action, detail = "restart", "systemctl restart "+unit+": read at start only: "+strings.Join(kinds[dnsmasq.Conf], ", ")
		case pending[unit] == "restart":
			action, detail = "restart", "systemctl restart "+unit+": owed since an earlier run ("+PendingFile+")"
		case staleConf(rt, be, unit, files) != "":
			action, detail = "restart", "systemctl restart "+unit+": "+staleConf(rt, be, unit, files)
		case len(kinds[dnsmasq.AddnHosts]) > 0:
			action, detail = "reload", "SIGHUP re-reads "+strings.Join(kinds[dnsmasq.AddnHosts], ", ")
		case pending[unit] == "reload":
			action, detail = "reload", "SIGHUP owed since an earlier run ("+PendingFile+")"
		}
		if action != "none" {
			steps = append(steps, step{unit, action, detail})
		}
		actions.SetKey(starlark.String(unit), starlark.String(action))
	}

	// What this run owes the daemons is on disk before the first of them
	// is acted on and until each is done: a restart that fails, or one
	// that a failure before it leaves undone, is repeated by the next
	// run, whose files then no longer differ.
	owed := map[string]string{}
	for _, s := range steps {
		owed[s.unit] = s.action
	}
	for _, s := range steps {
		_, err := runtime.Do(thread, runtime.Change{Resource: "dnsmasq:" + s.unit, Action: s.action, Detail: s.detail}, func() error {
			if err := writePending(rt, owed); err != nil {
				return err
			}
			act := be.Restart
			if s.action == "reload" {
				act = be.Reload
			}
			if err := act(ctx, s.unit); err != nil {
				return fmt.Errorf("%s %s: %w (the files written stay; the next run repeats the %s)", s.action, s.unit, err, s.action)
			}
			delete(owed, s.unit)
			return writePending(rt, owed)
		})
		if err != nil {
			return nil, err
		}
	}
	return runtime.Struct(starlark.StringDict{
		"changed": starlark.Bool(len(written) > 0),
		"files":   starlark.NewList(written),
		"actions": actions,
	}), nil
}

// retireExternal removes what an earlier render wrote for the external
// view when the site no longer has one, and stops and disables its
// service, which would otherwise go on answering from the old records.
func retireExternal(thread *starlark.Thread, rt *runtime.Runtime, be Backend, files []dnsmasq.File) ([]starlark.Value, error) {
	const view = "external"
	for _, f := range files {
		if f.View == view {
			return nil, nil
		}
	}
	var gone []starlark.Value
	for _, p := range []string{dnsmasq.ConfPath(view), dnsmasq.ExternalDefaults, dnsmasq.HostsPath(view, dnsmasq.HostsDir), dnsmasq.HostsPath(view, dnsmasq.AddnHosts)} {
		// Absent files are not resources of a site without the view.
		if have, err := rt.Exists(p); err != nil {
			return nil, err
		} else if !have {
			continue
		}
		if _, err := rt.RemoveFile(thread, p); err != nil {
			return nil, err
		}
		gone = append(gone, starlark.String(p))
	}
	if len(gone) == 0 {
		return nil, nil
	}
	unit := dnsmasq.Unit(view)
	_, err := runtime.Do(thread, runtime.Change{Resource: "dnsmasq:" + unit, Action: "run",
		Detail: "systemctl disable --now " + unit + ": the site has no dns.external_listen_address any more"}, func() error {
		return be.Stop(rt.Context(), unit)
	})
	return gone, err
}

// staleConf says why a running unit has not read its conf files yet: it
// started before one was last written (a restart that failed after the
// write, or a hand edit), or "" when it has read them.
func staleConf(rt *runtime.Runtime, be Backend, unit string, files []dnsmasq.File) string {
	started, ok := be.Started(unit)
	if !ok {
		return ""
	}
	for _, f := range files {
		if f.Unit != unit || f.Kind != dnsmasq.Conf {
			continue
		}
		host, err := rt.Root.Resolve(f.Path)
		if err != nil {
			continue
		}
		if st, err := os.Stat(host); err == nil && st.ModTime().After(started) {
			return fmt.Sprintf("running since before %s was written", f.Path)
		}
	}
	return ""
}

// PendingFile lists, one "UNIT ACTION" line each, the restarts and
// reloads that a run owes its daemons and has not done yet. Under --sim
// no daemon's start time is known, and on a host a restart that failed
// may leave no daemon running: neither shows that the files on disk
// were never read, so the file says it. It lives in /run: a reboot
// starts the daemons afresh, which pays what was owed.
const PendingFile = "/run/phoenix/dnsmasq-pending"

func readPending(rt *runtime.Runtime) (map[string]string, error) {
	out := map[string]string{}
	b, err := rt.Root.ReadFile(PendingFile)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PendingFile, err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		unit, action, ok := strings.Cut(line, " ")
		if line == "" {
			continue
		}
		if !ok || (action != "restart" && action != "reload") {
			return nil, fmt.Errorf("%s:%d: want UNIT restart|reload, got %q", PendingFile, i+1, line)
		}
		out[unit] = action
	}
	return out, nil
}

// writePending replaces PendingFile atomically with owed, or removes it
// when nothing is owed.
func writePending(rt *runtime.Runtime, owed map[string]string) error {
	if len(owed) == 0 {
		err := rt.Root.Remove(PendingFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", PendingFile, err)
		}
		return nil
	}
	var b strings.Builder
	for _, unit := range slices.Sorted(maps.Keys(owed)) {
		fmt.Fprintf(&b, "%s %s\n", unit, owed[unit])
	}
	if err := rt.Root.MkdirAll(path.Dir(PendingFile), 0o755); err != nil {
		return fmt.Errorf("%s: %w", PendingFile, err)
	}
	if err := rt.Root.WriteFile(PendingFile, []byte(b.String()), 0o644, -1, -1); err != nil {
		return fmt.Errorf("%s: %w", PendingFile, err)
	}
	return nil
}
