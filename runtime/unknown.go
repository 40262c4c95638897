package runtime

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Unknown stands, in a dry run, for a value that only exists after apply
// (a generated fingerprint, a UPID). It prints as such and refuses to be
// branched on, so a plan never takes a path apply would not.
type Unknown struct {
	origin string
	rt     *Runtime
}

var (
	_ starlark.Value     = (*Unknown)(nil)
	_ starlark.HasBinary = (*Unknown)(nil)
	_ starlark.HasAttrs  = (*Unknown)(nil)
)

// NewUnknown makes an unknown value; origin names where it came from,
// e.g. "stepca.init(...).fingerprint at scripts/lxc_103.star:40".
func NewUnknown(thread *starlark.Thread, what string) *Unknown {
	origin := what
	if at := callerPos(thread); at != "" {
		origin += " (" + at + ")"
	}
	return &Unknown{origin: origin, rt: FromThread(thread)}
}

func (u *Unknown) String() string        { return "(known after apply)" }
func (u *Unknown) Type() string          { return "unknown" }
func (u *Unknown) Freeze()               {}
func (u *Unknown) Hash() (uint32, error) { return 0, u.err("used as a key") }
func (u *Unknown) Origin() string        { return u.origin }

func (u *Unknown) err(use string) error {
	return fmt.Errorf("value of %s is not known until apply, but it is %s", u.origin, use)
}

// Truth cannot return an error, so it stops the whole run instead.
func (u *Unknown) Truth() starlark.Bool {
	u.rt.fail(u.err("used in a condition"))
	return starlark.False
}

// Binary keeps unknowns unknown: "x-" + fingerprint is still a plan value.
func (u *Unknown) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	return u, nil
}

func (u *Unknown) Attr(name string) (starlark.Value, error) { return u, nil }
func (u *Unknown) AttrNames() []string                      { return nil }

// Known returns an error if v is, or contains, an unknown value; what
// names the argument for the message.
func Known(v starlark.Value, what string) error {
	if u := findUnknown(v, 0); u != nil {
		return fmt.Errorf("%s: %s", what, u.err("needed as a value"))
	}
	return nil
}

func findUnknown(v starlark.Value, depth int) *Unknown {
	if depth > 8 {
		return nil
	}
	switch v := v.(type) {
	case *Unknown:
		return v
	case starlark.String, starlark.Bytes:
		// Indexable, but only by their own characters.
		return nil
	case starlark.Indexable:
		for i := 0; i < v.Len(); i++ {
			if u := findUnknown(v.Index(i), depth+1); u != nil {
				return u
			}
		}
	case *starlark.Dict:
		for _, kv := range v.Items() {
			if u := findUnknown(kv[1], depth+1); u != nil {
				return u
			}
		}
	}
	return nil
}
