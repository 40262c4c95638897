package dnsmasq

import (
	"bufio"
	"bytes"
	"net/netip"
	"sort"
	"strings"
)

// Answer is a DNS answer as the health checks see it.
type Answer struct {
	Rcode         string   // NOERROR, NXDOMAIN, REFUSED
	Answers       []string // addresses, or alias targets (with a final dot)
	Authoritative bool
}

// Files is how Lookup reads the rendered files: by host path, as a run
// sees them (a plan's writes included).
type Files interface {
	ReadFile(path string) ([]byte, error)
	// List names the entries of a directory.
	List(dir string) ([]string, error)
}

// Lookup answers a query the way the dnsmasq serving the rendered files
// would, for --sim. ok is false when no rendered view listens on server.
// Names outside the local zones are REFUSED (no upstream is simulated).
func Lookup(fs Files, server netip.Addr, name, qtype string) (a Answer, ok bool) {
	for _, view := range Views {
		conf, err := fs.ReadFile(ConfPath(view))
		if err != nil {
			continue
		}
		v := parseConf(conf)
		if v.listen != server {
			continue
		}
		hosts := map[string][]string{}
		files := v.addn
		for _, d := range v.hostsdirs {
			names, _ := fs.List(d)
			for _, n := range names {
				files = append(files, d+"/"+n)
			}
		}
		for _, f := range files {
			if b, err := fs.ReadFile(f); err == nil {
				readHosts(b, hosts)
			}
		}
		return v.answer(hosts, strings.ToLower(strings.TrimSuffix(name, ".")), qtype), true
	}
	return Answer{}, false
}

type viewConf struct {
	listen    netip.Addr
	zones     []string
	hostsdirs []string
	addn      []string
	cnames    map[string]string
}

func parseConf(b []byte) viewConf {
	v := viewConf{cnames: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, val, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "listen-address":
			v.listen, _ = netip.ParseAddr(val)
		case "local":
			v.zones = append(v.zones, strings.ToLower(strings.Trim(val, "/")))
		case "hostsdir":
			v.hostsdirs = append(v.hostsdirs, val)
		case "addn-hosts":
			v.addn = append(v.addn, val)
		case "cname":
			if n, t, ok := strings.Cut(val, ","); ok {
				v.cnames[strings.ToLower(n)] = t
			}
		}
	}
	return v
}

func readHosts(b []byte, into map[string][]string) {
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, n := range f[1:] {
			n = strings.ToLower(n)
			into[n] = append(into[n], f[0])
		}
	}
}

func (v viewConf) answer(hosts map[string][]string, name, qtype string) Answer {
	if t, ok := v.cnames[name]; ok {
		return Answer{Rcode: "NOERROR", Answers: []string{t + "."}, Authoritative: true}
	}
	if addrs, ok := hosts[name]; ok {
		var out []string
		for _, s := range addrs {
			a, err := netip.ParseAddr(s)
			if err == nil && (qtype == "A" && a.Is4() || qtype == "AAAA" && a.Is6()) {
				out = append(out, a.String())
			}
		}
		sort.Strings(out)
		return Answer{Rcode: "NOERROR", Answers: out, Authoritative: true}
	}
	for _, z := range v.zones {
		if name == z || strings.HasSuffix(name, "."+z) {
			return Answer{Rcode: "NXDOMAIN", Authoritative: true}
		}
	}
	return Answer{Rcode: "REFUSED"}
}
