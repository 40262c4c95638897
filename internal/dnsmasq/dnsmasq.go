// Package dnsmasq is the engine behind the dnsmasq builtins: it checks the
// site's DNS records and renders the files of a split-horizon dnsmasq.
//
// The internal view is the host's dnsmasq service; the external view, when
// the site gives it a listen address, a second instance (Debian's
// dnsmasq@external), so that an external client can never be answered
// from internal data. Each view has a small restart-only file (listen
// address, zones, upstream servers, aliases) and a hosts file that dnsmasq
// re-reads without a restart. Every file lies under /etc/dnsmasq.d, whose
// conf-dir reads only the regular files at its top.
package dnsmasq

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Record is one DNS record of a view, with where it was declared.
type Record struct {
	View   string // internal or external
	Name   string
	Type   string // A, AAAA or CNAME
	Value  string // the address, or the alias target
	Source string // file and field, e.g. "phoenix_lxc_configs.json: 101.dns_records[0]"
}

// Views in the order they are rendered.
var Views = []string{"internal", "external"}

// Check validates records before anything is rendered from them: names
// are RFC 1123 DNS names, addresses real IPv4 (A) or IPv6 (AAAA), and one
// name means one thing per view. It returns them sorted by view, name,
// type and value, duplicates dropped, so that the same records always
// render the same bytes.
func Check(recs []Record) ([]Record, error) {
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.View != "internal" && r.View != "external" {
			return nil, fmt.Errorf("%s: view %q: want internal or external", r.Source, r.View)
		}
		if why := NameProblem(r.Name); why != "" {
			return nil, fmt.Errorf("%s: name %q %s", r.Source, r.Name, why)
		}
		switch r.Type {
		case "A", "AAAA":
			a, err := netip.ParseAddr(r.Value)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%s: %s: %q is not an IP address", r.Source, r.Name, r.Value)
			}
			if a.Is4In6() {
				a = a.Unmap()
			}
			if r.Type == "A" != a.Is4() {
				return nil, fmt.Errorf("%s: %s: %s is not an address of a %s record", r.Source, r.Name, r.Value, r.Type)
			}
			r.Value = a.String()
		case "CNAME":
			if why := NameProblem(r.Value); why != "" {
				return nil, fmt.Errorf("%s: %s: alias target %q %s", r.Source, r.Name, r.Value, why)
			}
		default:
			return nil, fmt.Errorf("%s: %s: type %q: want A, AAAA or CNAME", r.Source, r.Name, r.Type)
		}
		out = append(out, r)
	}
	// Lower-cased once: sorting compares names n log n times.
	keyed := make([]keyedRecord, len(out))
	for i, r := range out {
		keyed[i] = keyedRecord{r.View + " " + strings.ToLower(r.Name), r}
	}
	sort.Slice(keyed, func(i, j int) bool { return keyed[i].less(keyed[j]) })
	// A name is either an alias or has addresses, and an address record
	// is declared once: a second address is a conflict naming both.
	first := make(map[string]int, len(keyed))
	kept := out[:0]
	for _, kr := range keyed {
		r, k := kr.r, kr.key
		if i, ok := first[k]; ok {
			p := kept[i]
			if p.Type == r.Type && p.Value == r.Value {
				continue
			}
			return nil, fmt.Errorf("%s is %s %s in the %s view at %s but %s %s at %s", p.Name, p.Type, p.Value, r.View, p.Source, r.Type, r.Value, r.Source)
		}
		first[k] = len(kept)
		kept = append(kept, r)
	}
	return kept, nil
}

type keyedRecord struct {
	key string // view and lower-case name
	r   Record
}

