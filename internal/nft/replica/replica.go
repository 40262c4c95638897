// Package replica builds a network-namespace replica of a site for tests:
// a "hypervisor" namespace holding the guests' bridge, one namespace per
// guest with the guest's address, an external client routed through the
// hypervisor, a management client on the management network, and
// listeners on every declared port. It needs root, ip and the kernel's
// bridge and br_netfilter support; everything it creates is removed in
// t.Cleanup.
package replica

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"phoenix/internal/netns"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
)

// Replica is a running replica.
type Replica struct {
	Prefix   string // namespace and link name prefix
	HV       string // the hypervisor namespace
	External string // the external client's namespace
	Mgmt     string // the management client's namespace
	// ExternalIP and MgmtIP are the clients' addresses.
	ExternalIP, MgmtIP netip.Addr
	// HostIP is the hypervisor's address on the bridge (guests' gateway).
	HostIP netip.Addr
	// MgmtHostIP is the hypervisor's address on the management network.
	MgmtHostIP netip.Addr
	Site       *site.Site
	mu         sync.Mutex
	closers    []func()
}

// GuestNS is the namespace of a guest, as --guest-netns PATTERN names it.
func (r *Replica) GuestNS(vmid int) string { return r.Prefix + "-" + strconv.Itoa(vmid) }

// Pattern is the --guest-netns pattern of the replica.
func (r *Replica) Pattern() string { return r.Prefix + "-{vmid}" }

// Need skips (or in CI fails) unless the replica can be built here.
func Need(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root")
	}
	testkit.Tool(t, "ip")
}

