package site

import (
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/netip"
	"phoenix/internal/suggest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Strict decoding of the syntax tree into the typed structs: unknown keys,
// wrong types, bad formats and ranges each become one problem with its
// path, and decoding carries on so that one run reports everything.

type decoder struct {
	file     string
	t        *tree
	root     *node
	ps       *problems
	broken   bool  // a guest file is not an object: its guests are unknown
	badVMIDs []int // guests whose entry is not an object
	valid    map[[2]string]bool
	// stack is the path being decoded. It becomes a *jpath only when a
	// problem is reported: building one per key would cost more than the
	// rest of decoding.
	stack []seg
}

type seg struct {
	key string
	idx int // -1 for an object key
}

func (d *decoder) push(key string) { d.stack = append(d.stack, seg{key, -1}) }
func (d *decoder) pushIdx(i int)   { d.stack = append(d.stack, seg{"", i}) }
func (d *decoder) pop()            { d.stack = d.stack[:len(d.stack)-1] }

// here is the current path.
func (d *decoder) here() *jpath {
	var p *jpath
	for _, s := range d.stack {
		p = &jpath{parent: p, key: s.key, idx: s.idx}
	}
	return p
}

func newDecoder(file string, t *tree, ps *problems) *decoder {
	return &decoder{file: file, t: t, root: t.root(), ps: ps}
}

func (d *decoder) errAt(off int, p *jpath, format string, args ...any) {
	d.ps.list = append(d.ps.list, problem{file: d.file, p: p, off: off, msg: fmt.Sprintf(format, args...)})
}

// errNode reports a problem with the value n at the current path.
func (d *decoder) errNode(n *node, format string, args ...any) {
	d.errAt(int(n.off), d.here(), format, args...)
}

// errKey reports a problem with the key of m at the current path.
func (d *decoder) errKey(m *member, format string, args ...any) {
	d.errAt(int(m.off), d.here(), format, args...)
}

// err reports a problem whose position is found from its path.
func (d *decoder) err(p *jpath, format string, args ...any) {
	d.errAt(-1, p, format, args...)
}

type fieldInfo struct {
	index     int // in the Go struct
	pos       int // among the JSON keys
	name      string
	required  bool
	def       string
	hasDef    bool
	min, max  int64
	hasMin    bool
	hasMax    bool
	format    string
	enum      []string
	keyFormat string
	star      string
	doc       string
	nonempty  bool
}

type structInfo struct {
	fields  []*fieldInfo // keys of the JSON object, in declaration order
	byKey   map[string]*fieldInfo
	derived []*fieldInfo // fields computed after validation, shown to Starlark
	keys    []string
}

var structInfos sync.Map // reflect.Type -> *structInfo

func infoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byKey: map[string]*fieldInfo{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		f := &fieldInfo{index: i, doc: sf.Tag.Get("doc"), format: sf.Tag.Get("format"),
			keyFormat: sf.Tag.Get("key"), star: sf.Tag.Get("star")}
		f.def, f.hasDef = sf.Tag.Lookup("default")
		f.nonempty = sf.Tag.Get("nonempty") == "true"
		if e := sf.Tag.Get("enum"); e != "" {
			f.enum = strings.Split(e, "|")
		}
		if s, ok := sf.Tag.Lookup("min"); ok {
			f.min, f.hasMin = mustInt(s), true
		}
		if s, ok := sf.Tag.Lookup("max"); ok {
			f.max, f.hasMax = mustInt(s), true
		}
		if tag == "-" || tag == "" {
			if f.star != "" {
				f.name = f.star
				si.derived = append(si.derived, f)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f.name = name
		f.required = opts == "required"
		f.pos = len(si.fields)
		si.fields = append(si.fields, f)
		si.byKey[name] = f
		si.keys = append(si.keys, name)
	}
	if len(si.fields) > 64 {
		panic("site: struct " + t.String() + " has more than 64 keys")
	}
	structInfos.Store(t, si)
	return si
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic("site: bad integer in struct tag: " + s)
	}
	return n
}

var (
	addrType     = reflect.TypeOf(netip.Addr{})
	prefixType   = reflect.TypeOf(netip.Prefix{})
	modeType     = reflect.TypeOf(fs.FileMode(0))
	durationType = reflect.TypeOf(Duration{})
	endpointType = reflect.TypeOf(Endpoint{})
)

// unsupportedKeyer is implemented by structs that recognise keys which are
// deliberately out of scope, to say so instead of "unknown key".
type unsupportedKeyer interface {
	unsupportedKey(key string) string
}

// reporter is where a checker's problems go: the JSON decoder, or the
// decoder of Starlark values.
type reporter interface {
	here() *jpath
	err(p *jpath, format string, args ...any)
}

// checker is implemented by structs with rules that span their fields.
type checker interface {
	check(c *structCtx)
}

// structCtx is what a checker sees: which keys were present and where to
// report.
type structCtx struct {
	d    reporter
	si   *structInfo
	seen uint64
}

// path is the object's path.
func (c *structCtx) path() *jpath { return c.d.here() }

func (c *structCtx) has(key string) bool {
	f := c.si.byKey[key]
	return f != nil && c.seen&(1<<uint(f.pos)) != 0
}

// err reports at key (or at the object itself when key is "").
func (c *structCtx) err(key string, format string, args ...any) {
	p := c.path()
	if key != "" {
		p = p.Key(key)
	}
	c.d.err(p, format, args...)
}

func (d *decoder) typeErr(n *node, want string) {
	got := n.kind.String()
	d.errNode(n, "must be %s, not %s", want, article(got))
}

func article(s string) string {
	switch s[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + s
	}
	if s == "null" {
		return s
	}
	return "a " + s
}

func (d *decoder) value(n *node, v reflect.Value, f *fieldInfo) {
	switch v.Type() {
	case addrType:
		d.addr(n, v, f)
		return
	case prefixType:
		d.prefix(n, v, f)
		return
	case modeType:
		if s, ok := d.str(n); ok {
			if m, ok := parseMode(s); ok {
				v.Set(reflect.ValueOf(m))
			} else {
				d.errNode(n, "%q is not %s", s, formats["mode"].what)
			}
		}
		return
	case durationType:
		if s, ok := d.str(n); ok {
			if dur, why := parseDuration(s); why == "" {
				v.Set(reflect.ValueOf(dur))
			} else {
				d.errNode(n, "%q is not %s: %s", s, formats["duration"].what, why)
			}
		}
		return
	case endpointType:
		d.endpoint(n, v)
		return
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := d.str(n)
		if !ok {
			return
		}
		if f != nil && f.enum != nil && !slices.Contains(f.enum, s) {
			d.errNode(n, "%q is not one of %s%s", s, strings.Join(f.enum, ", "), didYouMean(s, f.enum))
			return
		}
		if f != nil && f.format != "" {
			if why := d.checkFormat(f.format, s); why != "" {
				d.errNode(n, "%s", why)
				return
			}
		}
		v.SetString(s)
	case reflect.Int:
		if n.kind != kindNumber {
			d.typeErr(n, "an integer")
			return
		}
		lit := d.t.text(n)
		i, ok := parseInteger(lit)
		if !ok {
			d.errNode(n, "must be an integer, not %s", lit)
			return
		}
		if why := checkRange(f, i); why != "" {
			d.errNode(n, "%s (got %s)", why, lit)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.kind != kindBool {
			d.typeErr(n, "true or false")
			return
		}
		v.SetBool(n.b)
	case reflect.Slice:
		if n.kind != kindArray {
			d.typeErr(n, "an array")
			return
		}
		elems := d.t.kids(n)
		if f != nil && f.nonempty && len(elems) == 0 {
			d.errNode(n, "must not be empty")
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		scalar := isScalar(v.Type().Elem())
		var first map[any]int
		for i := range elems {
			e := d.t.val(&elems[i])
			ev := s.Index(i)
			d.pushIdx(i)
			d.value(e, ev, f)
			if !scalar || ev.IsZero() {
				d.pop()
				continue
			}
			// Scalar lists are sets: a repeat is a typo (schema: uniqueItems).
			if first == nil {
				first = map[any]int{}
			}
			k := ev.Interface()
			if j, dup := first[k]; dup {
				d.errNode(e, "repeats [%d]", j)
			} else {
				first[k] = i
			}
			d.pop()
		}
		v.Set(s)
	case reflect.Map:
		if n.kind != kindObject {
			d.typeErr(n, "an object")
			return
		}
		mems := d.t.kids(n)
		if f != nil && f.nonempty && len(mems) == 0 {
			d.errNode(n, "must not be empty")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(mems))
		et := v.Type().Elem()
		for i := range mems {
			mem := &mems[i]
			key, val := d.t.key(mem), d.t.val(mem)
			d.push(key)
			if f != nil && f.keyFormat != "" {
				if why := d.checkFormat(f.keyFormat, key); why != "" {
					d.errKey(mem, "key %s", why)
					d.pop()
					continue
				}
			}
			ev := reflect.New(et).Elem()
			if et.Kind() == reflect.Pointer {
				// A wrong type leaves no half-made entry behind to cause
				// follow-on errors.
				if val.kind != kindObject {
					d.typeErr(val, "an object")
					d.pop()
					continue
				}
				ev.Set(reflect.New(et.Elem()))
			}
			d.value(val, ev, f)
			d.pop()
			m.SetMapIndex(reflect.ValueOf(key), ev)
		}
		v.Set(m)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), f)
	case reflect.Struct:
		d.object(n, v)
	default:
		panic("site: cannot decode into " + v.Type().String())
	}
}

func (d *decoder) str(n *node) (string, bool) {
	if n.kind != kindString {
		d.typeErr(n, "a string")
		return "", false
	}
	// Every string ends up in some generated file (dnsmasq, nginx, nft,
	// PVE property strings): a control character there could inject lines.
	// Only escaped strings can hold one: the parser rejects raw ones.
	s := d.t.text(n)
	if n.n < 0 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f {
				d.errNode(n, "must not contain control characters")
				return "", false
			}
		}
	}
	return s, true
}

