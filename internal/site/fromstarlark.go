package site

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.starlark.net/starlark"
)

// Decoding of Starlark values into the typed records, by the decoder of
// the files: a struct, a dict or a Value are the same at every level,
// unknown keys, wrong types, bad formats and ranges are errors named by
// their path, defaults are filled in and each record's own checks run.

// Known, when set, is asked about a value that is not of the wanted type;
// a non-nil error replaces the type error (a plan's unknown values).
type Known func(v starlark.Value) error

// Decode reads v into dst, a pointer to a record type (*LXC, *VM,
// *MountPoint...). root names v in errors, e.g. "spec". A Value of the
// same type is copied as it is.
func Decode(v starlark.Value, dst any, root string, known Known) error {
	d := newScriptDecoder(root, known)
	d.object(v, reflect.ValueOf(dst).Elem(), true)
	return scriptErrors(d.ps)
}

// DecodeField reads v into the field of dst (a pointer to a record) that
// the files call key, replacing it whole: an override. Errors name key.
// Check the whole record once the overrides are in.
func DecodeField(dst any, key string, v starlark.Value, known Known) error {
	rv := reflect.ValueOf(dst).Elem()
	si := infoOf(rv.Type())
	d := newScriptDecoder(key, known)
	f := si.byKey[key]
	switch {
	case f != nil:
		fv := rv.Field(f.index)
		fv.Set(reflect.Zero(fv.Type()))
		switch {
		case v != starlark.None:
			d.value(v, fv, f)
		case f.required:
			d.errVal(v, "must not be None: the key is required")
		default:
			setDefault(fv, f) // None is an absent key
		}
	case key == "vmid" && derived(si, key) != nil:
		d.vmid(v, rv.Field(derived(si, key).index))
	default:
		return fmt.Errorf("%s: no such field", key)
	}
	return scriptErrors(d.ps)
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
	d := newScriptDecoder(root, nil)
	c.check(&structCtx{d: d, si: si, seen: seen})
	return scriptErrors(d.ps)
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

func newScriptDecoder(root string, known Known) *decoder[starlark.Value] {
	d := &decoder[starlark.Value]{src: starSource{}, words: starWords, ps: &problems{}, script: true, known: known}
	d.push(root)
	return d
}

// scriptErrors is a spec's problems as Errors, each once.
func scriptErrors(ps *problems) error {
	if len(ps.list) == 0 {
		return nil
	}
	out := make(Errors, 0, len(ps.list))
	seen := map[string]bool{}
	for _, p := range ps.list {
		e := &Error{Path: p.p.String(), Msg: p.msg}
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// starSource is the decoder's source for Starlark values.
type starSource struct{}

var _ source[starlark.Value] = starSource{}

// str: a Starlark string may hold any character.
func (starSource) str(v starlark.Value) (string, bool, bool) {
	s, ok := v.(starlark.String)
	return string(s), false, ok
}

func (starSource) integer(v starlark.Value) (int64, string, string, bool) {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0, "", "", false
	}
	n, exact := i.Int64()
	if !exact {
		return 0, i.String(), i.String() + " is out of range", true
	}
	return n, i.String(), "", true
}

func (starSource) boolean(v starlark.Value) (bool, bool) {
	b, ok := v.(starlark.Bool)
	return bool(b), ok
}

func (starSource) items(v starlark.Value) (int, bool) {
	seq, ok := v.(starlark.Indexable)
	if _, isStr := v.(starlark.String); !ok || isStr {
		return 0, false
	}
	return seq.Len(), true
}

func (starSource) item(v starlark.Value, i int) starlark.Value {
	return v.(starlark.Indexable).Index(i)
}

// entries: a dict's items, or a struct's attributes other than methods.
func (starSource) entries(v starlark.Value, dict bool, buf []entry[starlark.Value]) ([]entry[starlark.Value], bool) {
	switch x := v.(type) {
	case *starlark.Dict: // a dict has attributes too (its methods)
		for _, kv := range x.Items() {
			e := entry[starlark.Value]{val: kv[1], off: -1}
			if k, ok := kv[0].(starlark.String); ok {
				e.key = string(k)
			} else {
				e.badKey = fmt.Sprintf("key %s must be a string, not %s", kv[0], article(kv[0].Type()))
			}
			buf = append(buf, e)
		}
		return buf, true
	case starlark.HasAttrs:
		if dict {
			return buf, false
		}
		for _, name := range x.AttrNames() {
			a, err := x.Attr(name)
			if err != nil || a == nil {
				continue
			}
			if _, isMethod := a.(*starlark.Builtin); isMethod {
				continue
			}
			buf = append(buf, entry[starlark.Value]{key: name, val: a, off: -1})
		}
		return buf, true
	}
	return buf, false
}

func (starSource) record(v starlark.Value) (reflect.Value, bool) {
	if r, ok := v.(*Value); ok {
		return r.v, true
	}
	return reflect.Value{}, false
}

func (starSource) null(v starlark.Value) bool       { return v == starlark.None }
func (starSource) typeName(v starlark.Value) string { return v.Type() }
func (starSource) off(starlark.Value) int           { return -1 }

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