func (x keyedRecord) less(y keyedRecord) bool {
	a, b := x.r, y.r
	if x.key != y.key {
		return x.key < y.key
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	if a.Value != b.Value {
		return a.Value < b.Value
	}
	return a.Source < b.Source
}

// NameProblem says what makes s not an RFC 1123 DNS name ("" when it is
// one). Characters that would end or start a dnsmasq directive are named,
// since a name is written into files a root daemon reads.
func NameProblem(s string) string {
	if s == "" {
		return "is empty"
	}
	for _, c := range s {
		switch c {
		case '\n', '\r':
			return "contains a line break"
		case ' ', '\t':
			return "contains white space"
		case '=', '#', '/', ',':
			return fmt.Sprintf("contains %q", c)
		}
	}
	if len(s) > 253 {
		return "is longer than 253 characters"
	}
	for rest := s; rest != ""; {
		l, after, _ := strings.Cut(rest, ".")
		if after == "" && len(l) < len(rest) {
			return "has an empty label"
		}
		rest = after
		if l == "" {
			return "has an empty label"
		}
		if len(l) > 63 {
			return "has a label longer than 63 characters"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("contains %q (RFC 1123 allows letters, digits and hyphens)", rune(c))
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "has a label that starts or ends with a hyphen"
		}
	}
	return ""
}

// Kind is what dnsmasq needs to see a changed file.
type Kind string

const (
	// HostsDir files are re-read through inotify: nothing to do.
	HostsDir Kind = "hostsdir"
	// AddnHosts files are re-read on SIGHUP.
	AddnHosts Kind = "addn-hosts"
	// Conf files are read at start only: a restart.
	Conf Kind = "conf"
)

// Config is what the files are rendered from besides the records.
type Config struct {
	Listen         netip.Addr   // the internal view's address
	ExternalListen netip.Addr   // the external view's; none when invalid
	Upstream       []netip.Addr // resolvers of the internal view for other names
	Zones          []string     // answered locally: NXDOMAIN for unknown names
	Hosts          Kind         // HostsDir (default) or AddnHosts
	Options        []string     // extra lines for the internal view's file
}

// File is one rendered file, at the host path dnsmasq reads it from.
type File struct {
	Path string
	Data []byte
	Kind Kind
	View string
	Unit string // the service that reads it: dnsmasq or dnsmasq@external
}

// Other is the hosts file of the other kind (hostsdir or addn-hosts) that
// an earlier render may have left for the view; "" for a conf file.
func (f File) Other() string {
	switch f.Kind {
	case HostsDir:
		return HostsPath(f.View, AddnHosts)
	case AddnHosts:
		return HostsPath(f.View, HostsDir)
	}
	return ""
}

// Paths of the rendered files.
const (
	Dir = "/etc/dnsmasq.d"
	// OldAggregate is what the shell script wrote; apply removes it.
	OldAggregate = Dir + "/00-phoenix-aggregated-hosts.conf"
	// ExternalDefaults points Debian's dnsmasq@external at its conf-dir.
	ExternalDefaults = "/etc/default/dnsmasq.external"
	// PhoenixDir holds everything but the internal view's own file; a
	// directory, so the internal conf-dir skips it.
	PhoenixDir = Dir + "/phoenix"
)

// Unit is the systemd service serving a view.
func Unit(view string) string {
	if view == "external" {
		return "dnsmasq@external"
	}
	return "dnsmasq"
}

// ConfPath is the restart-only file of a view.
func ConfPath(view string) string {
	if view == "external" {
		return PhoenixDir + "/external/10-phoenix.conf"
	}
	return Dir + "/10-phoenix.conf"
}

// HostsPath is the hosts file of a view: inside the view's hostsdir, or
// the view's addn-hosts file.
func HostsPath(view string, k Kind) string {
	if k == AddnHosts {
		return PhoenixDir + "/" + view + ".hosts"
	}
	return HostsDirPath(view) + "/" + HostsFile
}

// HostsFile is the name of the file apply writes in a hostsdir.
const HostsFile = "records"

// HostsDirPath is the hostsdir of a view.
func HostsDirPath(view string) string { return PhoenixDir + "/" + view + ".hosts.d" }

const header = "# Written by phoenix from the site config (dnsmasq.apply); edits are overwritten.\n"

// Render produces the files of both views from checked records (see
// Check). Records of the external view are rendered only when the
// external view has a listen address.
func Render(c Config, recs []Record) ([]File, error) {
	if !c.Listen.IsValid() {
		return nil, fmt.Errorf("no listen address for the internal view")
	}
	if c.ExternalListen.IsValid() && c.ExternalListen == c.Listen {
		return nil, fmt.Errorf("the external view's listen address %s is the internal one's", c.Listen)
	}
	switch c.Hosts {
	case "":
		c.Hosts = HostsDir
	case HostsDir, AddnHosts:
	default:
		return nil, fmt.Errorf("hosts %q: want hostsdir or addn-hosts", c.Hosts)
	}
	for i, o := range c.Options {
		if strings.ContainsAny(o, "\n\r") {
			return nil, fmt.Errorf("options[%d] %q holds a line break: give one option per item", i, o)
		}
	}
	for _, z := range c.Zones {
		if why := NameProblem(z); why != "" {
			return nil, fmt.Errorf("zone %q %s", z, why)
		}
	}
	zones := append([]string(nil), c.Zones...)
	sort.Strings(zones)
	var files []File
	for _, view := range Views {
		listen := c.Listen
		if view == "external" {
			if !c.ExternalListen.IsValid() {
				continue
			}
			listen = c.ExternalListen
		}
		var hosts, conf bytes.Buffer
		hosts.WriteString(header)
		var aliases []Record
		for _, r := range recs {
			if r.View != view {
				continue
			}
			if r.Type == "CNAME" {
				aliases = append(aliases, r)
				continue
			}
			hosts.WriteString(r.Value)
			hosts.WriteByte(' ')
			hosts.WriteString(r.Name)
			hosts.WriteByte('\n')
		}
		conf.WriteString(header)
		fmt.Fprintf(&conf, "# The %s view: read at start only, so a change restarts %s.\n", view, Unit(view))
		fmt.Fprintf(&conf, "listen-address=%s\nbind-interfaces\nno-hosts\nno-resolv\ndomain-needed\n", listen)
		if view == "internal" {
			for _, u := range c.Upstream {
				fmt.Fprintf(&conf, "server=%s\n", u)
			}
		}
		for _, z := range zones {
			fmt.Fprintf(&conf, "local=/%s/\n", z)
		}
		if c.Hosts == HostsDir {
			fmt.Fprintf(&conf, "hostsdir=%s\n", HostsDirPath(view))
		} else {
			fmt.Fprintf(&conf, "addn-hosts=%s\n", HostsPath(view, AddnHosts))
		}
		for _, a := range aliases {
			fmt.Fprintf(&conf, "cname=%s,%s\n", a.Name, a.Value)
		}
		if view == "internal" {
			for _, o := range c.Options {
				conf.WriteString(o)
				conf.WriteByte('\n')
			}
		}
		files = append(files,
			File{Path: HostsPath(view, c.Hosts), Data: hosts.Bytes(), Kind: c.Hosts, View: view, Unit: Unit(view)},
			File{Path: ConfPath(view), Data: conf.Bytes(), Kind: Conf, View: view, Unit: Unit(view)})
		if view == "external" {
			files = append(files, File{Path: ExternalDefaults, Kind: Conf, View: view, Unit: Unit(view), Data: []byte(header +
				"# Debian's dnsmasq@external reads its own conf-dir.\nCONFIG_DIR=" + PhoenixDir + "/external,.dpkg-dist,.dpkg-old,.dpkg-new\n")})
		}
	}
	return files, nil
}