// checkFormat is checkFormatOf with a memory of valid values: a big site
// repeats its templates, bridges and nodes thousands of times.
func (d *decoder) checkFormat(name, s string) string {
	if formats[name].cheap {
		return checkFormatOf(name, s)
	}
	k := [2]string{name, s}
	if d.valid[k] {
		return ""
	}
	why := checkFormatOf(name, s)
	if why == "" && len(s) <= 256 {
		if d.valid == nil {
			d.valid = map[[2]string]bool{}
		}
		d.valid[k] = true
	}
	return why
}

func checkFormatOf(name, s string) string {
	fm, ok := formats[name]
	if !ok || fm.check == nil {
		panic("site: unknown string format " + name)
	}
	why := fm.check(s)
	if why == "" {
		return ""
	}
	if why == "invalid" {
		return fmt.Sprintf("%q is not %s", s, fm.what)
	}
	return fmt.Sprintf("%q is not %s: %s", s, fm.what, why)
}

func checkRange(f *fieldInfo, i int64) string {
	if f == nil {
		return ""
	}
	switch {
	case f.hasMin && f.hasMax && (i < f.min || i > f.max):
		return fmt.Sprintf("must be %d-%d", f.min, f.max)
	case f.hasMin && i < f.min:
		if f.min == 1 {
			return "must be positive"
		}
		return fmt.Sprintf("must be at least %d", f.min)
	case f.hasMax && i > f.max:
		return fmt.Sprintf("must be at most %d", f.max)
	}
	return ""
}

