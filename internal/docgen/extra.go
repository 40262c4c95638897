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
//	param.path(default: str|None = None, help: str = "", exists: bool = False) - a parameter declaration for params(); a clean absolute site path, checked before the script runs (exists=True: it must exist)
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

// One site script running another as a step of the same run.
//
// It is defined in runtime/runscript.go. Paths are relative to the
// directory of the script that calls.
//
//	run(path: str, **params: any) - struct(script, changed, unchanged, failed_checks) of the script's run
//	    Runs the script at path once, to its end, with params as its declared parameters: a keyword it does not declare, or a value of another type than its params() declares, is an error naming the script and the parameter; None keeps the default. It shares this run's backends, root, mode and planned state, so a plan sees what earlier steps would have done; its changes, checks and printed output join the caller's summary where the call is. A script that fails fails the call with its own backtrace. Inside parallel() each step may run a script with its own parameters.
//	glob(pattern: str) - sorted list of the script paths matching pattern, as run() takes them
//	    Wildcards as in a shell (*, ?, [...]); e.g. glob("check_*.star").
//
// A script that runs itself, directly or through others, is an error
// naming the cycle. scripts/site.star and scripts/checks/all.star are
// built from these.
var scriptsModule = extra{Name: "scripts"}

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

// Assertions for tests (stdlib/assert.star).
//
// Load it with load("@stdlib//assert.star", "assert"). A failed assertion
// fails the calling test (or script) with what was got and what was
// wanted; phoenix test runs the tests.
//
//	eq(got: any, want: any, msg: str = "") - None; fails unless got == want
//	ne(got: any, unwanted: any, msg: str = "") - None; fails if got == unwanted
//	true(cond: any, msg: str = "expected true") - None; fails unless cond is truthy
//	contains(seq: list|dict|str, item: any, msg: str = "") - None; fails unless item is in seq
//	fails(fn: callable, pattern: str) - None; fails unless fn() fails with a matching error
//	    Calls fn with no arguments. Its error message must match the regexp pattern, or contain pattern literally.
//	changes(plan: struct, want: list) - None; fails unless the plan's changes are exactly want
//	    plan is what testing.plan or testing.exec returns; want is a list of (resource, action) pairs in order, e.g. [("file:/etc/motd", "create")].
var assertModule = extra{Name: "assert"}

// The test runner's module, seen only by *_test.star files under phoenix test.
//
// Each test_* function runs in a fresh --sim run: the Proxmox VE and ZFS
// simulators, a temporary root and a recording command runner. Script
// paths are relative to the test file.
//
//	exec(script: str, **params: any) - struct(changes, changed, checks) of the applied run
//	    Runs script for real against this test's simulators; a second call on converged state reports changed == 0. params are the script's declared parameters.
//	plan(script: str, **params: any) - struct(changes, changed, checks) of a dry run
//	    Runs script with --dry-run: reads happen, nothing changes. changes is a list of struct(resource, action, detail); checks a list of struct(name, target, status, detail).
//	on(prefix: list, stdout: str = "", stderr: str = "", exit_code: int = 0) - None
//	    Scripts the command runner: a later command whose argv starts with prefix gets this result. The last matching call wins.
//	commands(prefix: list = []) - list of the commands run so far whose argv starts with prefix, each a list of strings
//	root() - str; the host directory standing for / in this test
var testingModule = extra{Name: "testing"}

// The generator finds the extras by parsing this file; the references keep
// them from looking unused.
var _ = []extra{runtimeGlobals, scriptsModule, jsonModule, assertModule, testingModule}
