package runtime

import (
	"maps"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
)

// stdlibPredeclared adds what only the embedded stdlib sees: helpers its
// Starlark cannot write itself (assert.fails matches a regexp).
func stdlibPredeclared(key string, pre starlark.StringDict) starlark.StringDict {
	if !strings.HasPrefix(key, stdlibPrefix) {
		return pre
	}
	d := maps.Clone(pre)
	d["re_search"] = starlark.NewBuiltin("re_search", reSearch)
	return d
}

// re_search(pattern, s) reports whether the regexp matches part of s.
func reSearch(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "s", &s); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, errorf(b, "%v", err)
	}
	return starlark.Bool(re.MatchString(s)), nil
}