// parseInteger accepts what JSON Schema calls an integer: 3, 3.0, 3e2.
func parseInteger(s string) (int64, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zones are not allowed")
	}
	return a, nil
}

func (d *decoder) addr(n *node, v reflect.Value, f *fieldInfo) {
	s, ok := d.str(n)
	if !ok {
		return
	}
	a, err := parseAddr(s)
	want := "ip"
	if f != nil && f.format != "" {
		want = f.format
	}
	if err != nil || (want == "ipv4" && !a.Is4()) {
		d.errNode(n, "%q is not %s", s, formats[want].what)
		return
	}
	v.Set(reflect.ValueOf(a))
}

func (d *decoder) prefix(n *node, v reflect.Value, f *fieldInfo) {
	s, ok := d.str(n)
	if !ok {
		return
	}
	want := f.format
	pf, err := netip.ParsePrefix(s)
	if err != nil || (want != "cidr" && !pf.Addr().Is4()) {
		d.errNode(n, "%q is not %s", s, formats[want].what)
		return
	}
	if want != "ipv4-prefix" && pf.Masked() != pf {
		d.errNode(n, "%q is not a network address (did you mean %q?)", s, pf.Masked().String())
		return
	}
	v.Set(reflect.ValueOf(pf))
}

func parseMode(s string) (fs.FileMode, bool) {
	if !patterns["mode"].MatchString(s) {
		return 0, false
	}
	u, _ := strconv.ParseUint(s, 8, 32)
	return ModeFromOctal(u), true
}

