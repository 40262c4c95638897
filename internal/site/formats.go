package site

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// A format is a named rule for a string. Struct fields name theirs in a
// `format` tag; the same name is the $defs entry in the JSON Schemas, so
// the Go rule and the schema rule sit side by side here.
type format struct {
	what string // what a valid value is, for messages
	// pattern, when set, is the rule for both Go and the schema. Otherwise
	// check is the Go rule and schema the schema's.
	pattern string
	check   func(string) string // "" when valid, else why not
	schema  string
	cheap   bool // check costs less than remembering its verdict
}

const (
	labelRE  = `[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?`
	octetRE  = `(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`
	ipv4RE   = octetRE + `([.]` + octetRE + `){3}`
	bits32RE = `(3[0-2]|[12]?[0-9])`
)

var zfsCompRx = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

var formats = map[string]format{
	"dns-name": {
		what:  "a DNS name (RFC 1123)",
		check: checkDNSName,
		cheap: true,
		schema: `{"type": "string", "maxLength": 253,
			"pattern": "^` + labelRE + `(\\.` + labelRE + `)*$",
			"description": "A DNS name (RFC 1123): dot-separated labels of letters, digits and inner hyphens, each at most 63 characters, 253 in all."}`,
	},
	"label": {
		what: "a host name label (RFC 1123: letters, digits, inner hyphens, at most 63)",
		check: func(s string) string {
			if checkLabel(s) != "" {
				return "invalid"
			}
			return ""
		},
		schema: `{"type": "string", "pattern": "^` + labelRE + `$",
			"description": "A single DNS label (RFC 1123)."}`,
	},
	"ifname": {
		what:    "a network interface name (a letter, then up to 14 letters, digits, '.', '_' or '-')",
		pattern: `^[A-Za-z][A-Za-z0-9_.-]{0,14}$`,
	},
	"abs-path": {
		what:  "an absolute, clean path of letters, digits and . _ @ + - /",
		check: checkAbsPath,
		schema: `{"type": "string", "pattern": "^(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|/\\.[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|/\\.\\.[A-Za-z0-9._@+-]+)+$",
			"description": "An absolute path without '.', '..', empty or trailing components; only letters, digits and . _ @ + - /, so it cannot inject options into Proxmox property strings."}`,
	},
	"rel-path": {
		what:  "a relative, clean path inside the guest's dataset (no '..')",
		check: checkRelPath,
		schema: `{"type": "string", "pattern": "^([A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|\\.[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|\\.\\.[A-Za-z0-9._@+-]+)(/([A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|\\.[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*|\\.\\.[A-Za-z0-9._@+-]+))*$",
			"description": "A relative path without '.', '..', empty or trailing components."}`,
	},
	"storage-id": {
		what:    "a Proxmox storage ID (a letter, then letters, digits, '.', '_' or '-', not ending in a symbol)",
		pattern: `^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$`,
	},
	"zfs-pool": {
		what:  "a ZFS pool name (a letter, then letters, digits, '_', '-', '.', ':')",
		check: checkZFSPool,
		schema: `{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.:-]*$",
			"description": "A ZFS pool name."}`,
	},
	"zfs-dataset": {
		what:  "a ZFS dataset name (pool/child/...)",
		check: checkZFSDataset,
		schema: `{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)+$",
			"description": "A ZFS dataset name below a pool."}`,
	},
	"zfs-name": {
		what: "a ZFS pool or dataset name",
		check: func(s string) string {
			if !strings.Contains(s, "/") {
				return checkZFSPool(s)
			}
			return checkZFSDataset(s)
		},
		schema: `{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9_.:-]+)*$"}`,
	},
	"zfs-property": {
		what:    "a ZFS property name (lower case letters, digits, '_', '.', ':', '-')",
		pattern: `^[a-z][a-z0-9_.:-]*$`,
	},
	"zfs-value": {
		what:    "a ZFS property value (letters, digits and _ . : @ + -)",
		pattern: `^[A-Za-z0-9_.:@+-]+$`,
	},
	"vztmpl": {
		what:    "a container template volume ID, STORAGE:vztmpl/FILE.tar[.gz|.xz|.zst|.bz2]",
		pattern: `^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]:vztmpl/[A-Za-z0-9][A-Za-z0-9._+-]*\.tar(\.(gz|xz|zst|bz2))?$`,
	},
	"https-url": {
		what:  "an https URL with a host",
		check: checkHTTPSURL,
		schema: `{"type": "string", "pattern": "^https://[^/?#@\\s]+(/[^?#\\s]*)?$",
			"description": "An https URL, e.g. https://192.168.10.11:8006/api2/json."}`,
	},
	"fingerprint": {
		what:    "a SHA-256 fingerprint, 32 hex byte pairs separated by ':'",
		pattern: `^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$`,
	},
	"listen-address": {
		what:  "a listen address [IP]:PORT, e.g. :9000",
		check: checkListenAddress,
		schema: `{"type": "string", "pattern": "^(` + ipv4RE + `|\\[[0-9A-Fa-f:.]+\\])?:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$",
			"description": "Where the CA listens: [IP]:PORT, e.g. \":9000\" for every address."}`,
	},
	"provisioner": {
		what:    "a provisioner name (letters, digits and . _ @ + -, at most 64)",
		pattern: `^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`,
	},
	"name": {
		what:    "a name of lower case letters, digits, '_' and '-', starting with a letter (at most 32)",
		pattern: `^[a-z][a-z0-9_-]{0,31}$`,
	},
	"fstype": {
		what:    "a file system type (lower case letters, digits, '_')",
		pattern: `^[a-z0-9_]{1,32}$`,
	},
	"text": {
		what: "one line of text",
		check: func(s string) string {
			if strings.TrimSpace(s) == "" {
				return "must not be empty"
			}
			return ""
		},
		schema: `{"type": "string", "minLength": 1, "pattern": "\\S"}`,
	},
	"ca-name": {
		what: "a DNS name or an IP address",
		check: func(s string) string {
			if _, err := parseAddr(s); err == nil {
				return ""
			}
			return checkDNSName(s)
		},
		schema: `{"anyOf": [{"$ref": "#/$defs/ip"}, {"$ref": "#/$defs/dns-name"}]}`,
	},
	// Formats of non-string Go types; their checks live in decode.go.
	"ip": {
		what:   "an IP address",
		schema: `{"anyOf": [{"$ref": "#/$defs/ipv4"}, {"type": "string", "format": "ipv6"}]}`,
	},
	"ipv4": {
		what:   "an IPv4 address",
		schema: `{"type": "string", "pattern": "^` + ipv4RE + `$"}`,
	},
	"ipv4-prefix": {
		what:   "an IPv4 address with its prefix length, e.g. 10.0.0.101/24",
		schema: `{"type": "string", "pattern": "^` + ipv4RE + `/` + bits32RE + `$"}`,
	},
	"ipv4-cidr": {
		what:   "an IPv4 network in CIDR notation, e.g. 10.0.0.0/24",
		schema: `{"type": "string", "pattern": "^` + ipv4RE + `/` + bits32RE + `$"}`,
	},
	"cidr": {
		what: "a network in CIDR notation, e.g. 192.168.10.0/24",
		schema: `{"anyOf": [{"$ref": "#/$defs/ipv4-cidr"},
			{"type": "string", "pattern": "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"}]}`,
	},
	"mode": {
		what:    "a file mode of 3 or 4 octal digits, as a string, e.g. \"0750\"",
		pattern: `^[0-7]{3,4}$`,
	},
	"duration": {
		what:    "a duration such as \"168h\" or \"90m\" (units h, m, s)",
		pattern: `^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$`,
	},
	"endpoint": {
		what: "a guest VMID, a CIDR or IP, or one of any, guests, host, management, nodes",
		schema: `{"anyOf": [
			{"type": "integer", "minimum": 100, "maximum": 999999999},
			{"enum": ["any", "guests", "host", "management", "nodes"]},
			{"$ref": "#/$defs/ip"},
			{"$ref": "#/$defs/cidr"}]}`,
	},
}

