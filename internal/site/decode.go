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

// Strict decoding into the typed structs, of a file's syntax tree and of
// Starlark values alike: unknown keys, wrong types, bad formats and
// ranges each become one problem with its path, and decoding carries on
// so that one run reports everything.

// A source is what the decoder reads: the syntax tree of a file (V is
// *node) or Starlark values (V is starlark.Value). Its readers only say
// whether v is of the kind asked; the decoder holds the rules.
type source[V any] interface {
	// str is a string's value; plain means it cannot hold a control
	// character (a JSON string without escapes).
	str(v V) (s string, plain, ok bool)
	// integer is a whole number's value and how it was written; why says
	// why a number is not an int64 (3.5, 1e30, 2**70).
	integer(v V) (n int64, lit, why string, ok bool)
	boolean(v V) (b, ok bool)
	// items is a list's length, item one of its items.
	items(v V) (n int, ok bool)
	item(v V, i int) V
	// entries appends an object's keys and values to buf; dict asks for a
	// dict (a map's value) rather than any record-like value.
	entries(v V, dict bool, buf []entry[V]) ([]entry[V], bool)
	// record is the typed record v already is (a config.site() value).
	record(v V) (reflect.Value, bool)
	null(v V) bool
	typeName(v V) string // for "must be a string, not a list"
	off(v V) int         // where v is in its file, -1 when unknown
}

// entry is one key of an object and its value.
type entry[V any] struct {
	key    string
	val    V
	off    int    // the key's offset, -1 when unknown
	badKey string // why the key is not one (a dict's non-string key)
}

// words name what a value must be, as the source's language spells it.
type words struct{ boolean, list, dict, record string }

var (
	jsonWords = words{boolean: "true or false", list: "an array", dict: "an object", record: "an object"}
	starWords = words{boolean: "True or False", list: "a list", dict: "a dict", record: "a struct or a dict"}
)

type decoder[V any] struct {
	src   source[V]
	words words
	file  string // "" for a spec written in a script
	ps    *problems
	// script: the values are a spec written in a script, where None is an
	// absent key, a guest has vmid and kind keys, derived keys may stand
	// (config.site() shows them) and a mode may be a number (0o750).
	script bool
	// known, when set, explains a value of the wrong type better than
	// "must be" (a plan's unknown values).
	known func(v V) error
	valid map[[2]string]bool
	buf   []entry[V] // the entries of the objects being decoded
	// stack is the path being decoded. It becomes a *jpath only when a
	// problem is reported: building one per key would cost more than the
	// rest of decoding.
	stack []seg
}

type seg struct {
	key string
	idx int // -1 for an object key
}

func (d *decoder[V]) push(key string) { d.stack = append(d.stack, seg{key, -1}) }
func (d *decoder[V]) pushIdx(i int)   { d.stack = append(d.stack, seg{"", i}) }
func (d *decoder[V]) pop()            { d.stack = d.stack[:len(d.stack)-1] }

// here is the current path.
func (d *decoder[V]) here() *jpath {
	var p *jpath
	for _, s := range d.stack {
		p = &jpath{parent: p, key: s.key, idx: s.idx}
	}
	return p
}

// errAt reports a problem at the current path, at offset off of the file
// (-1: found from the path).
func (d *decoder[V]) errAt(off int, format string, args ...any) {
	d.ps.list = append(d.ps.list, problem{file: d.file, p: d.here(), off: off, msg: fmt.Sprintf(format, args...)})
}

// errVal reports a problem with the value v at the current path.
func (d *decoder[V]) errVal(v V, format string, args ...any) {
	d.errAt(d.src.off(v), format, args...)
}

// err reports a problem whose position is found from its path.
func (d *decoder[V]) err(p *jpath, format string, args ...any) { d.ps.add(d.file, p, format, args...) }

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

// reporter is where a checker's problems go: the decoder, whatever its
// source.
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