// ModeFromOctal is the fs.FileMode of a chmod-style number such as
// 0o2750, whose setuid, setgid and sticky bits Go keeps elsewhere.
func ModeFromOctal(u uint64) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ModeString renders a mode the way the files spell it, e.g. "0750";
// it is the inverse of ModeFromOctal.
func ModeString(m fs.FileMode) string {
	u := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return fmt.Sprintf("%04o", u)
}

// Duration is a lifetime written like "168h".
type Duration struct{ time.Duration }

// String gives the shortest form in whole hours, minutes or seconds when
// possible ("168h" rather than "168h0m0s").
func (d Duration) String() string {
	switch {
	case d.Duration == 0:
		return "0s"
	case d.Duration%time.Hour == 0:
		return strconv.FormatInt(int64(d.Duration/time.Hour), 10) + "h"
	case d.Duration%time.Minute == 0:
		return strconv.FormatInt(int64(d.Duration/time.Minute), 10) + "m"
	}
	return d.Duration.String()
}

func parseDuration(s string) (Duration, string) {
	if strings.HasSuffix(s, "d") {
		return Duration{}, "there is no day unit; write days as hours, e.g. 7 days = \"168h\""
	}
	if !patterns["duration"].MatchString(s) {
		return Duration{}, "invalid"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, "out of range"
	}
	return Duration{d}, ""
}

// Endpoint is a flow's source or destination.
type Endpoint struct {
	VMID    int          // a guest, when non-zero
	Keyword string       // any, guests, host, management or nodes
	Prefix  netip.Prefix // an address (as a full-length prefix) or network
}

var endpointKeywords = []string{"any", "guests", "host", "management", "nodes"}

func (e Endpoint) String() string {
	switch {
	case e.VMID != 0:
		return strconv.Itoa(e.VMID)
	case e.Keyword != "":
		return e.Keyword
	case e.Prefix.IsSingleIP():
		return e.Prefix.Addr().String()
	default:
		return e.Prefix.String()
	}
}

