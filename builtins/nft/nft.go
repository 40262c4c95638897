// Package nft is the Starlark `nft` module: the host firewall, phoenix's
// own nftables table built from the site's flows.
package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/builtins/config"
	engine "phoenix/internal/nft"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// Family registers nft with the runtime.
var Family = runtime.Family{Name: "nft", Module: Module, Flags: []runtime.Flag{{
	Name:  "netns",
	Usage: "network namespace where nft and the host side's connectivity probes act (default: the host's own; with --sim, nft acts for real only inside it)",
}}}

// Module is the nft module. phoenix owns one table, inet phoenix, and
// never reads or changes any other, so PVE's own firewall stays as it
// is. The table has input and forward chains with policy drop,
// established and related traffic accepted, and one accept rule per
// flow with a comment naming it ("flow 5: 102 traefik -> 103 step-ca
// tcp/9000"); a list of addresses or ICMP types is a set, and 64 or more
// flows of one shape (address to address, one port) share one rule over
// a concatenated set with one commented element each. Bridged
// guest-to-guest traffic crosses the forward chain through br_netfilter.
// It acts in --netns NAME when given; under --sim without --netns it
// renders and records only, in the simulated host under --root
// (var/lib/phoenix-sim/nft.json, and the table as nft text in nft.rules).
//
//	ruleset(site: struct|None = None) - the nft.ruleset of the site's flows (site: config.site(), the default)
//	render(rs: any) - the nft.ruleset as an nft script (`nft -f` input) that replaces the table
//	current() - the live table as an nft.ruleset, or None when there is none
//	apply(rs: any, confirm_timeout: str|None = None, allow_lockout: bool = False) - struct(changed, action, diff, sysctls, rollback_deadline)
//	matrix(site: struct|None = None) - list of struct(source, source_name, destination, address, proto, port, allowed, flow): every guest's view of every declared port of every other guest and the host
//
// apply first sets net.bridge.bridge-nf-call-iptables and -ip6tables to
// 1 where they are not (each its own change), then reads the live table
// and reports unchanged when it matches semantically; otherwise it
// replaces the table in one atomic netlink batch (all or nothing) and
// the plan shows the difference in nft syntax. A ruleset that drops SSH
// (22) or the PVE API (8006) from the management network is refused
// unless allow_lockout=True. With confirm_timeout="60s" the previous
// table is restored after that time unless `phoenix fw confirm` runs
// first; the rollback waits in a process of its own session that ignores
// SIGHUP and rolls back at once on SIGTERM; `phoenix fw status` shows it.
// An nft.ruleset has rules (a count), sets (names) and text (the table
// as nft prints it).
var Module = &starlarkstruct.Module{
	Name: "nft",
	Members: starlark.StringDict{
		"ruleset": starlark.NewBuiltin("nft.ruleset", rulesetFn),
		"render":  starlark.NewBuiltin("nft.render", render),
		"current": starlark.NewBuiltin("nft.current", current),
		"apply":   starlark.NewBuiltin("nft.apply", apply),
		"matrix":  starlark.NewBuiltin("nft.matrix", matrix),
	},
}

// Resource is the change's name in plans.
const Resource = "nft:" + engine.Family + " " + engine.Table

func backendOf(thread *starlark.Thread) (engine.Backend, error) {
	rt := runtime.FromThread(thread)
	return runtime.UseBackend(rt, "nft",
		func(rt *runtime.Runtime) (engine.Backend, error) {
			return &engine.Netlink{NS: rt.Flag("netns")}, nil
		},
		func(rt *runtime.Runtime) (engine.Backend, error) {
			if ns := rt.Flag("netns"); ns != "" {
				return &engine.Netlink{NS: ns}, nil
			}
			return engine.NewSim(rt.Root)
		})
}

// readTable reads the live table, then what this run's plan left there.
func readTable(rt *runtime.Runtime, be engine.Backend) (*engine.Ruleset, error) {
	rs, err := be.Current()
	if err != nil {
		return nil, err
	}
	if planned, gone, ok := runtime.PlannedAs[*engine.Ruleset](rt, Resource); ok {
		return planned, nil
	} else if gone {
		return nil, nil
	}
	return rs, nil
}

// readSysctl reads a sysctl, then what this run's plan set it to.
func readSysctl(rt *runtime.Runtime, be engine.Backend, key string) (string, error) {
	v, err := be.Sysctl(key)
	if err != nil {
		return "", err
	}
	if planned, _, ok := runtime.PlannedAs[string](rt, "sysctl:"+key); ok {
		return planned, nil
	}
	return v, nil
}

