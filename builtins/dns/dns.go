// Package dns is the Starlark `dns` module: DNS queries for health checks.
package dns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/dnsmasq"
	"phoenix/runtime"
)

// Family registers dns with the runtime.
var Family = runtime.Family{Name: "dns", Module: Module}

// Module is the dns module: DNS queries for health checks.
//
//	query(name: str, type: str = "A", server: str = "127.0.0.1:53", timeout: str = "2s") - struct(name, type, server, rcode, answers, authoritative, latency, latency_ms, error)
//	    Asks server (IP:port, or IP for port 53) one question over UDP, then TCP when the answer is truncated.
//
// A query is a read: it runs in a plan too. answers are the answer
// section's values for the type asked (addresses; a CNAME's target, with
// its final dot), sorted. rcode is NOERROR, NXDOMAIN, REFUSED, SERVFAIL,
// ...; when no answer came (timeout, nothing listening) rcode is "" and
// error says why, so a check can report it instead of stopping the run.
// Under --sim, the dnsmasq files rendered under the root answer (see the
// dnsmasq module), without any network.
var Module = &starlarkstruct.Module{
	Name: "dns",
	Members: starlark.StringDict{
		"query": starlark.NewBuiltin("dns.query", query),
	},
}

// Query is one question to one server.
type Query struct {
	Name    string
	Type    string
	Server  netip.AddrPort
	Timeout time.Duration
}

// Result is what came back. Err is set when nothing did.
type Result struct {
	Rcode         string
	Answers       []string
	Authoritative bool
	Latency       time.Duration
	Err           string
}

// Backend asks a DNS server.
type Backend interface {
	Query(ctx context.Context, q Query) Result
}

var (
	_ Backend = (*Net)(nil)
	_ Backend = (*Sim)(nil)
)

// Net asks over the network: UDP, then TCP when the answer is truncated.
type Net struct{}

// Sim answers from the dnsmasq files rendered under the run's root.
type Sim struct{ rt *runtime.Runtime }

func (Net) Query(ctx context.Context, q Query) Result {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(q.Name), mdns.StringToType[q.Type])
	c := &mdns.Client{Timeout: q.Timeout}
	ctx, cancel := context.WithTimeout(ctx, q.Timeout)
	defer cancel()
	r, rtt, err := c.ExchangeContext(ctx, m, q.Server.String())
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, rtt, err = c.ExchangeContext(ctx, m, q.Server.String())
	}
	if err != nil {
		return Result{Err: fmt.Sprintf("no answer from %s: %v", q.Server, err)}
	}
	res := Result{Rcode: mdns.RcodeToString[r.Rcode], Authoritative: r.Authoritative, Latency: rtt}
	for _, rr := range r.Answer {
		switch x := rr.(type) {
		case *mdns.A:
			res.Answers = append(res.Answers, x.A.String())
		case *mdns.AAAA:
			res.Answers = append(res.Answers, x.AAAA.String())
		case *mdns.CNAME:
			res.Answers = append(res.Answers, x.Target)
		default:
			// The value after the header, for MX, TXT and the like.
			res.Answers = append(res.Answers, strings.TrimPrefix(rr.String(), rr.Header().String()))
		}
	}
	return res
}

func (s *Sim) Query(_ context.Context, q Query) Result {
	a, ok := dnsmasq.Lookup(siteFiles{s.rt}, q.Server.Addr(), q.Name, q.Type)
	if !ok || q.Server.Port() != 53 {
		return Result{Err: fmt.Sprintf("no answer from %s: no rendered dnsmasq view listens there (simulated)", q.Server)}
	}
	return Result{Rcode: a.Rcode, Answers: a.Answers, Authoritative: a.Authoritative}
}

// siteFiles reads site paths as the run sees them, planned writes
// included.
type siteFiles struct{ rt *runtime.Runtime }

func (f siteFiles) ReadFile(path string) ([]byte, error) { return f.rt.ReadFile(path) }
func (f siteFiles) List(dir string) ([]string, error)    { return f.rt.ReadDir(dir) }

func query(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	qtype, server, timeout := "A", "127.0.0.1:53", "2s"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "type?", &qtype, "server?", &server, "timeout?", &timeout); err != nil {
		return nil, err
	}
	qtype = strings.ToUpper(qtype)
	if _, ok := mdns.StringToType[qtype]; !ok {
		return nil, fmt.Errorf("%s: type %q is not a DNS record type", b.Name(), qtype)
	}
	if why := dnsmasq.NameProblem(strings.TrimSuffix(name, ".")); why != "" {
		return nil, fmt.Errorf("%s: name %q %s", b.Name(), name, why)
	}
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		a, aerr := netip.ParseAddr(server)
		if aerr != nil {
			return nil, fmt.Errorf("%s: server %q: want IP:port or IP", b.Name(), server)
		}
		ap = netip.AddrPortFrom(a, 53)
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("%s: timeout %q: want a positive duration such as \"2s\"", b.Name(), timeout)
	}
	rt := runtime.FromThread(thread)
	be, err := runtime.UseBackend(rt, "dns",
		func(*runtime.Runtime) (Backend, error) { return Net{}, nil },
		func(rt *runtime.Runtime) (Backend, error) { return &Sim{rt}, nil })
	if err != nil {
		return nil, err
	}
	r := be.Query(rt.Context(), Query{Name: name, Type: qtype, Server: ap, Timeout: d})
	answers := make([]starlark.Value, len(r.Answers))
	for i, a := range sorted(r.Answers) {
		answers[i] = starlark.String(a)
	}
	return runtime.Struct(starlark.StringDict{
		"name": starlark.String(name), "type": starlark.String(qtype), "server": starlark.String(ap.String()),
		"rcode": starlark.String(r.Rcode), "answers": starlark.NewList(answers),
		"authoritative": starlark.Bool(r.Authoritative),
		"latency":       starlark.String(r.Latency.String()),
		"latency_ms":    starlark.Float(float64(r.Latency) / float64(time.Millisecond)),
		"error":         starlark.String(r.Err),
	}), nil
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