// typeErr reports v as not of the wanted type, unless known says more.
func (d *decoder[V]) typeErr(v V, want string) {
	if d.known != nil {
		if err := d.known(v); err != nil {
			d.errVal(v, "%v", err)
			return
		}
	}
	d.errVal(v, "must be %s, not %s", want, article(d.src.typeName(v)))
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

func (d *decoder[V]) value(v V, dst reflect.Value, f *fieldInfo) {
	switch dst.Type() {
	case addrType:
		d.addr(v, dst, f)
		return
	case prefixType:
		d.prefix(v, dst, f)
		return
	case modeType:
		d.mode(v, dst)
		return
	case durationType:
		if s, ok := d.str(v); ok {
			if dur, why := parseDuration(s); why == "" {
				dst.Set(reflect.ValueOf(dur))
			} else {
				d.errVal(v, "%q is not %s: %s", s, formats["duration"].what, why)
			}
		}
		return
	case endpointType:
		d.endpoint(v, dst)
		return
	}
	switch dst.Kind() {
	case reflect.String:
		s, ok := d.str(v)
		if !ok {
			return
		}
		if f != nil && f.enum != nil && !slices.Contains(f.enum, s) {
			d.errVal(v, "%q is not one of %s%s", s, strings.Join(f.enum, ", "), didYouMean(s, f.enum))
			return
		}
		if f != nil && f.format != "" {
			if why := d.checkFormat(f.format, s); why != "" {
				d.errVal(v, "%s", why)
				return
			}
		}
		dst.SetString(s)
	case reflect.Int:
		i, lit, ok := d.integer(v)
		if !ok {
			return
		}
		if why := checkRange(f, i); why != "" {
			d.errVal(v, "%s (got %s)", why, lit)
			return
		}
		dst.SetInt(i)
	case reflect.Bool:
		b, ok := d.src.boolean(v)
		if !ok {
			d.typeErr(v, d.words.boolean)
			return
		}
		dst.SetBool(b)
	case reflect.Slice:
		d.list(v, dst, f)
	case reflect.Map:
		d.dict(v, dst, f)
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		d.value(v, dst.Elem(), f)
	case reflect.Struct:
		d.object(v, dst, false)
	default:
		panic("site: cannot decode into " + dst.Type().String())
	}
}

func (d *decoder[V]) list(v V, dst reflect.Value, f *fieldInfo) {
	n, ok := d.src.items(v)
	if !ok {
		d.typeErr(v, d.words.list)
		return
	}
	if f != nil && f.nonempty && n == 0 {
		d.errVal(v, "must not be empty")
	}
	s := reflect.MakeSlice(dst.Type(), n, n)
	scalar := isScalar(dst.Type().Elem())
	var first map[any]int
	for i := 0; i < n; i++ {
		e := d.src.item(v, i)
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
			d.errVal(e, "repeats [%d]", j)
		} else {
			first[k] = i
		}
		d.pop()
	}
	dst.Set(s)
}

func (d *decoder[V]) dict(v V, dst reflect.Value, f *fieldInfo) {
	base := len(d.buf)
	ents, ok := d.src.entries(v, true, d.buf)
	if !ok {
		d.typeErr(v, d.words.dict)
		return
	}
	d.buf = ents
	defer func() { d.buf = d.buf[:base] }()
	ents = ents[base:]
	if f != nil && f.nonempty && len(ents) == 0 {
		d.errVal(v, "must not be empty")
	}
	m := reflect.MakeMapWithSize(dst.Type(), len(ents))
	et := dst.Type().Elem()
	for i := range ents {
		e := &ents[i]
		if e.badKey != "" {
			d.errVal(v, "%s", e.badKey)
			continue
		}
		d.push(e.key)
		if f != nil && f.keyFormat != "" {
			if why := d.checkFormat(f.keyFormat, e.key); why != "" {
				d.errAt(e.off, "key %s", why)
				d.pop()
				continue
			}
		}
		ev := reflect.New(et).Elem()
		if et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct {
			// A wrong type leaves no half-made entry behind to cause
			// follow-on errors.
			ev.Set(reflect.New(et.Elem()))
			if !d.object(e.val, ev.Elem(), false) {
				d.pop()
				continue
			}
		} else {
			d.value(e.val, ev, f)
		}
		d.pop()
		m.SetMapIndex(reflect.ValueOf(e.key), ev)
	}
	dst.Set(m)
}

