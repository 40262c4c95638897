package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"
)

// TextWidth is the widest text output gets on a terminal: a detail longer
// than its column's share is cut with "…" (--output json has it whole).
// Output to a pipe or file is not cut, so that it can be searched.
const TextWidth = 120

// terminalWidth is the width to keep to on w: its terminal's, between 80
// and TextWidth; 0 when w is not a terminal.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return min(max(int(ws.Col), 80), TextWidth)
}

// actionOrder is how the summary by action lists them.
var actionOrder = []string{"create", "update", "replace", "delete", "restart", "reload", "run"}

// WriteText prints the report as a change table, the summary by action,
// the line "N changed, M unchanged" and the health-check table; on a
// terminal, it fits its width.
func (r *Report) WriteText(w io.Writer, dryRun bool) error {
	return r.WriteTextWidth(w, dryRun, terminalWidth(w))
}

// WriteTextWidth is WriteText keeping to width columns (0: no limit).
func (r *Report) WriteTextWidth(w io.Writer, dryRun bool, width int) error {
	changed, unchanged, failed := r.Counts()
	byAction := r.ByAction()
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Changes) > 0 {
		// Narrow terminals lose the position column; JSON has it.
		withAt := width == 0 || width >= 100
		rows := [][]string{{"STATUS", "ACTION", "RESOURCE", "DETAIL", "AT"}}
		for _, c := range r.Changes {
			status := "applied"
			switch {
			case c.Error != "":
				status = "failed"
			case dryRun:
				status = "planned"
			}
			action := c.Action
			if c.PendingRestart {
				action += " (pending restart)"
			}
			at, res := c.At, c.Resource
			if width > 0 {
				at, res = shortAt(at), clipMiddle(res, width*2/5)
			}
			rows = append(rows, []string{status, action, res, oneLine(c.Detail), at})
		}
		if !withAt {
			for i := range rows {
				rows[i] = rows[i][:4]
			}
		}
		writeRows(tw, rows, 3, width)
		tw.Flush()
	}
	for _, p := range r.Pending {
		fmt.Fprintln(w, clip(fmt.Sprintf("restart pending: %s (%s)", p.Resource, oneLine(p.Detail)), width))
	}
	for _, s := range r.Skipped {
		fmt.Fprintln(w, clip(fmt.Sprintf("skipped: %s: %s", s.Step, oneLine(s.Reason)), width))
	}
	if len(byAction) > 0 {
		var parts []string
		for _, a := range actionOrder {
			if n := byAction[a]; n > 0 {
				if dryRun {
					parts = append(parts, fmt.Sprintf("%d to %s", n, a))
				} else {
					parts = append(parts, fmt.Sprintf("%d %s", n, a))
				}
			}
		}
		if dryRun {
			fmt.Fprintf(w, "Plan: %s.\n", strings.Join(parts, ", "))
		} else {
			fmt.Fprintf(w, "Applied: %s.\n", strings.Join(parts, ", "))
		}
	}
	line := fmt.Sprintf("%d changed, %d unchanged", changed, unchanged)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	if dryRun {
		line += " (plan: nothing was applied)"
	}
	fmt.Fprintln(w, line)
	if len(r.Checks) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{"CHECK", "TARGET", "STATUS", "DETAIL"}}
		for _, c := range r.Checks {
			rows = append(rows, []string{c.Name, c.Target, c.Status, oneLine(c.Detail)})
		}
		writeRows(tw, rows, 3, width)
		return tw.Flush()
	}
	return nil
}

// writeRows writes a table whose column flex (the detail) is cut so that
// the rows fit width, as far as the other columns leave room.
func writeRows(tw *tabwriter.Writer, rows [][]string, flex, width int) {
	if width <= 0 {
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return
	}
	fixed := 0
	for col := range rows[0] {
		if col == flex {
			continue
		}
		wmax := 0
		for _, r := range rows {
			wmax = max(wmax, utf8.RuneCountInString(r[col]))
		}
		fixed += wmax + 2
	}
	room := max(width-fixed, 16)
	for _, r := range rows {
		r[flex] = clip(r[flex], room)
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
}

// clip cuts s to n runes, marking the cut; n <= 0 keeps it whole.
func clip(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// clipMiddle cuts s to n runes in the middle, where long paths differ
// least.
func clipMiddle(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	head := (n - 1) / 2
	return string(rs[:head]) + "…" + string(rs[len(rs)-(n-1-head):])
}

// shortAt is a change's position as file name and line; JSON keeps the
// path as given.
func shortAt(at string) string {
	if i := strings.LastIndex(at, "/"); i >= 0 {
		return at[i+1:]
	}
	return at
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// ByAction counts the changes made (or planned) by action; failed ones
// are not counted.
func (r *Report) ByAction() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, c := range r.Changes {
		if c.Error == "" {
			out[c.Action]++
		}
	}
	return out
}

// RunError is how a failed run appears in JSON: where in the script it
// stopped, when known, and why.
type RunError struct {
	File    string `json:"file,omitempty"`
	Line    int32  `json:"line,omitempty"`
	Column  int32  `json:"column,omitempty"`
	Message string `json:"message"`
	// Backtrace is the Starlark call stack, innermost last.
	Backtrace string `json:"backtrace,omitempty"`
}

// NewRunError describes err, taking the position of the innermost script
// frame of a Starlark error.
func NewRunError(err error) *RunError {
	if err == nil {
		return nil
	}
	re := &RunError{Message: err.Error()}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		re.Message = ee.Msg
		re.Backtrace = ee.Backtrace()
		for i := len(ee.CallStack) - 1; i >= 0; i-- {
			pos := ee.CallStack[i].Pos
			if pos.IsValid() && pos.Filename() != "<builtin>" {
				re.File, re.Line, re.Column = pos.Filename(), pos.Line, pos.Col
				break
			}
		}
	}
	return re
}

type jsonReport struct {
	Changed   int            `json:"changed"`
	Unchanged int            `json:"unchanged"`
	Failed    int            `json:"failed"`
	Actions   map[string]int `json:"actions"`
	Changes   []Change       `json:"changes"`
	Pending   []Pending      `json:"pending"`
	Skipped   []Skipped      `json:"skipped"`
	Checks    []CheckResult  `json:"checks"`
	Error     *RunError      `json:"error,omitempty"`
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error { return r.WriteJSONResult(w, nil) }

// WriteJSONResult prints the report as one JSON object with the error
// that stopped the run, if any, as "error".
func (r *Report) WriteJSONResult(w io.Writer, runErr error) error {
	changed, unchanged, failed := r.Counts()
	actions := r.ByAction()
	r.mu.Lock()
	j := jsonReport{
		Changed: changed, Unchanged: unchanged, Failed: failed, Actions: actions,
		Changes: append([]Change{}, r.Changes...),
		Pending: append([]Pending{}, r.Pending...),
		Skipped: append([]Skipped{}, r.Skipped...),
		Checks:  append([]CheckResult{}, r.Checks...),
		Error:   NewRunError(runErr),
	}
	r.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}
