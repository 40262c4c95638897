package zfs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The simulator's property table: the OpenZFS 2.2 native properties a
// filesystem or snapshot shows, in the order `zfs get all` prints them
// (the zfs_prop_t order), with their 2.2 defaults. Volumes, encryption,
// mlslabel, written, SELinux contexts and limits/counts are left out.

type propKind int

const (
	kindRO     propKind = iota // computed by the sim, source "-"
	kindIndex                  // one of a fixed set of words
	kindNumber                 // bytes or a count; human suffixes accepted
	kindPath                   // mountpoint
	kindString                 // free-form (sharenfs, sharesmb)
)

type propDef struct {
	name    string
	kind    propKind
	def     string // literal default; for kindRO unused
	inherit bool
	fs      bool // applies to filesystems
	snap    bool // applies to snapshots
	values  string
	bytes   bool // human form is a byte size
	none0   bool // human form of 0 is "none" (quotas, reservations)
	hidden  bool // not in "all"; shown only when asked for (origin)
}

var (
	onOff = "on | off"

	compressionValues = "on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,...,100,500,1000]"
	checksumValues    = "on | off | fletcher2 | fletcher4 | sha256 | sha512 | skein | edonr | blake3"
	dedupValues       = "on | off | verify | sha256[,verify] | sha512[,verify] | skein[,verify] | edonr,verify | blake3[,verify]"
)

