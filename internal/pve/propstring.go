package pve

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Kind is a guest type, as PVE names it in API paths.
type Kind string

const (
	LXC  Kind = "lxc"
	QEMU Kind = "qemu"
)

// Word is how phoenix names the kind in resources: "lxc" or "vm".
func (k Kind) Word() string {
	if k == QEMU {
		return "vm"
	}
	return "lxc"
}

// Config is a guest config: PVE option names to values as PVE prints them.
type Config map[string]string

// indexed matches options such as mp0, net1, ipconfig0.
var indexed = regexp.MustCompile(`^([a-z]+)(\d+)$`)

func family(key string) string {
	if m := indexed.FindStringSubmatch(key); m != nil {
		return m[1]
	}
	return key
}

// propSchema is what phoenix needs to know about a property-string option:
// the key a bare value belongs to, and the sub-keys PVE fills in itself
// (a NIC's MAC address, a volume's size), which a desired value that does
// not mention them must not be compared on.
type propSchema struct {
	defaultKey string
	assigned   []string
	modelAlias bool // qemu netN: "virtio=MAC" is model=virtio,macaddr=MAC
	dropFalse  bool // absent flags are off: "nesting=0" equals ""
}

var qemuNICModels = map[string]bool{
	"e1000": true, "e1000-82540em": true, "e1000-82544gc": true, "e1000-82545em": true, "e1000e": true,
	"i82551": true, "i82557b": true, "i82559er": true, "ne2k_isa": true, "ne2k_pci": true,
	"pcnet": true, "rtl8139": true, "virtio": true, "vmxnet3": true,
}

func schemaOf(kind Kind, key string) *propSchema {
	f := family(key)
	if kind == LXC {
		switch f {
		case "rootfs", "mp", "unused":
			return &propSchema{defaultKey: "volume", assigned: []string{"size"}}
		case "net":
			return &propSchema{assigned: []string{"hwaddr", "type"}}
		case "features":
			return &propSchema{dropFalse: true}
		case "dev":
			return &propSchema{defaultKey: "path"}
		}
		return nil
	}
	switch f {
	case "net":
		return &propSchema{defaultKey: "model", assigned: []string{"macaddr"}, modelAlias: true}
	case "ipconfig":
		return &propSchema{}
	case "memory":
		return &propSchema{defaultKey: "current"}
	case "agent":
		return &propSchema{defaultKey: "enabled"}
	case "vga", "machine":
		return &propSchema{defaultKey: "type"}
	case "cpu":
		return &propSchema{defaultKey: "cputype"}
	case "ide", "sata", "scsi", "virtio", "unused":
		return &propSchema{defaultKey: "file", assigned: []string{"size"}}
	}
	return nil
}

// boolean sub-keys and options, compared as 1/0.
var boolKeys = map[string]bool{
	"acl": true, "backup": true, "quota": true, "replicate": true, "ro": true, "shared": true,
	"firewall": true, "link_down": true, "host-managed": true, "keepattrs": true,
	"force_rw_sys": true, "fuse": true, "keyctl": true, "mknod": true, "nesting": true,
	"onboot": true, "unprivileged": true, "protection": true, "console": true, "template": true,
	"acpi": true, "kvm": true, "numa": true, "tablet": true, "autostart": true, "ciupgrade": true,
	"enabled": true, "freeze-fs": true, "fstrim_cloned_disks": true, "ssd": true, "iothread": true,
}

func normBool(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return "1"
	case "0", "false", "no", "off":
		return "0"
	}
	return v
}

// ParseProp splits a property string into its sub-keys, the bare value
// under the schema's default key. Booleans become 1/0 and MACs upper case.
func ParseProp(kind Kind, key, v string) map[string]string {
	sc := schemaOf(kind, key)
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		switch {
		case !ok && sc != nil && sc.defaultKey != "":
			out[sc.defaultKey] = part
			continue
		case !ok:
			out[part] = ""
			continue
		case sc != nil && sc.modelAlias && qemuNICModels[k]:
			out["model"], out["macaddr"] = k, strings.ToUpper(val)
			continue
		}
		if boolKeys[k] {
			val = normBool(val)
		}
		if k == "hwaddr" || k == "macaddr" {
			val = strings.ToUpper(val)
		}
		out[k] = val
	}
	if sc != nil && sc.dropFalse {
		for k, val := range out {
			if val == "0" && boolKeys[k] {
				delete(out, k)
			}
		}
	}
	return out
}