// Ruleset is a ruleset as scripts hold it.
type Ruleset struct {
	rs *engine.Ruleset
	// mgmt is the management network of the site it was built from.
	mgmt netip.Prefix
}

var _ starlark.HasAttrs = (*Ruleset)(nil)

func (r *Ruleset) String() string {
	return fmt.Sprintf("<nft.ruleset %s %s: %d rules>", engine.Family, engine.Table, r.rs.Rules())
}
func (r *Ruleset) Type() string          { return "nft.ruleset" }
func (r *Ruleset) Freeze()               {}
func (r *Ruleset) Truth() starlark.Bool  { return starlark.True }
func (r *Ruleset) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: nft.ruleset") }
func (r *Ruleset) AttrNames() []string   { return []string{"rules", "sets", "text"} }
func (r *Ruleset) Attr(name string) (starlark.Value, error) {
	switch name {
	case "rules":
		return starlark.MakeInt(r.rs.Rules()), nil
	case "sets":
		var out []starlark.Value
		for _, s := range r.rs.Sets {
			out = append(out, starlark.String(s.Name))
		}
		return starlark.NewList(out), nil
	case "text":
		return starlark.String(engine.RenderTable(r.rs)), nil
	}
	return nil, nil
}

// siteArg is the typed site of a builtin whose one argument is site=.
func siteArg(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*site.Site, error) {
	var sv starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "site?", &sv); err != nil {
		return nil, err
	}
	return siteOf(thread, b.Name(), sv)
}