var propTable = []*propDef{
	{name: "type", kind: kindRO, fs: true, snap: true},
	{name: "creation", kind: kindRO, fs: true, snap: true},
	{name: "used", kind: kindRO, fs: true, snap: true, bytes: true},
	{name: "available", kind: kindRO, fs: true, bytes: true},
	{name: "referenced", kind: kindRO, fs: true, snap: true, bytes: true},
	{name: "compressratio", kind: kindRO, fs: true, snap: true},
	{name: "mounted", kind: kindRO, fs: true},
	{name: "origin", kind: kindRO, fs: true, hidden: true},
	{name: "quota", kind: kindNumber, def: "0", fs: true, bytes: true, none0: true},
	{name: "reservation", kind: kindNumber, def: "0", fs: true, bytes: true, none0: true},
	{name: "recordsize", kind: kindNumber, def: "131072", inherit: true, fs: true, bytes: true},
	{name: "mountpoint", kind: kindPath, inherit: true, fs: true},
	{name: "sharenfs", kind: kindString, def: "off", inherit: true, fs: true},
	{name: "checksum", kind: kindIndex, def: "on", inherit: true, fs: true, values: checksumValues},
	{name: "compression", kind: kindIndex, def: "on", inherit: true, fs: true, values: compressionValues},
	{name: "atime", kind: kindIndex, def: "on", inherit: true, fs: true, values: onOff},
	{name: "devices", kind: kindIndex, def: "on", inherit: true, fs: true, snap: true, values: onOff},
	{name: "exec", kind: kindIndex, def: "on", inherit: true, fs: true, snap: true, values: onOff},
	{name: "setuid", kind: kindIndex, def: "on", inherit: true, fs: true, snap: true, values: onOff},
	{name: "readonly", kind: kindIndex, def: "off", inherit: true, fs: true, values: onOff},
	{name: "zoned", kind: kindIndex, def: "off", inherit: true, fs: true, values: onOff},
	{name: "snapdir", kind: kindIndex, def: "hidden", inherit: true, fs: true, values: "hidden | visible"},
	{name: "aclmode", kind: kindIndex, def: "discard", inherit: true, fs: true, values: "discard | groupmask | passthrough | restricted"},
	{name: "aclinherit", kind: kindIndex, def: "restricted", inherit: true, fs: true, values: "discard | noallow | restricted | passthrough | passthrough-x"},
	{name: "createtxg", kind: kindRO, fs: true, snap: true},
	{name: "canmount", kind: kindIndex, def: "on", fs: true, values: "on | off | noauto"},
	{name: "xattr", kind: kindIndex, def: "on", inherit: true, fs: true, snap: true, values: "on | off | dir | sa"},
	{name: "copies", kind: kindIndex, def: "1", inherit: true, fs: true, values: "1 | 2 | 3"},
	{name: "version", kind: kindRO, fs: true, snap: true},
	{name: "utf8only", kind: kindRO, fs: true, snap: true},
	{name: "normalization", kind: kindRO, fs: true, snap: true},
	{name: "casesensitivity", kind: kindRO, fs: true, snap: true},
	{name: "vscan", kind: kindIndex, def: "off", inherit: true, fs: true, values: onOff},
	{name: "nbmand", kind: kindIndex, def: "off", inherit: true, fs: true, snap: true, values: onOff},
	{name: "sharesmb", kind: kindString, def: "off", inherit: true, fs: true},
	{name: "refquota", kind: kindNumber, def: "0", fs: true, bytes: true, none0: true},
	{name: "refreservation", kind: kindNumber, def: "0", fs: true, bytes: true, none0: true},
	{name: "guid", kind: kindRO, fs: true, snap: true},
	{name: "primarycache", kind: kindIndex, def: "all", inherit: true, fs: true, snap: true, values: "all | none | metadata"},
	{name: "secondarycache", kind: kindIndex, def: "all", inherit: true, fs: true, snap: true, values: "all | none | metadata"},
	{name: "usedbysnapshots", kind: kindRO, fs: true, bytes: true},
	{name: "usedbydataset", kind: kindRO, fs: true, bytes: true},
	{name: "usedbychildren", kind: kindRO, fs: true, bytes: true},
	{name: "usedbyrefreservation", kind: kindRO, fs: true, bytes: true},
	{name: "defer_destroy", kind: kindRO, snap: true},
	{name: "userrefs", kind: kindRO, snap: true},
	{name: "logbias", kind: kindIndex, def: "latency", inherit: true, fs: true, values: "latency | throughput"},
	{name: "objsetid", kind: kindRO, fs: true, snap: true},
	{name: "dedup", kind: kindIndex, def: "off", inherit: true, fs: true, values: dedupValues},
	{name: "sync", kind: kindIndex, def: "standard", inherit: true, fs: true, values: "standard | always | disabled"},
	{name: "dnodesize", kind: kindIndex, def: "legacy", inherit: true, fs: true, values: "legacy | auto | 1k | 2k | 4k | 8k | 16k"},
	{name: "refcompressratio", kind: kindRO, fs: true, snap: true},
	{name: "logicalused", kind: kindRO, fs: true, snap: true, bytes: true},
	{name: "logicalreferenced", kind: kindRO, fs: true, snap: true, bytes: true},
	{name: "volmode", kind: kindIndex, def: "default", inherit: true, fs: true, values: "default | full | geom | dev | none"},
	{name: "snapdev", kind: kindIndex, def: "hidden", inherit: true, fs: true, values: "hidden | visible"},
	{name: "acltype", kind: kindIndex, def: "off", inherit: true, fs: true, snap: true, values: "off | nfsv4 | posix"},
	{name: "relatime", kind: kindIndex, def: "on", inherit: true, fs: true, values: onOff},
	{name: "redundant_metadata", kind: kindIndex, def: "all", inherit: true, fs: true, values: "all | most | some | none"},
	{name: "overlay", kind: kindIndex, def: "on", inherit: true, fs: true, values: onOff},
	{name: "special_small_blocks", kind: kindNumber, def: "0", inherit: true, fs: true, bytes: true},
}

var propByName = func() map[string]*propDef {
	m := map[string]*propDef{}
	for _, p := range propTable {
		m[p.name] = p
	}
	return m
}()

