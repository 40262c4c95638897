package pvesim

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
)

// formats are the few named PVE formats the simulator checks. The schema
// only names them; the rules here follow PVE's documented behaviour.
var formats = map[string]func(string) string{
	"pve-node":                  reFormat(`[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?`, "invalid node name"),
	"pve-vmid":                  func(string) string { return "" }, // range checked as integer
	"pve-poolid":                reFormat(`[A-Za-z0-9.\-_]+`, "invalid pool ID '%s'"),
	"pve-vmid-list":             listFormat(`[1-9][0-9]{2,8}`, "value '%s' does not look like a valid VMID"),
	"pve-storage-id":            reFormat(`[a-z][a-z0-9\-_.]*[a-z0-9]`, "storage ID '%s' contains illegal characters"),
	"pve-bridge-id":             reFormat(`[-_.\w\d]+`, "invalid bridge ID"),
	"pve-configid":              reFormat(`[a-z][a-z0-9_]+`, "invalid configuration ID '%s'"),
	"pve-configid-list":         listFormat(`[a-z][a-z0-9_]+`, "invalid configuration ID '%s'"),
	"pve-volume-id":             checkVolumeID,
	"pve-volume-id-or-qm-path":  checkVolumeOrPath,
	"pve-lxc-mp-string":         checkMPString,
	"pve-lxc-dev-string":        checkDevString,
	"disk-size":                 reFormat(`\d+(\.\d+)?[KMGT]?`, "unable to parse size '%s'"),
	"dns-name":                  checkDNSName,
	"dns-name-list":             checkDNSNameList,
	"mac-addr":                  reFormat(`[a-fA-F0-9][02468aceACE](:[a-fA-F0-9]{2}){5}`, "value '%s' does not look like a valid unicast MAC address"),
	"ipv4":                      checkIPv4,
	"ipv6":                      checkIPv6,
	"pve-ipv4-config":           checkIPv4Config,
	"pve-ipv6-config":           checkIPv6Config,
	"lxc-ip-with-ll-iface-list": checkIPList,
	"address-list":              checkIPList,
	"pve-tag-list":              listFormat(`[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*`, "invalid tag '%s'"),
	"pve-startup-order":         reFormat(`((order=)?\d+)?(,?up=\d+)?(,?down=\d+)?`, "invalid startup order '%s'"),
	"pve-ct-timezone":           reFormat(`host|[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*`, "invalid time zone '%s'"),
	"urlencoded":                reFormat(`[-%a-zA-Z0-9_.!~*'()]*`, "invalid urlencoded string: %s"),
	"pve-hotplug-features":      checkHotplug,
	"pve-volume-id-or-none":     checkVolumeOrPath,
	"pve-qm-bootdisk":           reFormat(`(ide|sata|scsi|virtio)\d+`, "invalid boot disk '%s'"),
	"pve-qm-boot-order":         listFormat(`(ide|sata|scsi|virtio|net|usb|hostpci)\d+`, "invalid boot device '%s'"),
	"pve-qm-vm-cpu-type":        reFormat(`[-a-zA-Z0-9_.+]+`, "invalid CPU type '%s'"),
	"pve-cpu-flag-list":         reFormat(`[+-][a-zA-Z0-9\-_.]+(;[+-][a-zA-Z0-9\-_.]+)*`, "invalid CPU flags '%s'"),
	"pve-storage-content":       reFormat(storageContentRE, "invalid content type '%s'"),
	"pve-storage-content-list":  listFormat(storageContentRE, "invalid content type '%s'"),
	"pve-lxc-features-mount-fs": reFormat(`[a-zA-Z0-9_; ]+`, "invalid fs list"),
}

const storageContentRE = `images|rootdir|vztmpl|iso|backup|snippets|import`

func reFormat(pattern, msg string) func(string) string {
	re := lazyAnchored(pattern)
	return func(v string) string {
		if re.MatchString(v) {
			return ""
		}
		if strings.Contains(msg, "%s") {
			return fmt.Sprintf(msg, v)
		}
		return msg
	}
}

