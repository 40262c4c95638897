package cli

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"phoenix/builtins"
	"phoenix/internal/lint"
)

func init() { register("doc", docCmd) }

// docCmd is `phoenix doc [MODULE[.FUNCTION]]`: the builtin reference
// from the one registry (builtins.Docs, builtins.Funcs) help() reads.
func docCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("doc", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: phoenix doc [MODULE[.FUNCTION]]\n\nWithout an argument, the modules and globals; with a module, its\ndocumentation and functions; with a function, its signature, parameters\n(types and defaults) and description.\n")
	}
	if err := fs.Parse(args); err != nil {
		return flagError(stderr, "doc", err)
	}
	switch fs.NArg() {
	case 0:
		fmt.Fprint(stdout, docIndex())
		return ExitOK
	case 1:
	default:
		fs.Usage()
		return ExitUsage
	}
	name := fs.Arg(0)
	if text, ok := builtins.Docs[name]; ok {
		fmt.Fprintln(stdout, text)
		return ExitOK
	}
	// A namespace without its own prose (param): its members' entries.
	if members := sortedDocKeys(name + "."); len(members) > 0 {
		for i, k := range members {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintln(stdout, builtins.Docs[k])
		}
		return ExitOK
	}
	fmt.Fprintf(stderr, "phoenix doc: no builtin %q%s\n", name, lint.DidYouMean(name, docNames()))
	return ExitError
}

func docIndex() string {
	var b strings.Builder
	b.WriteString("Modules (phoenix doc MODULE):\n")
	var globals []string
	for _, k := range docNames() {
		if _, isFunc := builtins.Funcs[k]; isFunc {
			ns, _, dotted := strings.Cut(k, ".")
			if _, isModule := builtins.Docs[ns]; !dotted || !isModule && !slices.Contains(globals, ns) {
				globals = append(globals, ns)
			}
			continue
		}
		sum, _, _ := strings.Cut(builtins.Docs[k], "\n\n")
		fmt.Fprintf(&b, "  %-10s %s\n", k, strings.Join(strings.Fields(sum), " "))
	}
	fmt.Fprintf(&b, "\nGlobals (phoenix doc NAME): %s\n", strings.Join(globals, ", "))
	b.WriteString("\nphoenix doc MODULE.FUNCTION prints a function's parameters, their types and\ndefaults, and its description.\n")
	return b.String()
}

func docNames() []string {
	names := make([]string, 0, len(builtins.Docs))
	for k := range builtins.Docs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func sortedDocKeys(prefix string) []string {
	var out []string
	for _, k := range docNames() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}