// propAliases are the short names zfs accepts for native properties.
var propAliases = map[string]string{
	"avail": "available", "refer": "referenced", "ratio": "compressratio",
	"compress": "compression", "recsize": "recordsize", "reserv": "reservation",
	"refreserv": "refreservation", "rdonly": "readonly", "usedsnap": "usedbysnapshots",
	"usedds": "usedbydataset", "usedchild": "usedbychildren",
	"usedrefreserv": "usedbyrefreservation", "refratio": "refcompressratio",
	"lused": "logicalused", "lrefer": "logicalreferenced",
}

// valueAliases are accepted spellings that zfs stores as another word.
var valueAliases = map[string]map[string]string{
	"acltype": {"noacl": "off", "posixacl": "posix"},
}

// lookupProp finds a native property by name or alias.
func lookupProp(name string) *propDef {
	if a, ok := propAliases[name]; ok {
		name = a
	}
	return propByName[name]
}

// isUserProp reports a user property name: it has a ':' and only
// lowercase letters, digits and ":-_." (zfs_prop_user).
func isUserProp(name string) bool {
	if !strings.Contains(name, ":") || len(name) >= 256 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune(":-_.", r):
		default:
			return false
		}
	}
	return true
}

// indexValues expands a values text into the words it accepts.
func indexValues(p *propDef) map[string]bool {
	m := map[string]bool{}
	switch p.name {
	case "compression":
		for _, w := range []string{"on", "off", "lzjb", "gzip", "zle", "lz4", "zstd", "zstd-fast"} {
			m[w] = true
		}
		for i := 1; i <= 9; i++ {
			m[fmt.Sprintf("gzip-%d", i)] = true
		}
		for i := 1; i <= 19; i++ {
			m[fmt.Sprintf("zstd-%d", i)] = true
		}
		for _, i := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000} {
			m[fmt.Sprintf("zstd-fast-%d", i)] = true
		}
	case "dedup":
		for _, w := range []string{"on", "off", "verify", "sha256", "sha256,verify", "sha512", "sha512,verify",
			"skein", "skein,verify", "edonr,verify", "blake3", "blake3,verify"} {
			m[w] = true
		}
	default:
		for _, w := range strings.Split(p.values, " | ") {
			m[w] = true
		}
	}
	return m
}

// parseValue checks a value for a settable native property and returns
// its literal (-p) form, or the reason text zfs gives.
func parseValue(p *propDef, v string) (string, error) {
	switch p.kind {
	case kindRO:
		return "", fmt.Errorf("'%s' is readonly", p.name)
	case kindIndex:
		if a, ok := valueAliases[p.name][v]; ok {
			v = a
		}
		if !indexValues(p)[v] {
			return "", fmt.Errorf("'%s' must be one of '%s'", p.name, p.values)
		}
		return v, nil
	case kindPath:
		if v == "none" || v == "legacy" {
			return v, nil
		}
		if !strings.HasPrefix(v, "/") {
			return "", fmt.Errorf("'%s' must be an absolute path, 'none', or 'legacy'", p.name)
		}
		// zfs stores the path without trailing slashes.
		if t := strings.TrimRight(v, "/"); t != "" {
			v = t
		} else {
			v = "/"
		}
		return v, nil
	case kindString:
		return v, nil
	}
	// kindNumber
	if v == "none" && p.none0 {
		return "0", nil
	}
	n, err := niceStrToNum(v)
	if err != nil {
		return "", err
	}
	// 16M is SPA_MAXBLOCKSIZE, a pool's maxblocksize with large_blocks.
	if p.name == "recordsize" && (n < 512 || n > 16<<20 || n&(n-1) != 0) {
		return "", fmt.Errorf("'%s' must be power of 2 from 512B to 16M", p.name)
	}
	if p.name == "special_small_blocks" && n != 0 && (n < 512 || n > 16<<20 || n&(n-1) != 0) {
		return "", fmt.Errorf("invalid '%s=%d' property: must be zero or a power of 2 from 512B to 16M", p.name, n)
	}
	return strconv.FormatUint(n, 10), nil
}

