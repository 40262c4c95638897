package docgen

// Names that are not a builtins/<family> package are documented here, in
// the same form as a module's doc comment; the generator reads this file's
// source like a builtin package's: the first paragraph is the summary. An
// extra with Name "" documents top-level globals, keyed by their own names.
type extra struct{ Name string }

// The runtime's own names, seen by every script next to the modules.
//
// They are defined in runtime/predeclared.go.
//
//	params(**declarations: param) - struct of the script's parameter values: the command line's, or the declared defaults
//	param.bool(default: bool = False, help: str = "") - a parameter declaration for params()
//	param.int(default: int|None = None, help: str = "") - a parameter declaration for params()
//	param.string(default: str|None = None, help: str = "") - a parameter declaration for params()
//	param.path(default: str|None = None, help: str = "") - a parameter declaration for params(); a site path
//	parallel(steps: list, max: int = 8) - list of the steps' results, in declaration order
//	task(fn: callable, *args: any, name: str|None = None, needs: list = [], **kwargs: any) - a step for parallel() that runs after the steps it needs
//	    name defaults to fn's name; needs lists the names (or tasks) of the steps this one runs after.
//	struct(**fields: any) - an immutable struct with those fields
//	catch(fn: callable, *args: any, **kwargs: any) - the error message of fn(*args, **kwargs), or None when it succeeded
//
// A script declares its parameters with one top-level params() call, read
// before anything runs; `phoenix exec SCRIPT --help` lists them. Steps of
// parallel() are frozen before they start, so shared mutable state is an
// error instead of a race; a failed step fails the call after every step
// finished, and the steps that need it are skipped.
var runtimeGlobals = extra{Name: ""}

// JSON text to and from Starlark values (go.starlark.net/lib/json).
//
// Encoding turns dicts and structs into objects, lists and tuples into
// arrays; decoding gives dicts and lists.
//
//	encode(x: any) - x as compact JSON text
//	encode_indent(x: any, *, prefix: str = "", indent: str = "\t") - x as indented JSON text
//	decode(x: str, default: any = <unset>) - the Starlark value the JSON text x denotes; default, when given, if x is not valid JSON
//	indent(str: str, *, prefix: str = "", indent: str = "\t") - the JSON text str, indented
var jsonModule = extra{Name: "json"}

// The generator finds the extras by parsing this file; the references keep
// them from looking unused.
var _ = []extra{runtimeGlobals, jsonModule}