func (d *decoder) endpoint(n *node, v reflect.Value) {
	var e Endpoint
	switch n.kind {
	case kindNumber:
		lit := d.t.text(n)
		i, ok := parseInteger(lit)
		if !ok || i < 100 || i > 999999999 {
			d.errNode(n, "%s is not a VMID (100-999999999)", lit)
			return
		}
		e.VMID = int(i)
	case kindString:
		s, ok := d.str(n)
		if !ok {
			return
		}
		if slices.Contains(endpointKeywords, s) {
			e.Keyword = s
		} else if a, err := parseAddr(s); err == nil {
			e.Prefix = netip.PrefixFrom(a, a.BitLen())
		} else if pf, err := netip.ParsePrefix(s); err == nil && pf.Masked() == pf {
			e.Prefix = pf
		} else if err == nil {
			d.errNode(n, "%q is not a network address (did you mean %q?)", s, pf.Masked().String())
			return
		} else {
			d.errNode(n, "%q is not %s%s", s, formats["endpoint"].what, didYouMean(s, endpointKeywords))
			return
		}
	default:
		d.typeErr(n, "a VMID or a string")
		return
	}
	v.Set(reflect.ValueOf(e))
}

// applyDefaults sets fields that have a default tag.
func applyDefaults(v reflect.Value, si *structInfo) {
	for _, f := range si.fields {
		if !f.hasDef {
			continue
		}
		setDefault(v.Field(f.index), f)
	}
}

// setDefault sets a field to its default tag, if it has one.
func setDefault(fv reflect.Value, f *fieldInfo) {
	if !f.hasDef {
		return
	}
	switch fv.Kind() {
	case reflect.Bool:
		fv.SetBool(f.def == "true")
	case reflect.Int:
		fv.SetInt(mustInt(f.def))
	case reflect.String:
		fv.SetString(f.def)
	default:
		panic("site: default on unsupported field " + f.name)
	}
}

func (d *decoder) object(n *node, v reflect.Value) {
	if n.kind != kindObject {
		d.typeErr(n, "an object")
		return
	}
	si := infoOf(v.Type())
	applyDefaults(v, si)
	var seen uint64
	var suggested map[string]bool
	mems := d.t.kids(n)
	for i := range mems {
		m := &mems[i]
		key, val := d.t.key(m), d.t.val(m)
		f := si.byKey[key]
		if f != nil {
			seen |= 1 << uint(f.pos)
			d.push(key)
			d.value(val, v.Field(f.index), f)
			d.pop()
			continue
		}
		d.push(key)
		if s := d.unknownKey(n, m, key, val, v, si); s != "" {
			if suggested == nil {
				suggested = map[string]bool{}
			}
			suggested[s] = true
		}
		d.pop()
	}
	var missing []string
	for i, f := range si.fields {
		if f.required && seen&(1<<uint(i)) == 0 && !suggested[f.name] {
			missing = append(missing, strconv.Quote(f.name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		d.errNode(n, "missing required key %s", missing[0])
	default:
		d.errNode(n, "missing required keys %s", strings.Join(missing, ", "))
	}
	if c, ok := v.Addr().Interface().(checker); ok {
		c.check(&structCtx{d: d, si: si, seen: seen})
	}
}

// unknownKey reports a key the struct does not have, and returns the key
// it suggested instead, if any.
func (d *decoder) unknownKey(n *node, m *member, key string, val *node, v reflect.Value, si *structInfo) string {
	if n == d.root && key == "$schema" {
		if val.kind != kindString {
			d.typeErr(val, "a string")
		}
		return ""
	}
	if u, ok := v.Addr().Interface().(unsupportedKeyer); ok {
		if msg := u.unsupportedKey(key); msg != "" {
			d.errKey(m, "%s", msg)
			return ""
		}
	}
	s := suggest.Closest(key, si.keys)
	if s != "" {
		d.errKey(m, "unknown key (did you mean %q?)", s)
	} else {
		d.errKey(m, "unknown key")
	}
	return s
}

func isScalar(t reflect.Type) bool {
	switch t {
	case addrType, prefixType, endpointType:
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Int:
		return true
	}
	return false
}

// didYouMean renders " (did you mean "x"?)" when a candidate is close.
func didYouMean(s string, candidates []string) string {
	if c := suggest.Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