// defaults are PVE's values for options absent from a config.
var defaults = map[Kind]map[string]string{
	LXC:  {"onboot": "0", "unprivileged": "0", "protection": "0", "swap": "512", "memory": "512", "console": "1", "tty": "2", "cmode": "tty"},
	QEMU: {"onboot": "0", "protection": "0", "memory": "512", "cores": "1", "sockets": "1", "acpi": "1", "kvm": "1", "tablet": "1"},
}

// norm is the comparable form of one option's value.
func norm(kind Kind, key, v string) string {
	if v == "" {
		v = defaults[kind][key]
	}
	if boolKeys[key] {
		return normBool(v)
	}
	if sc := schemaOf(kind, key); sc != nil {
		return canonical(ParseProp(kind, key, v))
	}
	return strings.TrimSpace(v)
}

func canonical(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// Equal reports whether the option key has the desired value want when
// PVE holds have ("" for absent), ignoring sub-key order, spelling of
// booleans and the sub-keys PVE assigns itself when want leaves them out.
func Equal(kind Kind, key, want, have string) bool {
	sc := schemaOf(kind, key)
	if sc == nil || want == "" || have == "" {
		return norm(kind, key, want) == norm(kind, key, have)
	}
	w, h := ParseProp(kind, key, want), ParseProp(kind, key, have)
	for _, a := range sc.assigned {
		if _, set := w[a]; !set {
			delete(h, a)
		}
	}
	return canonical(w) == canonical(h)
}

// KeepAssigned returns want with the sub-keys PVE assigned in have (a
// NIC's MAC address) carried over, so that an update does not make PVE
// generate new ones.
func KeepAssigned(kind Kind, key, want, have string) string {
	sc := schemaOf(kind, key)
	if sc == nil || want == "" || have == "" {
		return want
	}
	w, h := ParseProp(kind, key, want), ParseProp(kind, key, have)
	for _, a := range sc.assigned {
		if a == "size" || a == "type" {
			continue // PVE derives these; sending them changes nothing
		}
		if _, set := w[a]; !set && h[a] != "" {
			want += "," + a + "=" + h[a]
		}
	}
	return want
}

// Change is one option that differs. New is "" when the option is to be
// removed.
type Change struct {
	Key, Old, New string
}

func (c Change) String() string {
	old, nw := c.Old, c.New
	if old == "" {
		old = "(unset)"
	}
	if nw == "" {
		nw = "(removed)"
	}
	return fmt.Sprintf("%s: %s -> %s", c.Key, old, nw)
}

// Diff compares a desired config with the one PVE holds. Every key of
// want is compared ("" meaning the option should be absent); keys of have
// that want lacks are removed when remove(key) says phoenix manages them.
// New values keep what PVE assigned (KeepAssigned). Sorted by key, with
// indexed options in numeric order.
func Diff(kind Kind, have, want Config, remove func(key string) bool) []Change {
	var out []Change
	for k, w := range want {
		h := have[k]
		if Equal(kind, k, w, h) {
			continue
		}
		if w == "" {
			if h != "" {
				out = append(out, Change{Key: k, Old: h})
			}
			continue
		}
		out = append(out, Change{Key: k, Old: h, New: KeepAssigned(kind, k, w, h)})
	}
	if remove != nil {
		for k, h := range have {
			if _, ok := want[k]; !ok && remove(k) && h != "" {
				out = append(out, Change{Key: k, Old: h})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return keyLess(out[i].Key, out[j].Key) })
	return out
}

// keyLess orders option names with their numbers numerically: mp2 < mp10.
func keyLess(a, b string) bool {
	ma, mb := indexed.FindStringSubmatch(a), indexed.FindStringSubmatch(b)
	if ma != nil && mb != nil && ma[1] == mb[1] {
		x, _ := strconv.Atoi(ma[2])
		y, _ := strconv.Atoi(mb[2])
		return x < y
	}
	return a < b
}

// SortKeys sorts option names as Diff does.
func SortKeys(keys []string) {
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
}

// ParseSize reads a PVE disk size ("8G", "512M", "1T"; a bare number is
// bytes) in bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("disk size %q: want a number with K, M, G or T", s)
	}
	return int64(f * float64(mult)), nil
}