// New builds the replica of s with names starting with prefix (at most
// 6 characters, so that interface names stay within 15).
func New(t *testing.T, prefix string, s *site.Site) *Replica {
	t.Helper()
	Need(t)
	if len(prefix) > 6 {
		t.Fatalf("replica prefix %q longer than 6", prefix)
	}
	br := "vmbr0"
	var bridge *site.Bridge
	for name, b := range s.Hypervisor.Bridges {
		br, bridge = name, b
		break
	}
	r := &Replica{Prefix: prefix, HV: prefix + "-hv", External: prefix + "-ext", Mgmt: prefix + "-mgt", Site: s,
		HostIP:     bridge.Gateway,
		ExternalIP: netip.MustParseAddr("203.0.113.50"),
		MgmtHostIP: s.Hypervisor.Nodes[s.NodeNames()[0]].ManagementIP,
	}
	r.MgmtIP = s.Hypervisor.Management.CIDR.Addr().Next().Next()
	if r.MgmtIP == r.MgmtHostIP {
		r.MgmtIP = r.MgmtIP.Next()
	}
	all := []string{r.HV, r.External, r.Mgmt}
	for _, g := range s.Guests() {
		all = append(all, r.GuestNS(g.VMID))
	}
	for _, ns := range all {
		exec.Command("ip", "netns", "del", ns).Run() // a leftover of a killed run
		r.ip(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	t.Cleanup(r.close)
	hv := func(args ...string) { r.ip(t, append([]string{"-n", r.HV}, args...)...) }
	hv("link", "set", "lo", "up")
	hv("link", "add", br, "type", "bridge")
	hv("addr", "add", netip.PrefixFrom(bridge.Gateway, bridge.CIDR.Bits()).String(), "dev", br)
	hv("link", "set", br, "up")
	r.sysctl(t, r.HV, "net.ipv4.ip_forward", "1")
	// As on a host where nothing asked br_netfilter to filter yet: the
	// firewall must switch it on, or bridged traffic bypasses it.
	for _, k := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"} {
		r.sysctl(t, r.HV, k, "0")
	}
	for _, g := range s.Guests() {
		ns, hvEnd, gEnd := r.GuestNS(g.VMID), fmt.Sprintf("%sv%d", prefix, g.VMID), fmt.Sprintf("%sg%d", prefix, g.VMID)
		r.ip(t, "link", "add", hvEnd, "netns", r.HV, "type", "veth", "peer", "name", gEnd, "netns", ns)
		hv("link", "set", hvEnd, "master", br)
		hv("link", "set", hvEnd, "up")
		gi := func(args ...string) { r.ip(t, append([]string{"-n", ns}, args...)...) }
		gi("link", "set", "lo", "up")
		gi("link", "set", gEnd, "name", "eth0")
		gi("addr", "add", g.IP.String(), "dev", "eth0")
		gi("link", "set", "eth0", "up")
		gi("route", "add", "default", "via", bridge.Gateway.String())
	}
	// The external client, routed through the host.
	r.link(t, r.External, "x", netip.MustParsePrefix("203.0.113.1/24"), netip.MustParsePrefix("203.0.113.50/24"))
	// The management client, on the management network.
	mbits := s.Hypervisor.Management.CIDR.Bits()
	r.link(t, r.Mgmt, "m", netip.PrefixFrom(r.MgmtHostIP, mbits), netip.PrefixFrom(r.MgmtIP, mbits))
	r.listen(t)
	return r
}

// link connects client namespace ns to the hypervisor with a veth pair.
func (r *Replica) link(t *testing.T, ns, tag string, hvAddr, addr netip.Prefix) {
	hvEnd, cEnd := r.Prefix+"h"+tag, r.Prefix+"c"+tag
	r.ip(t, "link", "add", hvEnd, "netns", r.HV, "type", "veth", "peer", "name", cEnd, "netns", ns)
	r.ip(t, "-n", r.HV, "addr", "add", hvAddr.String(), "dev", hvEnd)
	r.ip(t, "-n", r.HV, "link", "set", hvEnd, "up")
	r.ip(t, "-n", ns, "link", "set", "lo", "up")
	r.ip(t, "-n", ns, "addr", "add", addr.String(), "dev", cEnd)
	r.ip(t, "-n", ns, "link", "set", cEnd, "up")
	r.ip(t, "-n", ns, "route", "add", "default", "via", hvAddr.Addr().String())
}

func (r *Replica) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (r *Replica) sysctl(t *testing.T, ns, key, value string) {
	t.Helper()
	if err := netns.WriteSysctl(ns, key, value); err != nil {
		t.Fatal(err)
	}
}

// Ports are the declared ports by protocol, sorted.
func Ports(s *site.Site) map[string][]int {
	out := map[string][]int{}
	for _, f := range s.Flows() {
		if f.Port != 0 && !slices.Contains(out[f.Proto], f.Port) {
			out[f.Proto] = append(out[f.Proto], f.Port)
		}
	}
	for _, p := range out {
		slices.Sort(p)
	}
	return out
}

// listen starts a listener on every declared port in every guest and on
// the host (its bridge and management addresses): TCP accepts and
// closes, UDP echoes.
func (r *Replica) listen(t *testing.T) {
	ports := Ports(r.Site)
	where := map[string][]netip.Addr{r.HV: {r.HostIP, r.MgmtHostIP}}
	for _, g := range r.Site.Guests() {
		where[r.GuestNS(g.VMID)] = []netip.Addr{g.IP.Addr()}
	}
	for ns, addrs := range where {
		for _, a := range addrs {
			for _, p := range ports["tcp"] {
				l, err := netns.Listen(ns, "tcp", netip.AddrPortFrom(a, uint16(p)).String())
				if err != nil {
					t.Fatalf("listen in %s: %v", ns, err)
				}
				r.onClose(func() { l.Close() })
				testkit.AcceptAll(l)
			}
			for _, p := range ports["udp"] {
				pc, err := netns.ListenPacket(ns, "udp", netip.AddrPortFrom(a, uint16(p)).String())
				if err != nil {
					t.Fatalf("listen in %s: %v", ns, err)
				}
				r.onClose(func() { pc.Close() })
				go func() {
					buf := make([]byte, 512)
					for {
						n, from, err := pc.ReadFrom(buf)
						if err != nil {
							return
						}
						pc.WriteTo(buf[:n], from)
					}
				}()
			}
		}
	}
}

func (r *Replica) onClose(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closers = append(r.closers, f)
}

func (r *Replica) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.closers {
		f()
	}
	r.closers = nil
}

// Connects reports whether a TCP connection from namespace ns to addr
// succeeds within timeout.
func Connects(ns string, addr netip.AddrPort, timeout time.Duration) bool {
	var c net.Conn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), timeout)
		return err
	})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// UDPAnswers reports whether a datagram from namespace ns to addr gets
// the replica's echo back within timeout.
func UDPAnswers(ns string, addr netip.AddrPort, timeout time.Duration) bool {
	var c net.Conn
	if err := netns.Do(ns, func() error {
		var err error
		c, err = net.Dial("udp", addr.String())
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("phoenix")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "phoenix"
}
