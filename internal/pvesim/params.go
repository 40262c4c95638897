package pvesim

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// kind is the JSON-schema type of a parameter, as PVE names it.
type kind uint8

const (
	kString kind = iota
	kInteger
	kNumber
	kBoolean
)

func (k kind) String() string {
	return [...]string{"string", "integer", "number", "boolean"}[k]
}

// param is one entry of the simulator's own parameter table: a top-level
// API parameter or a sub-key of a property string.
type param struct {
	kind     kind
	optional bool
	min, max float64 // NaN when unbounded
	minLen   int
	maxLen   int
	enum     []string
	pattern  *lazyRE     // must match the whole value
	format   string      // a named format, checked by formats[format]
	prop     *propFormat // property string: "key=value,..."
	alias    string      // sub-key that is another name for alias
}

// propFormat is the sub-schema of a property string such as mp0 or net0.
type propFormat struct {
	name       string // the named format it stands for, when PVE names it
	defaultKey string // the key a bare value belongs to ("volume")
	keys       map[string]*param
	// keyAlias: a key that names the value of defaultKey and carries the
	// value of valueKey; qemu's "virtio=MAC" is model=virtio,macaddr=MAC.
	keyAlias map[string]bool
	valueKey string
}

func newParam(k kind) *param {
	return &param{kind: k, optional: true, min: math.NaN(), max: math.NaN()}
}

func str() *param                  { return newParam(kString) }
func boolean() *param              { return newParam(kBoolean) }
func integer() *param              { return newParam(kInteger) }
func number() *param               { return newParam(kNumber) }
func strf(format string) *param    { p := str(); p.format = format; return p }
func propstr(f *propFormat) *param { p := str(); p.prop = f; return p }

func strp(pattern string) *param {
	p := str()
	p.pattern = lazyAnchored(pattern)
	return p
}

func enum(vals ...string) *param { p := str(); p.enum = vals; return p }

func intRange(lo, hi float64) *param { p := integer(); p.min, p.max = lo, hi; return p }
func intMin(lo float64) *param       { p := integer(); p.min = lo; return p }
func numRange(lo, hi float64) *param { p := number(); p.min, p.max = lo, hi; return p }
func numMin(lo float64) *param       { p := number(); p.min = lo; return p }

func (p *param) req() *param             { p.optional = false; return p }
func (p *param) maxlen(n int) *param     { p.maxLen = n; return p }
func (p *param) minlen(n int) *param     { p.minLen = n; return p }
func (p *param) aliasOf(k string) *param { p.alias = k; return p }

// vmidParam is PVE's pve-vmid.
func vmidParam() *param { p := intRange(100, 999999999); p.format = "pve-vmid"; return p }

// paramError is one parameter that failed verification; PVE reports
// them all at once in an "errors" object keyed by parameter name.
type paramErrors map[string]string

// checkValue verifies v against p and returns the normalised value
// (booleans become 1/0, as PVE stores them).
func checkValue(name string, p *param, v string) (string, string) {
	switch p.kind {
	case kBoolean:
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			return "1", ""
		case "0", "false", "no", "off":
			return "0", ""
		}
		return "", fmt.Sprintf("type check ('boolean') failed - got '%s'", v)
	case kInteger:
		if msg := checkNumeric(p, intRE, v); msg != "" {
			return "", msg
		}
		return strings.TrimPrefix(v, "+"), ""
	case kNumber:
		if msg := checkNumeric(p, numRE, v); msg != "" {
			return "", msg
		}
		return v, ""
	}
	if p.minLen > 0 && len(v) < p.minLen {
		return "", fmt.Sprintf("value must have a minimum length of %d", p.minLen)
	}
	if p.maxLen > 0 && len(v) > p.maxLen {
		return "", fmt.Sprintf("value may only be %d characters long", p.maxLen)
	}
	if p.enum != nil {
		for _, e := range p.enum {
			if e == v {
				return v, ""
			}
		}
		return "", fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", v, strings.Join(p.enum, ", "))
	}
	if p.pattern != nil && !p.pattern.MatchString(v) {
		return "", "value does not match the regex pattern"
	}
	if p.prop != nil {
		m, msg := parsePropString(name, p.prop, v)
		if msg != "" {
			return "", msg
		}
		return printPropString(p.prop, m), ""
	}
	if p.format != "" {
		if check, ok := formats[p.format]; ok {
			if msg := check(v); msg != "" {
				return "", msg
			}
		}
	}
	return v, ""
}

