// Package docgen generates the builtin reference from the doc comments
// next to the code: docs/builtins.md for readers and
// builtins/docs_generated.go (builtins.Docs) for the REPL's help().
//
// Every builtins/<family>/ package exports `var Module =
// &starlarkstruct.Module{Name: ..., Members: ...}` whose doc comment is
// prose plus an indented block of `name(args) - what it returns` lines.
// The runtime's own globals and the json library are documented the same
// way in extra.go. A module added later needs no change here.
package docgen

//go:generate go run ./cmd -root ../..