// str reads a string that may go anywhere: every string ends up in some
// generated file (dnsmasq, nginx, nft, PVE property strings), where a
// control character could inject lines.
func (d *decoder[V]) str(v V) (string, bool) {
	s, plain, ok := d.src.str(v)
	if !ok {
		d.typeErr(v, "a string")
		return "", false
	}
	if !plain {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f {
				d.errVal(v, "must not contain control characters")
				return "", false
			}
		}
	}
	return s, true
}

// integer reads a whole number, and gives it as it was written.
func (d *decoder[V]) integer(v V) (int64, string, bool) {
	n, lit, why, ok := d.src.integer(v)
	if !ok {
		d.typeErr(v, "an integer")
		return 0, "", false
	}
	if why != "" {
		d.errVal(v, "%s", why)
		return 0, "", false
	}
	return n, lit, true
}

// vmid reads a spec's vmid key.
func (d *decoder[V]) vmid(v V, dst reflect.Value) {
	if n, lit, ok := d.integer(v); ok {
		if n < 100 || n > 999999999 {
			d.errVal(v, "%s is not a VMID (100-999999999)", lit)
			return
		}
		dst.SetInt(n)
	}
}

// checkFormat is checkFormatOf with a memory of valid values: a big site
// repeats its templates, bridges and nodes thousands of times.
func (d *decoder[V]) checkFormat(name, s string) string {
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

func (d *decoder[V]) addr(v V, dst reflect.Value, f *fieldInfo) {
	s, ok := d.str(v)
	if !ok {
		return
	}
	a, err := parseAddr(s)
	want := "ip"
	if f != nil && f.format != "" {
		want = f.format
	}
	if err != nil || (want == "ipv4" && !a.Is4()) {
		d.errVal(v, "%q is not %s", s, formats[want].what)
		return
	}
	dst.Set(reflect.ValueOf(a))
}

func (d *decoder[V]) prefix(v V, dst reflect.Value, f *fieldInfo) {
	s, ok := d.str(v)
	if !ok {
		return
	}
	want := f.format
	pf, err := netip.ParsePrefix(s)
	if err != nil || (want != "cidr" && !pf.Addr().Is4()) {
		d.errVal(v, "%q is not %s", s, formats[want].what)
		return
	}
	if want != "ipv4-prefix" && pf.Masked() != pf {
		d.errVal(v, "%q is not a network address (did you mean %q?)", s, pf.Masked().String())
		return
	}
	dst.Set(reflect.ValueOf(pf))
}

// mode reads a file mode: an octal string, as in the files, or in a
// script also a number (0o750).
func (d *decoder[V]) mode(v V, dst reflect.Value) {
	if d.script {
		if n, lit, why, ok := d.src.integer(v); ok {
			if why != "" || n < 0 || n > 0o7777 {
				d.errVal(v, "%s is not %s", lit, formats["mode"].what)
				return
			}
			dst.Set(reflect.ValueOf(ModeFromOctal(uint64(n))))
			return
		}
	}
	if s, ok := d.str(v); ok {
		if m, ok := parseMode(s); ok {
			dst.Set(reflect.ValueOf(m))
		} else {
			d.errVal(v, "%q is not %s", s, formats["mode"].what)
		}
	}
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

func (d *decoder[V]) endpoint(v V, dst reflect.Value) {
	var e Endpoint
	if n, lit, why, ok := d.src.integer(v); ok {
		if why != "" || n < 100 || n > 999999999 {
			d.errVal(v, "%s is not a VMID (100-999999999)", lit)
			return
		}
		e.VMID = int(n)
	} else if _, _, ok := d.src.str(v); ok {
		s, ok := d.str(v)
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
			d.errVal(v, "%q is not a network address (did you mean %q?)", s, pf.Masked().String())
			return
		} else {
			d.errVal(v, "%q is not %s%s", s, formats["endpoint"].what, didYouMean(s, endpointKeywords))
			return
		}
	} else {
		d.typeErr(v, "a VMID or a string")
		return
	}
	dst.Set(reflect.ValueOf(e))
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

// object decodes a record, and reports whether v was one. top: v is a
// whole file, or a script's whole spec.
func (d *decoder[V]) object(v V, dst reflect.Value, top bool) bool {
	if r, ok := d.src.record(v); ok {
		if r.Type() != dst.Type() {
			d.errVal(v, "must be %s, not %s of the site", recordName(dst.Type()), recordName(r.Type()))
			return false
		}
		dst.Set(deepCopy(r))
		return true
	}
	base := len(d.buf)
	ents, ok := d.src.entries(v, false, d.buf)
	if !ok || d.src.null(v) {
		d.typeErr(v, d.words.record)
		return false
	}
	d.buf = ents
	defer func() { d.buf = d.buf[:base] }()
	ents = ents[base:]
	for i := range ents {
		if ents[i].badKey != "" {
			d.errVal(v, "%s", ents[i].badKey)
			return true
		}
	}
	si := infoOf(dst.Type())
	applyDefaults(dst, si)
	var seen uint64
	var suggested map[string]bool
	hasVMID := false
	for i := range ents {
		e := &ents[i]
		d.push(e.key)
		switch f := si.byKey[e.key]; {
		case f != nil:
			// In a script None is an absent value, as config.site() shows
			// an unset address.
			if !d.script || !d.src.null(e.val) {
				seen |= 1 << uint(f.pos)
				d.value(e.val, dst.Field(f.index), f)
			}
		case d.script && e.key == "vmid" && derived(si, e.key) != nil:
			hasVMID = true
			d.vmid(e.val, dst.Field(derived(si, e.key).index))
		case d.script && e.key == "kind" && isGuest(dst):
			want := dst.Addr().Interface().(guestKinder).guestKind()
			if s, ok := d.str(e.val); ok && s != want {
				d.errVal(e.val, "is %q, but this spec is for %s", s, recordName(dst.Type()))
			}
		case d.script && derived(si, e.key) != nil:
			// Derived (a map entry's name, a host path): recomputed, not read.
		case !d.script && top && e.key == "$schema":
			if _, _, ok := d.src.str(e.val); !ok {
				d.typeErr(e.val, "a string")
			}
		default:
			if s := d.unknownKey(e, dst, si); s != "" {
				if suggested == nil {
					suggested = map[string]bool{}
				}
				suggested[s] = true
			}
		}
		d.pop()
	}
	var missing []string
	if d.script && top && isGuest(dst) && !hasVMID {
		missing = append(missing, `"vmid"`)
	}
	for i, f := range si.fields {
		if f.required && seen&(1<<uint(i)) == 0 && !suggested[f.name] {
			missing = append(missing, strconv.Quote(f.name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		d.errVal(v, "missing required key %s", missing[0])
	default:
		d.errVal(v, "missing required keys %s", strings.Join(missing, ", "))
	}
	if c, ok := dst.Addr().Interface().(checker); ok {
		c.check(&structCtx{d: d, si: si, seen: seen})
	}
	return true
}

// unknownKey reports a key the struct does not have, and returns the key
// it suggested instead, if any.
func (d *decoder[V]) unknownKey(e *entry[V], dst reflect.Value, si *structInfo) string {
	if u, ok := dst.Addr().Interface().(unsupportedKeyer); ok {
		if msg := u.unsupportedKey(e.key); msg != "" {
			d.errAt(e.off, "%s", msg)
			return ""
		}
	}
	s := suggest.Closest(e.key, si.keys)
	if s != "" {
		d.errAt(e.off, "unknown key (did you mean %q?)", s)
	} else {
		d.errAt(e.off, "unknown key")
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