var (
	intRE = regexp.MustCompile(`^[+-]?\d+$`)
	numRE = regexp.MustCompile(`^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$`)
)

// checkNumeric is the type and range check integers and numbers share.
func checkNumeric(p *param, re *regexp.Regexp, v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if !re.MatchString(v) || err != nil {
		return fmt.Sprintf("type check ('%s') failed - got '%s'", p.kind, v)
	}
	return checkRange(p, f)
}

func checkRange(p *param, f float64) string {
	if !math.IsNaN(p.min) && f < p.min {
		return fmt.Sprintf("value must have a minimum value of %s", fmtNum(p.min))
	}
	if !math.IsNaN(p.max) && f > p.max {
		return fmt.Sprintf("value must have a maximum value of %s", fmtNum(p.max))
	}
	return ""
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// parsePropString splits "a=1,b=2" (with an optional bare default-key
// value) and checks every sub-key. Errors read like PVE's:
// "invalid format - format error\nmp0.mp: property is missing ...".
func parsePropString(name string, f *propFormat, v string) (map[string]string, string) {
	res := map[string]string{}
	var errs []string
	fail := func(key, msg string) { errs = append(errs, fmt.Sprintf("%s.%s: %s", name, key, msg)) }
	for _, part := range strings.Split(v, ",") {
		if part == "" {
			continue
		}
		k, val, hasEq := strings.Cut(part, "=")
		if !hasEq {
			if f.defaultKey == "" {
				return nil, "invalid format - value without key, but schema does not define a default key\n"
			}
			if _, dup := res[f.defaultKey]; dup {
				return nil, fmt.Sprintf("invalid format - default key '%s' was already set\n", f.defaultKey)
			}
			res[f.defaultKey] = part
			continue
		}
		if f.keyAlias[k] {
			if _, dup := res[f.defaultKey]; dup {
				return nil, fmt.Sprintf("invalid format - duplicate key in comma-separated list property: %s\n", f.defaultKey)
			}
			res[f.defaultKey] = k
			res[f.valueKey] = val
			continue
		}
		sub, ok := f.keys[k]
		if !ok {
			fail(k, "property is not defined in schema and the schema does not allow additional properties")
			continue
		}
		if sub.alias != "" {
			k = sub.alias
			sub = f.keys[k]
		}
		if _, dup := res[k]; dup {
			return nil, fmt.Sprintf("invalid format - duplicate key in comma-separated list property: %s\n", k)
		}
		res[k] = val
	}
	for _, k := range sortedKeys(f.keys) {
		sub := f.keys[k]
		if sub.alias != "" {
			continue
		}
		val, ok := res[k]
		if !ok {
			if !sub.optional {
				fail(k, "property is missing and it is not optional")
			}
			continue
		}
		norm, msg := checkValue(name+"."+k, sub, val)
		if msg != "" {
			fail(k, msg)
			continue
		}
		res[k] = norm
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, "invalid format - format error\n" + strings.Join(errs, "\n") + "\n"
	}
	return res, ""
}

// printPropString writes a property string the way PVE prints it: the
// default key's bare value first, then required keys, then the rest, each
// group sorted.
func printPropString(f *propFormat, m map[string]string) string {
	var parts []string
	if f.keyAlias != nil {
		if model, ok := m[f.defaultKey]; ok {
			if mac, ok := m[f.valueKey]; ok {
				parts = append(parts, model+"="+mac)
			} else {
				parts = append(parts, model)
			}
		}
	} else if v, ok := m[f.defaultKey]; ok && f.defaultKey != "" {
		parts = append(parts, v)
	}
	var req, rest []string
	for k := range m {
		if k == f.defaultKey || (f.keyAlias != nil && k == f.valueKey) {
			continue
		}
		if sub := f.keys[k]; sub != nil && !sub.optional {
			req = append(req, k)
		} else {
			rest = append(rest, k)
		}
	}
	sort.Strings(req)
	sort.Strings(rest)
	for _, k := range append(req, rest...) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// lookupParam finds name in a table, resolving indexed keys: "mp12" is
// the entry "mp[n]" when 12 is below the index limit.
func lookupParam(table map[string]*param, limits map[string]int, name string) (*param, string) {
	if p, ok := table[name]; ok {
		return p, name
	}
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(name) {
		return nil, ""
	}
	base, digits := name[:i], name[i:]
	if len(digits) > 1 && digits[0] == '0' {
		return nil, ""
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return nil, ""
	}
	p, ok := table[base+"[n]"]
	if !ok || n >= limits[base] {
		return nil, ""
	}
	return p, base + "[n]"
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