// niceStrToNum parses "1024", "1.5G", "10K", "2MiB" as zfs_nicestrtonum
// does, with its error texts.
func niceStrToNum(s string) (uint64, error) {
	if s == "" || !(s[0] >= '0' && s[0] <= '9' || s[0] == '.') {
		return 0, fmt.Errorf("bad numeric value '%s'", s)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, suffix := s[:i], s[i:]
	shift := 0
	if suffix != "" {
		const ends = "BKMGTPEZ"
		k := strings.IndexByte(ends, upper(suffix[0]))
		rest := strings.ToUpper(suffix[1:])
		if k < 0 || !(rest == "" || rest == "B" || rest == "IB") {
			return 0, fmt.Errorf("invalid numeric suffix '%s'", suffix)
		}
		shift = 10 * k
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("bad numeric value '%s'", s)
		}
		f *= math.Pow(2, float64(shift))
		if f >= math.MaxUint64 {
			return 0, fmt.Errorf("numeric value is too large")
		}
		return uint64(f), nil
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("numeric value is too large")
	}
	if shift >= 64 || n > math.MaxUint64>>uint(shift) {
		return 0, fmt.Errorf("numeric value is too large")
	}
	return n << uint(shift), nil
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// niceBytes is the human byte size zfs prints without -p: "0B", "512B",
// "96K", "1.50M", "12.3G".
func niceBytes(n uint64) string {
	const units = "BKMGTPE"
	i := 0
	for v := n; v >= 1024 && i < len(units)-1; v /= 1024 {
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	div := float64(uint64(1) << (10 * uint(i)))
	if n%(uint64(1)<<(10*uint(i))) == 0 {
		return fmt.Sprintf("%d%c", n>>(10*uint(i)), units[i])
	}
	var s string
	for prec := 2; prec >= 0; prec-- {
		s = fmt.Sprintf("%.*f%c", prec, float64(n)/div, units[i])
		if len(s) <= 5 {
			break
		}
	}
	return s
}

// NormalizeProperty checks a property and value the way zfs set does and
// returns the canonical name and the literal value zfs get -p would show
// ("compress", "1G" -> "compression", "1073741824"; "acltype",
// "posixacl" -> "acltype", "posix"). User properties pass unchanged.
// Properties outside the simulator's table are refused.
func NormalizeProperty(name, value string) (string, string, error) {
	if def := lookupProp(name); def != nil {
		if !def.fs {
			return "", "", fmt.Errorf("property '%s' does not apply to filesystems", name)
		}
		v, err := parseValue(def, value)
		if err != nil {
			return "", "", err
		}
		return def.name, v, nil
	}
	if !isUserProp(name) {
		return "", "", fmt.Errorf("invalid property '%s'", name)
	}
	if strings.ContainsAny(value, "\n\t\x00") {
		return "", "", fmt.Errorf("property '%s': value contains a newline, tab or NUL", name)
	}
	return name, value, nil
}

// Inheritable reports whether a child filesystem inherits the property
// when it does not set it: the inheritable native properties and every
// user property.
func Inheritable(name string) bool {
	if isUserProp(name) {
		return true
	}
	p := lookupProp(name)
	return p != nil && p.inherit
}

// Default is a settable native property's default, in the literal form;
// false for computed ones and user properties.
func Default(name string) (string, bool) {
	p := lookupProp(name)
	if p == nil || p.kind == kindRO || p.kind == kindPath {
		return "", false
	}
	return p.def, true
}

// HumanValue is a property value as an operator writes it, for plans:
// byte sizes as "50G" (exact when the size is a whole number of a unit,
// as zfs prints them otherwise), 0 of a quota as "none"; every other
// value as given.
func HumanValue(name, value string) string {
	def := lookupProp(name)
	if def == nil || !def.bytes {
		return value
	}
	n, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return value
	}
	if n == 0 && def.none0 {
		return "none"
	}
	return niceBytes(n)
}