func listFormat(pattern, msg string) func(string) string {
	one := reFormat(pattern, msg)
	return func(v string) string {
		for _, item := range splitList(v) {
			if m := one(item); m != "" {
				return m
			}
		}
		return ""
	}
}

// splitList splits PVE's list formats, which take ',', ';' and spaces.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' })
}

var storageRE = regexp.MustCompile(`^[a-z][a-z0-9\-_.]*[a-z0-9]$`)

func checkVolumeID(v string) string {
	st, name, ok := strings.Cut(v, ":")
	if !ok || !storageRE.MatchString(st) || name == "" {
		return fmt.Sprintf("unable to parse volume ID '%s'", v)
	}
	return ""
}

func checkVolumeOrPath(v string) string {
	if v == "none" || v == "cdrom" || strings.HasPrefix(v, "/") {
		return ""
	}
	return checkVolumeID(v)
}

// checkMPString refuses '.' and '..' path components, as PVE does.
func checkMPString(v string) string {
	if v == "" {
		return "empty mount point string"
	}
	for _, c := range strings.Split(v, "/") {
		if c == "." || c == ".." {
			return fmt.Sprintf("%s contains illegal character sequences", v)
		}
	}
	return ""
}

func checkDevString(v string) string {
	if !strings.HasPrefix(v, "/dev/") {
		return fmt.Sprintf("not a device path: '%s'", v)
	}
	return checkMPString(v)
}

var dnsLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`)

func checkDNSName(v string) string {
	if v == "" || len(v) > 255 {
		return "value does not look like a valid DNS name"
	}
	for _, l := range strings.Split(v, ".") {
		if !dnsLabel.MatchString(l) {
			return "value does not look like a valid DNS name"
		}
	}
	return ""
}

func checkDNSNameList(v string) string {
	for _, n := range splitList(v) {
		if m := checkDNSName(n); m != "" {
			return m
		}
	}
	return ""
}

func checkIPv4(v string) string {
	if ip := net.ParseIP(v); ip == nil || ip.To4() == nil || strings.Contains(v, ":") {
		return "value does not look like a valid IPv4 address"
	}
	return ""
}

func checkIPv6(v string) string {
	if ip := net.ParseIP(v); ip == nil || !strings.Contains(v, ":") {
		return "value does not look like a valid IPv6 address"
	}
	return ""
}

func checkIPv4Config(v string) string {
	if v == "dhcp" || v == "manual" {
		return ""
	}
	ip, _, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil || strings.Contains(v, "::") {
		return "value does not look like a valid IPv4 network configuration"
	}
	return ""
}

func checkIPv6Config(v string) string {
	if v == "auto" || v == "dhcp" || v == "manual" {
		return ""
	}
	ip, _, err := net.ParseCIDR(v)
	if err != nil || !strings.Contains(ip.String(), ":") {
		return "value does not look like a valid IPv6 network configuration"
	}
	return ""
}

func checkIPList(v string) string {
	for _, a := range splitList(v) {
		host, _, _ := strings.Cut(a, "%") // link-local with interface
		if net.ParseIP(host) == nil {
			return fmt.Sprintf("unable to parse IP address '%s'", a)
		}
	}
	return ""
}

func checkHotplug(v string) string {
	if v == "0" || v == "1" {
		return ""
	}
	for _, f := range strings.Split(v, ",") {
		switch f {
		case "network", "disk", "cpu", "memory", "usb", "cloudinit":
		default:
			return fmt.Sprintf("invalid hotplug feature '%s'", f)
		}
	}
	return ""
}

// lazyRE compiles its pattern on first use: the parameter tables hold
// dozens of patterns, and compiling them at init would slow every start
// of phoenix, which links the simulator whether or not it runs.
type lazyRE struct {
	src  string
	once sync.Once
	re   *regexp.Regexp
}

// lazyAnchored matches pattern against the whole string, like PVE does.
func lazyAnchored(pattern string) *lazyRE { return &lazyRE{src: `^(?:` + pattern + `)$`} }

func (l *lazyRE) MatchString(s string) bool {
	l.once.Do(func() { l.re = regexp.MustCompile(l.src) })
	return l.re.MatchString(s)
}
