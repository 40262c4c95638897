package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"phoenix/runtime"
)

func init() {
	register("completion", completionCmd)
	register("__complete", completeCmd)
}

const completionUsage = `usage: phoenix completion bash|zsh|fish

Prints the shell completion script: subcommands, their flags, builtin
names for phoenix doc, and the parameters the script named on the command
line declares. For example:

  source <(phoenix completion bash)          # ~/.bashrc
  phoenix completion zsh > "${fpath[1]}/_phoenix"
  phoenix completion fish > ~/.config/fish/completions/phoenix.fish
`

// The scripts ask the hidden `phoenix __complete WORDS... CURRENT`, which
// prints one candidate a line, or nothing where a file name belongs.
var completionScripts = map[string]string{
	"bash": `# bash completion for phoenix
_phoenix() {
    local IFS=$'\n'
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=($(compgen -W "$(phoenix __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "$cur"))
}
complete -o default -F _phoenix phoenix
`,
	"zsh": `#compdef phoenix
# zsh completion for phoenix
_phoenix() {
    local -a out
    out=("${(@f)$(phoenix __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    if [[ -z "${out[*]}" ]]; then
        _files
    else
        compadd -a out
    fi
}
compdef _phoenix phoenix
`,
	"fish": `# fish completion for phoenix
function __phoenix_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (phoenix __complete $words[2..-1] 2>/dev/null)
    if test (count $out) -eq 0
        __fish_complete_path (commandline -ct)
    else
        printf '%s\n' $out
    end
end
complete -c phoenix -f -a '(__phoenix_complete)'
`,
}

func completionCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, completionUsage)
		return ExitOK
	}
	if len(args) != 1 || completionScripts[args[0]] == "" {
		fmt.Fprint(stderr, completionUsage)
		return ExitUsage
	}
	fmt.Fprint(stdout, completionScripts[args[0]])
	return ExitOK
}

// completeCmd prints the candidates for the last word, given the words
// before it (without "phoenix").
func completeCmd(args []string, _ io.Reader, stdout, _ io.Writer) int {
	if len(args) == 0 {
		args = []string{""}
	}
	words, cur := args[:len(args)-1], args[len(args)-1]
	for _, c := range candidates(words, cur) {
		if strings.HasPrefix(c, cur) {
			fmt.Fprintln(stdout, c)
		}
	}
	return ExitOK
}

func subcommands() []string {
	names := []string{"exec", "plan", "version", "help"}
	for name := range commands {
		if !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func candidates(words []string, cur string) []string {
	if len(words) == 0 {
		return subcommands()
	}
	sub, rest := words[0], words[1:]
	switch sub {
	case "completion":
		return []string{"bash", "zsh", "fish"}
	case "doc":
		return docNames()
	case "help", "version":
		return nil
	}
	flags := commandFlags(sub)
	if len(rest) > 0 {
		if f, ok := flags["--"+strings.TrimLeft(rest[len(rest)-1], "-")]; ok && f && !strings.Contains(rest[len(rest)-1], "=") {
			return nil // the flag's value: a file, a URL, a name
		}
	}
	// exec and plan: after SCRIPT, the script's own parameters.
	if sub == "exec" || sub == "plan" {
		if script := scriptWord(rest, flags); script != "" {
			if !strings.HasPrefix(cur, "-") {
				return nil
			}
			decls, err := runtime.DeclaredParams(script)
			if err != nil {
				return nil
			}
			out := []string{"--help"}
			for _, p := range decls {
				out = append(out, "--"+strings.ReplaceAll(p.Name, "_", "-"))
			}
			return out
		}
	}
	if strings.HasPrefix(cur, "-") {
		var out []string
		for name := range flags {
			out = append(out, name)
		}
		sort.Strings(out)
		return out
	}
	if sub == "sim" || sub == "ca" {
		if len(rest) == 0 {
			return []string{"serve"}
		}
	}
	return nil
}

// scriptWord is the first argument that is not a flag or a flag's value.
func scriptWord(rest []string, flags map[string]bool) string {
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if !strings.HasPrefix(w, "-") {
			if _, err := os.Stat(w); err == nil {
				return w
			}
			return ""
		}
		if takesValue, ok := flags[w]; ok && takesValue {
			i++
		}
	}
	return ""
}

var flagLine = regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[\w-]+)(?: (\w+))?`)

// commandFlags reads a command's flags from its own -h text, so a command
// added later completes with no change here: flag -> takes a value.
func commandFlags(sub string) map[string]bool {
	var out, errb bytes.Buffer
	switch sub {
	case "exec":
		runScript([]string{"-h"}, false, &out, &errb)
	case "plan":
		runScript([]string{"-h"}, true, &out, &errb)
	default:
		c, ok := commands[sub]
		if !ok {
			return nil
		}
		c([]string{"-h"}, nil, &out, &errb)
	}
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(out.String()+errb.String(), -1) {
		flags[m[1]] = m[2] != ""
	}
	return flags
}
