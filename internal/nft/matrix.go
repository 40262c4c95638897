package nft

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"phoenix/internal/site"
)

// Cell is one (source guest, destination, declared port) combination of
// the connectivity matrix, and whether the site's flows allow it.
type Cell struct {
	Source      int
	SourceName  string
	Destination string // a VMID, or "host"
	Address     netip.Addr
	Proto       string
	Port        int
	Allowed     bool
	Flow        string // the flow that allows it
}

// Matrix lists, for every guest, every declared tcp and udp port of
// every other guest and of the host (its address on the guest's bridge),
// with what the flows say.
func Matrix(s *site.Site) ([]Cell, error) {
	flows, err := FromSite(s)
	if err != nil {
		return nil, err
	}
	type port struct {
		proto string
		n     int
	}
	var ports []port
	for _, f := range flows {
		p := port{f.Proto, f.Port}
		if f.Port != 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	slices.SortFunc(ports, func(a, b port) int {
		if c := strings.Compare(a.proto, b.proto); c != 0 {
			return c
		}
		return a.n - b.n
	})
	guests := s.Guests()
	var out []Cell
	for _, src := range guests {
		type dest struct {
			name string
			addr netip.Addr
			host bool
		}
		var dests []dest
		for _, d := range guests {
			if d.VMID != src.VMID {
				dests = append(dests, dest{strconv.Itoa(d.VMID), d.IP.Addr(), false})
			}
		}
		if br := s.Hypervisor.Bridges[src.Bridge]; br != nil {
			dests = append(dests, dest{"host", br.Gateway, true})
		}
		for _, d := range dests {
			for _, p := range ports {
				c := Cell{Source: src.VMID, SourceName: src.Name, Destination: d.name, Address: d.addr, Proto: p.proto, Port: p.n}
				for _, f := range flows {
					if f.Proto == p.proto && f.Port == p.n && f.Src.Guests && contains(f.Src.Addrs, src.IP.Addr()) &&
						(d.host && f.Dst.Host || !d.host && f.Dst.Guests) && contains(f.Dst.Addrs, d.addr) {
						c.Allowed, c.Flow = true, f.Label()
						break
					}
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// contains reports whether a is in one of ps; no prefixes is any address.
func contains(ps []netip.Prefix, a netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
