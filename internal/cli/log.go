package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

func init() { register("log", logCmd) }

const logUsage = `usage: phoenix log [--root DIR | --sim] [--since WHEN] [--resource PATTERN] [--run ID] [--output text|json]

Shows the audit journal (/var/log/phoenix/journal.jsonl under the root):
every change an applying run made, written before and after it was
applied, with the time, the script and line, the resource, the action,
the result or error, and the run's id. A change that started and has no
end belongs to a run that was killed while applying it.

flags:
`

func logCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("log", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "directory that stands for / (default /, or ./.phoenix-sim with --sim)")
	sim := fs.Bool("sim", false, "read the simulated host's journal (root ./.phoenix-sim)")
	since := fs.String("since", "", "only entries from WHEN on: a duration back from now (90m, 24h) or a time (2006-01-02, RFC 3339)")
	resource := fs.String("resource", "", "only changes to resources matching PATTERN (a glob such as 'lxc:*', or a substring)")
	run := fs.String("run", "", "only the run with this id")
	output := fs.String("output", "text", "text or json (one entry per line)")
	fs.Usage = func() { fmt.Fprint(stderr, logUsage+fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		return flagError(stderr, "log", err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phoenix log: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "phoenix log: --output: want text or json, got %q\n", *output)
		return ExitUsage
	}
	var from time.Time
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "phoenix log: --since: %v\n", err)
			return ExitUsage
		}
		from = t
	}
	dir := rootDir(*root, *sim)
	r, err := machine.NewRoot(dir)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix log: --root: %v\n", err)
		return ExitError
	}
	host, err := r.Resolve(runtime.JournalPath)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix log: %v\n", err)
		return ExitError
	}
	entries, err := runtime.ReadJournal(host)
	if errors.Is(err, iofs.ErrNotExist) {
		fmt.Fprintf(stderr, "phoenix log: no journal at %s: no run has applied a change under this root\n", host)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "phoenix log: %v\n", err)
		return ExitError
	}
	var out []runtime.JournalEntry
	for _, e := range entries {
		switch {
		case !from.IsZero() && e.Time.Before(from):
		case *run != "" && e.Run != *run:
		case *resource != "" && !matchResource(*resource, e.Resource):
		default:
			out = append(out, e)
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, e := range out {
			enc.Encode(e)
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tRUN\tEVENT\tACTION\tRESOURCE\tAT\tDETAIL")
	for _, e := range out {
		at := e.Script
		if e.Line > 0 {
			at += ":" + strconv.Itoa(e.Line)
		}
		detail := e.Detail
		switch {
		case e.Error != "":
			detail = "error: " + e.Error
		case e.Event == runtime.EventApplied:
			detail = "ok"
		case e.Event == runtime.EventRunStart:
			detail = fmt.Sprintf("PID %d: %s", e.PID, e.Command)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Run, e.Event,
			e.Action, e.Resource, at, strings.ReplaceAll(detail, "\n", "; "))
	}
	tw.Flush()
	return ExitOK
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive duration", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a duration (90m, 24h) or a time (2006-01-02, 2006-01-02 15:04, RFC 3339)", s)
}

// matchResource matches a glob (when the pattern has * or ?; * matches
// across "/" too, so file:/etc/* matches every file under /etc) or a
// substring.
func matchResource(pattern, resource string) bool {
	if resource == "" {
		return false
	}
	if !strings.ContainsAny(pattern, "*?") {
		return strings.Contains(resource, pattern)
	}
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	ok, _ := regexp.MatchString(re, resource)
	return ok
}
