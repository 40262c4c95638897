package runtime

import (
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
