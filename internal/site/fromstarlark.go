package site

import (
	"fmt"
	"net/netip"
	"phoenix/internal/suggest"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// Decoding of Starlark values into the typed records, with the rules of
// the JSON decoder: a struct, a dict or a Value are the same at every
// level, unknown keys, wrong types, bad formats and ranges are errors named
// by their path, defaults are filled in and each record's own checks run.

// Known, when set, is asked about a value that is not of the wanted type;
// a non-nil error replaces the type error (a plan's unknown values).
type Known func(v starlark.Value) error

// Decode reads v into dst, a pointer to a record type (*LXC, *VM,
// *MountPoint...). root names v in errors, e.g. "spec". A Value of the
// same type is copied as it is.
func Decode(v starlark.Value, dst any, root string, known Known) error {
	d := &sdecoder{ps: &problems{}, known: known}
	d.push(root)
	d.object(v, reflect.ValueOf(dst).Elem(), true)
	return d.result()
}

// DecodeField reads v into the field of dst (a pointer to a record) that
// the files call key, replacing it whole: an override. Errors name key.
// Check the whole record once the overrides are in.
func DecodeField(dst any, key string, v starlark.Value, known Known) error {
	rv := reflect.ValueOf(dst).Elem()
	si := infoOf(rv.Type())
	d := &sdecoder{ps: &problems{}, known: known}
	d.push(key)
	f := si.byKey[key]
	switch {
	case f != nil:
		fv := rv.Field(f.index)
		fv.Set(reflect.Zero(fv.Type()))
		switch {
		case v != starlark.None:
			d.value(v, fv, f)
		case f.required:
			d.errf("must not be None: the key is required")
		default:
			setDefault(fv, f) // None is an absent key
		}
	case key == "vmid" && derived(si, key) != nil:
		d.vmid(v, rv.Field(derived(si, key).index))
	default:
		return fmt.Errorf("%s: no such field", key)
	}
	return d.result()
}

// Check runs the rules of dst's record type that span its fields (such as
// keyctl only for unprivileged containers) on the whole record, after
// overrides; root names dst in errors.
func Check(dst any, root string) error {
	rv := reflect.ValueOf(dst).Elem()
	c, ok := rv.Addr().Interface().(checker)
	if !ok {
		return nil
	}
	si := infoOf(rv.Type())
	var seen uint64
	for _, f := range si.fields {
		if !rv.Field(f.index).IsZero() {
			seen |= 1 << uint(f.pos)
		}
	}
	d := &sdecoder{ps: &problems{}}
	d.push(root)
	c.check(&structCtx{d: d, si: si, seen: seen})
	return d.result()
}

// FieldNames lists the keys of a record type, as the files spell them,
// with vmid for a guest.
func FieldNames(rec any) []string {
	si := infoOf(reflect.TypeOf(rec).Elem())
	names := slices.Clone(si.keys)
	if derived(si, "vmid") != nil {
		names = append([]string{"vmid"}, names...)
	}
	return names
}

func derived(si *structInfo, name string) *fieldInfo {
	for _, f := range si.derived {
		if f.name == name {
			return f
		}
	}
	return nil
}

// guestKinder is implemented by the guest records, which also accept the
// kind key of config.site()'s guests.
type guestKinder interface{ guestKind() string }

func (*LXC) guestKind() string { return "lxc" }
func (*VM) guestKind() string  { return "vm" }

type sdecoder struct {
	ps    *problems
	known Known
	stack []seg
}

func (d *sdecoder) push(key string) { d.stack = append(d.stack, seg{key, -1}) }
func (d *sdecoder) pushIdx(i int)   { d.stack = append(d.stack, seg{"", i}) }
func (d *sdecoder) pop()            { d.stack = d.stack[:len(d.stack)-1] }

func (d *sdecoder) here() *jpath {
	var p *jpath
	for _, s := range d.stack {
		p = &jpath{parent: p, key: s.key, idx: s.idx}
	}
	return p
}

func (d *sdecoder) err(p *jpath, format string, args ...any) {
	d.ps.add("", p, format, args...)
}

func (d *sdecoder) errf(format string, args ...any) { d.err(d.here(), format, args...) }

func (d *sdecoder) result() error {
	if len(d.ps.list) == 0 {
		return nil
	}
	out := make(Errors, 0, len(d.ps.list))
	seen := map[string]bool{}
	for _, p := range d.ps.list {
		e := &Error{Path: p.p.String(), Msg: p.msg}
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// typeErr reports v as not of the wanted type, unless known says more.
func (d *sdecoder) typeErr(v starlark.Value, want string) {
	if d.known != nil {
		if err := d.known(v); err != nil {
			d.errf("%v", err)
			return
		}
	}
	d.errf("must be %s, not %s", want, article(v.Type()))
}

func (d *sdecoder) str(v starlark.Value) (string, bool) {
	s, ok := v.(starlark.String)
	if !ok {
		d.typeErr(v, "a string")
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			d.errf("must not contain control characters")
			return "", false
		}
	}
	return string(s), true
}

func (d *sdecoder) integer(v starlark.Value) (int64, bool) {
	i, ok := v.(starlark.Int)
	if !ok {
		d.typeErr(v, "an integer")
		return 0, false
	}
	n, exact := i.Int64()
	if !exact {
		d.errf("%s is out of range", i)
		return 0, false
	}
	return n, true
}

func (d *sdecoder) vmid(v starlark.Value, dst reflect.Value) {
	if n, ok := d.integer(v); ok {
		if n < 100 || n > 999999999 {
			d.errf("%d is not a VMID (100-999999999)", n)
			return
		}
		dst.SetInt(n)
	}
}

func (d *sdecoder) value(v starlark.Value, dst reflect.Value, f *fieldInfo) {
	switch dst.Type() {
	case addrType:
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
			d.errf("%q is not %s", s, formats[want].what)
			return
		}
		dst.Set(reflect.ValueOf(a))
		return
	case prefixType:
		s, ok := d.str(v)
		if !ok {
			return
		}
		want := f.format
		pf, err := netip.ParsePrefix(s)
		if err != nil || (want != "cidr" && !pf.Addr().Is4()) {
			d.errf("%q is not %s", s, formats[want].what)
			return
		}
		if want != "ipv4-prefix" && pf.Masked() != pf {
			d.errf("%q is not a network address (did you mean %q?)", s, pf.Masked().String())
			return
		}
		dst.Set(reflect.ValueOf(pf))
		return
	case modeType:
		// A mode is an octal string, as in the files, or a number (0o750).
		if i, ok := v.(starlark.Int); ok {
			n, exact := i.Uint64()
			if !exact || n > 0o7777 {
				d.errf("%s is not %s", i, formats["mode"].what)
				return
			}
			dst.Set(reflect.ValueOf(ModeFromOctal(n)))
			return
		}
		if s, ok := d.str(v); ok {
			if m, ok := parseMode(s); ok {
				dst.Set(reflect.ValueOf(m))
			} else {
				d.errf("%q is not %s", s, formats["mode"].what)
			}
		}
		return
	case durationType:
		if s, ok := d.str(v); ok {
			if dur, why := parseDuration(s); why == "" {
				dst.Set(reflect.ValueOf(dur))
			} else {
				d.errf("%q is not %s: %s", s, formats["duration"].what, why)
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
			d.errf("%q is not one of %s%s", s, strings.Join(f.enum, ", "), didYouMean(s, f.enum))
			return
		}
		if f != nil && f.format != "" {
			if why := checkFormatOf(f.format, s); why != "" {
				d.errf("%s", why)
				return
			}
		}
		dst.SetString(s)
	case reflect.Int:
		i, ok := d.integer(v)
		if !ok {
			return
		}
		if why := checkRange(f, i); why != "" {
			d.errf("%s (got %d)", why, i)
			return
		}
		dst.SetInt(i)
	case reflect.Bool:
		b, ok := v.(starlark.Bool)
		if !ok {
			d.typeErr(v, "True or False")
			return
		}
		dst.SetBool(bool(b))
	case reflect.Slice:
		seq, ok := v.(starlark.Indexable)
		if _, isStr := v.(starlark.String); !ok || isStr {
			d.typeErr(v, "a list")
			return
		}
		n := seq.Len()
		if f != nil && f.nonempty && n == 0 {
			d.errf("must not be empty")
		}
		s := reflect.MakeSlice(dst.Type(), n, n)
		scalar := isScalar(dst.Type().Elem())
		first := map[any]int{}
		for i := 0; i < n; i++ {
			ev := s.Index(i)
			d.pushIdx(i)
			d.value(seq.Index(i), ev, f)
			if scalar && !ev.IsZero() {
				k := ev.Interface()
				if j, dup := first[k]; dup {
					d.errf("repeats [%d]", j)
				} else {
					first[k] = i
				}
			}
			d.pop()
		}
		dst.Set(s)
	case reflect.Map:
		dict, ok := v.(*starlark.Dict)
		if !ok {
			d.typeErr(v, "a dict")
			return
		}
		if f != nil && f.nonempty && dict.Len() == 0 {
			d.errf("must not be empty")
		}
		m := reflect.MakeMapWithSize(dst.Type(), dict.Len())
		et := dst.Type().Elem()
		for _, kv := range dict.Items() {
			key, ok := kv[0].(starlark.String)
			if !ok {
				d.errf("key %s must be a string, not %s", kv[0], article(kv[0].Type()))
				continue
			}
			d.push(string(key))
			if f != nil && f.keyFormat != "" {
				if why := checkFormatOf(f.keyFormat, string(key)); why != "" {
					d.errf("key %s", why)
					d.pop()
					continue
				}
			}
			ev := reflect.New(et).Elem()
			d.value(kv[1], ev, f)
			d.pop()
			m.SetMapIndex(reflect.ValueOf(string(key)), ev)
		}
		dst.Set(m)
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

func (d *sdecoder) endpoint(v starlark.Value, dst reflect.Value) {
	var e Endpoint
	switch x := v.(type) {
	case starlark.Int:
		n, ok := x.Int64()
		if !ok || n < 100 || n > 999999999 {
			d.errf("%s is not a VMID (100-999999999)", x)
			return
		}
		e.VMID = int(n)
	case starlark.String:
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
		} else {
			d.errf("%q is not %s%s", s, formats["endpoint"].what, didYouMean(s, endpointKeywords))
			return
		}
	default:
		d.typeErr(v, "a VMID or a string")
		return
	}
	dst.Set(reflect.ValueOf(e))
}

// fields lists a struct's or dict's keys and values; ok is false for
// anything else.
func fields(v starlark.Value) (keys []string, vals []starlark.Value, bad starlark.Value, ok bool) {
	switch x := v.(type) {
	case *starlark.Dict: // a dict has attributes too (its methods)
		for _, kv := range x.Items() {
			k, isStr := kv[0].(starlark.String)
			if !isStr {
				return nil, nil, kv[0], true
			}
			keys = append(keys, string(k))
			vals = append(vals, kv[1])
		}
		return keys, vals, nil, true
	case starlark.HasAttrs:
		for _, name := range x.AttrNames() {
			a, err := x.Attr(name)
			if err != nil || a == nil {
				continue
			}
			if _, isMethod := a.(*starlark.Builtin); isMethod {
				continue
			}
			keys = append(keys, name)
			vals = append(vals, a)
		}
		return keys, vals, nil, true
	}
	return nil, nil, nil, false
}

func (d *sdecoder) object(v starlark.Value, dst reflect.Value, top bool) {
	if r, ok := v.(*Value); ok {
		if r.v.Type() != dst.Type() {
			d.errf("must be %s, not %s of the site", recordName(dst.Type()), recordName(r.v.Type()))
			return
		}
		dst.Set(deepCopy(r.v))
		return
	}
	keys, vals, bad, ok := fields(v)
	if !ok || v == starlark.None {
		d.typeErr(v, "a struct or a dict")
		return
	}
	if bad != nil {
		d.errf("key %s must be a string, not %s", bad, article(bad.Type()))
		return
	}
	si := infoOf(dst.Type())
	applyDefaults(dst, si)
	var seen uint64
	var suggested map[string]bool
	for i, key := range keys {
		val := vals[i]
		d.push(key)
		f := si.byKey[key]
		switch {
		case f != nil:
			// None is an absent value, as config.site() shows an unset address.
			if val != starlark.None {
				seen |= 1 << uint(f.pos)
				d.value(val, dst.Field(f.index), f)
			}
		case key == "vmid" && derived(si, key) != nil:
			d.vmid(val, dst.Field(derived(si, key).index))
		case key == "kind" && isGuest(dst):
			want := dst.Addr().Interface().(guestKinder).guestKind()
			if s, ok := d.str(val); ok && s != want {
				d.errf("is %q, but this spec is for %s", s, recordName(dst.Type()))
			}
		case derived(si, key) != nil:
			// Derived (a map entry's name, a host path): recomputed, not read.
		default:
			if u, ok := dst.Addr().Interface().(unsupportedKeyer); ok {
				if msg := u.unsupportedKey(key); msg != "" {
					d.errf("%s", msg)
					break
				}
			}
			cands := slices.Clone(si.keys)
			if s := suggest.Closest(key, cands); s != "" {
				d.errf("unknown key (did you mean %q?)", s)
				if suggested == nil {
					suggested = map[string]bool{}
				}
				suggested[s] = true
			} else {
				d.errf("unknown key")
			}
		}
		d.pop()
	}
	var missing []string
	if top && isGuest(dst) && !slices.Contains(keys, "vmid") {
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
		d.errf("missing required key %s", missing[0])
	default:
		d.errf("missing required keys %s", strings.Join(missing, ", "))
	}
	if c, ok := dst.Addr().Interface().(checker); ok {
		c.check(&structCtx{d: d, si: si, seen: seen})
	}
}

// recordName names a record type in messages: "an lxc", "a mountpoint".
func recordName(t reflect.Type) string {
	n := strings.ToLower(t.Name())
	if n == "lxc" {
		return "an lxc"
	}
	return article(n)
}

func isGuest(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(guestKinder)
	return ok
}

// deepCopy copies a record so that changing the copy leaves the shared
// site alone.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if c.Field(i).CanSet() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			c.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	}
	return v
}
