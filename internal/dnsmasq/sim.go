package dnsmasq

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Answer is a DNS answer as the health checks see it.
type Answer struct {
	Rcode         string   // NOERROR, NXDOMAIN, REFUSED
	Answers       []string // addresses, or alias targets (with a final dot)
	Authoritative bool
}

// Lookup answers a query the way the dnsmasq serving the rendered files
// under a root would, for --sim: resolve maps a host path to the root's
// copy. ok is false when no rendered view listens on server. Names
// outside the local zones are REFUSED (no upstream is simulated).
func Lookup(resolve func(string) (string, error), server netip.Addr, name, qtype string) (a Answer, ok bool) {
	for _, view := range Views {
		p, err := resolve(ConfPath(view))
		if err != nil {
			continue
		}
		conf, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v := parseConf(conf)
		if v.listen != server {
			continue
		}
		hosts := map[string][]string{}
		var files []string
		for _, d := range v.hostsdirs {
			if hp, err := resolve(d); err == nil {
				ents, _ := os.ReadDir(hp)
				for _, e := range ents {
					files = append(files, filepath.Join(hp, e.Name()))
				}
			}
		}
		for _, f := range v.addn {
			if hp, err := resolve(f); err == nil {
				files = append(files, hp)
			}
		}
		for _, f := range files {
			readHosts(f, hosts)
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

func readHosts(path string, into map[string][]string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
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