// siteOf returns the typed site behind a config.site() value (None: the
// run's --config).
func siteOf(thread *starlark.Thread, fn string, v starlark.Value) (*site.Site, error) {
	if v == starlark.None {
		s, err := config.RunSite(runtime.FromThread(thread))
		if err == nil && s == nil {
			err = errors.New("no site: --config names no site configuration")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return s, nil
	}
	if s, ok := site.SiteOf(v); ok {
		return s, nil
	}
	return nil, fmt.Errorf("%s: site must be config.site(), got %s", fn, v.Type())
}

func rulesetFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := siteArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	flows, err := engine.FromSite(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	rs, err := engine.Build(flows, engine.DefaultOptions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return &Ruleset{rs: rs, mgmt: s.Hypervisor.Management.CIDR}, nil
}

func rulesetArg(fn string, v starlark.Value) (*Ruleset, error) {
	r, ok := v.(*Ruleset)
	if !ok {
		return nil, fmt.Errorf("%s: want an nft.ruleset (from nft.ruleset or nft.current), got %s", fn, v.Type())
	}
	return r, nil
}

func render(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "rs", &v); err != nil {
		return nil, err
	}
	r, err := rulesetArg(b.Name(), v)
	if err != nil {
		return nil, err
	}
	return starlark.String(engine.Render(r.rs)), nil
}

func current(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	be, err := backendOf(thread)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	rs, err := readTable(runtime.FromThread(thread), be)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if rs == nil {
		return starlark.None, nil
	}
	return &Ruleset{rs: rs}, nil
}

func apply(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var v starlark.Value
	var timeoutV starlark.Value = starlark.None
	allowLockout := false
	if err := starlark.UnpackArgs(fn, args, kwargs, "rs", &v, "confirm_timeout?", &timeoutV, "allow_lockout?", &allowLockout); err != nil {
		return nil, err
	}
	r, err := rulesetArg(fn, v)
	if err != nil {
		return nil, err
	}
	var timeout time.Duration
	if timeoutV != starlark.None {
		s, ok := starlark.AsString(timeoutV)
		if !ok {
			return nil, fmt.Errorf("%s: confirm_timeout: want a duration such as \"60s\", got %s", fn, timeoutV.Type())
		}
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("%s: confirm_timeout %q: want a positive duration such as \"60s\"", fn, s)
		}
	}
	if err := engine.Check(r.rs); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if !allowLockout {
		mgmt := r.mgmt
		if !mgmt.IsValid() {
			s, err := siteOf(thread, fn, starlark.None)
			if err != nil {
				return nil, fmt.Errorf("%s: the lockout guard needs the site's management network: %w", fn, err)
			}
			mgmt = s.Hypervisor.Management.CIDR
		}
		if err := engine.Lockout(r.rs, mgmt); err != nil {
			return nil, fmt.Errorf("%s: refused: %w", fn, err)
		}
	}
	rt := runtime.FromThread(thread)
	be, err := backendOf(thread)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	var sysctls []starlark.Value
	for _, k := range engine.BridgeSysctls {
		old, err := readSysctl(rt, be, k)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w (without br_netfilter the forward chain filters nothing between guests on a bridge)", fn, k, err)
		}
		if old == "1" {
			runtime.Unchanged(thread, "sysctl:"+k)
			continue
		}
		_, err = runtime.Do(thread, runtime.Change{Resource: "sysctl:" + k, Action: "update", Detail: old + " -> 1",
			Leaves: map[string]any{"sysctl:" + k: "1"}}, func() error {
			if err := be.SetSysctl(k, "1"); err != nil {
				return fmt.Errorf("set %s to 1: %w (without it the forward chain filters nothing between guests on a bridge; the table was not replaced)", k, err)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		sysctls = append(sysctls, starlark.String(k))
	}
	cur, err := readTable(rt, be)
	if err != nil {
		return nil, fmt.Errorf("%s: read the live table: %w", fn, err)
	}
	result := func(changed bool, action, diff string, deadline starlark.Value) starlark.Value {
		return runtime.Struct(starlark.StringDict{
			"changed": starlark.Bool(changed), "action": starlark.String(action), "diff": starlark.String(diff),
			"sysctls": starlark.NewList(sysctls), "rollback_deadline": deadline,
		})
	}
	if engine.Equal(cur, r.rs) {
		runtime.Unchanged(thread, Resource)
		return result(false, "none", "", starlark.None), nil
	}
	action := "update"
	if cur == nil {
		action = "create"
	}
	diff := engine.Diff(cur, r.rs)
	detail := diff
	pendingPath, err := rt.Root.Resolve(engine.PendingFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	// A pending rollback would undo this change at its deadline.
	if p, err := engine.ReadPending(pendingPath); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	} else if p != nil {
		return nil, fmt.Errorf("%s: a rollback is pending until %s: run phoenix fw confirm (or let it roll back) before changing the firewall again", fn, p.Deadline.UTC().Format(time.RFC3339))
	}
	if timeout > 0 {
		detail += fmt.Sprintf("\nrolled back after %s unless `phoenix fw confirm` runs first", timeout)
	}
	var deadline starlark.Value = starlark.None
	_, err = runtime.Do(thread, runtime.Change{Resource: Resource, Action: action, Detail: detail,
		Leaves: map[string]any{Resource: r.rs}}, func() error {
		if timeout == 0 {
			return be.Apply(r.rs)
		}
		return applyConfirmed(rt, be, pendingPath, cur, r.rs, timeout, &deadline)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if timeout > 0 && deadline == starlark.None {
		deadline = runtime.NewUnknown(thread, fn+" rollback_deadline")
	}
	return result(true, action, diff, deadline), nil
}

// applyConfirmed applies rs and arms the rollback to prev. The rollback
// process is this phoenix binary, re-executed as `phoenix fw
// rollback-wait FILE`.
func applyConfirmed(rt *runtime.Runtime, be engine.Backend, path string, prev, rs *engine.Ruleset, timeout time.Duration, deadline *starlark.Value) error {
	p := &engine.Pending{Previous: prev, Deadline: time.Now().Add(timeout)}
	switch b := be.(type) {
	case *engine.Netlink:
		p.Backend, p.NS = "netlink", b.NS
	case *engine.Sim:
		simPath, err := rt.Root.Resolve(engine.SimFile)
		if err != nil {
			return err
		}
		p.Backend, p.SimPath = "sim", simPath
	default:
		return fmt.Errorf("commit-confirmed is not supported by %T", be)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if strings.HasSuffix(filepath.Base(exe), ".test") {
		return fmt.Errorf("commit-confirmed re-executes the phoenix binary, and this is %s", filepath.Base(exe))
	}
	if err := be.Apply(rs); err != nil {
		return err
	}
	if err := engine.Arm(path, p, exe, "fw", "rollback-wait", path); err != nil {
		// Without a rollback armed, the change must not stay unconfirmed.
		if rerr := be.Apply(prev); rerr != nil {
			return fmt.Errorf("%w; restoring the previous table failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the previous table is back)", err)
	}
	*deadline = starlark.String(p.Deadline.UTC().Format(time.RFC3339))
	return nil
}

func matrix(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := siteArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	cells, err := engine.Matrix(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	out := make([]starlark.Value, 0, len(cells))
	for _, c := range cells {
		out = append(out, runtime.Struct(starlark.StringDict{
			"source": starlark.MakeInt(c.Source), "source_name": starlark.String(c.SourceName),
			"destination": starlark.String(c.Destination), "address": starlark.String(c.Address.String()),
			"proto": starlark.String(c.Proto), "port": starlark.MakeInt(c.Port),
			"allowed": starlark.Bool(c.Allowed), "flow": starlark.String(c.Flow),
		}))
	}
	return starlark.NewList(out), nil
}
