// Package stdlib embeds the Starlark library that scripts reach as
// load("@stdlib//name.star", ...).
package stdlib

import "embed"

// FS holds the library's .star files.
//
//go:embed *.star
var FS embed.FS
