package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText prints the report as a change table, the summary line and the
// health-check table.
func (r *Report) WriteText(w io.Writer, dryRun bool) error {
	changed, unchanged, failed := r.Counts()
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Changes) > 0 {
		fmt.Fprintln(tw, "STATUS\tACTION\tRESOURCE\tDETAIL\tAT")
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", status, action, c.Resource, oneLine(c.Detail), c.At)
		}
		tw.Flush()
	}
	for _, p := range r.Pending {
		fmt.Fprintf(w, "restart pending: %s (%s)\n", p.Resource, oneLine(p.Detail))
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped: %s: %s\n", s.Step, s.Reason)
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
		fmt.Fprintln(tw, "CHECK\tTARGET\tSTATUS\tDETAIL")
		for _, c := range r.Checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Target, c.Status, oneLine(c.Detail))
		}
		return tw.Flush()
	}
	return nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

type jsonReport struct {
	Changed   int           `json:"changed"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	Changes   []Change      `json:"changes"`
	Pending   []Pending     `json:"pending"`
	Skipped   []Skipped     `json:"skipped"`
	Checks    []CheckResult `json:"checks"`
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	changed, unchanged, failed := r.Counts()
	r.mu.Lock()
	j := jsonReport{
		Changed: changed, Unchanged: unchanged, Failed: failed,
		Changes: append([]Change{}, r.Changes...),
		Pending: append([]Pending{}, r.Pending...),
		Skipped: append([]Skipped{}, r.Skipped...),
		Checks:  append([]CheckResult{}, r.Checks...),
	}
	r.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}