// patterns holds the compiled pattern of each format that has one.
var patterns = map[string]*regexp.Regexp{}

func init() {
	for name, fm := range formats {
		if fm.pattern == "" {
			continue
		}
		rx := regexp.MustCompile(fm.pattern)
		patterns[name] = rx
		fm.check = func(s string) string {
			if rx.MatchString(s) {
				return ""
			}
			return "invalid"
		}
		q, _ := json.Marshal(fm.pattern)
		fm.schema = `{"type": "string", "pattern": ` + string(q) + `}`
		formats[name] = fm
	}
}

func checkDNSName(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > 253 {
		return "longer than 253 characters"
	}
	// Hand-written rather than a regexp per label: a big site has tens of
	// thousands of names.
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if why := checkLabel(s[start:i]); why != "" {
			return why
		}
		start = i + 1
	}
	// An all-numeric last label would make "10.0.0.300" a host name.
	if strings.Trim(s[strings.LastIndexByte(s, '.')+1:], "0123456789") == "" {
		return "the last label must not be all digits"
	}
	return ""
}

func checkLabel(l string) string {
	if l == "" {
		return "empty label"
	}
	if len(l) > 63 {
		return fmt.Sprintf("label %q is longer than 63 characters", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(l)-1
		if !ok {
			return fmt.Sprintf("label %q must be letters, digits and inner hyphens", l)
		}
	}
	return ""
}

func checkAbsPath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return "must be absolute"
	}
	if s == "/" {
		return "must not be /"
	}
	if !pathChars(s) {
		return "only letters, digits and . _ @ + - / are allowed"
	}
	if path.Clean(s) != s {
		return fmt.Sprintf("not clean (did you mean %q?)", path.Clean(s))
	}
	return ""
}

// pathChars reports whether s is non-empty and only letters, digits and
// . _ @ + - /.
func pathChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+/-", c) >= 0) {
			return false
		}
	}
	return s != ""
}

func checkRelPath(s string) string {
	if strings.HasPrefix(s, "/") {
		return "must be relative"
	}
	if !pathChars(s) {
		return "only letters, digits and . _ @ + - / are allowed"
	}
	c := path.Clean(s)
	if c != s || c == "." {
		return "must be clean, without '.' or empty components"
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "must not leave the dataset"
	}
	return ""
}

func checkZFSPool(s string) string {
	if s == "" || !zfsCompRx.MatchString(s) || !(s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') {
		return "invalid"
	}
	return ""
}

func checkZFSDataset(s string) string {
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return "must name a dataset below a pool (pool/name)"
	}
	if why := checkZFSPool(parts[0]); why != "" {
		return "invalid pool name"
	}
	for _, c := range parts[1:] {
		if c == "" || c == "." || c == ".." || !zfsCompRx.MatchString(c) {
			return fmt.Sprintf("invalid component %q", c)
		}
	}
	return ""
}

func checkHTTPSURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "does not parse"
	}
	switch {
	case u.Scheme != "https":
		return "must be https"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil:
		return "must not hold credentials (use credentials_file)"
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?# \t"):
		return "must not have a query or fragment"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port must be 1-65535"
		}
	}
	return ""
}

func checkListenAddress(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be [IP]:PORT"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "port must be 1-65535"
	}
	if host != "" {
		if _, err := parseAddr(host); err != nil {
			return "host must be an IP address or empty"
		}
	}
	return ""
}
