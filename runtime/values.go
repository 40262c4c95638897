package runtime

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Struct is the result struct builtins return (changed, path, ...).
func Struct(fields starlark.StringDict) *starlarkstruct.Struct {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, fields)
}

// Strings converts a Go string slice to a Starlark list.
func Strings(ss []string) *starlark.List {
	out := make([]starlark.Value, len(ss))
	for i, s := range ss {
		out[i] = starlark.String(s)
	}
	return starlark.NewList(out)
}

// StringList reads a builtin's argument that is a list or tuple of
// strings (None for none); errors name fn and arg. A string is refused:
// iterating it would be a list of one-letter names.
func StringList(fn, arg string, v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	if err := Known(v, fn+": "+arg); err != nil {
		return nil, err
	}
	it, ok := v.(starlark.Iterable)
	if _, isStr := v.(starlark.String); !ok || isStr {
		return nil, fmt.Errorf("%s: %s: want a list of strings, got %s", fn, arg, v.Type())
	}
	var out []string
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return nil, fmt.Errorf("%s: %s: want strings, got %s", fn, arg, x.Type())
		}
		out = append(out, s)
	}
	return out, nil
}
