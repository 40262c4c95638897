package runtime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JournalPath is the audit journal, a site path.
const JournalPath = "/var/log/phoenix/journal.jsonl"

// Journal events. A change is written twice: "start" before it is
// applied, then "applied" or "failed". A "start" without its end is a
// change a killed run left unfinished.
const (
	EventRunStart  = "run-start"
	EventRunEnd    = "run-end"
	EventStart     = "start"
	EventApplied   = "applied"
	EventFailed    = "failed"
	EventRecovered = "recovered" // an interrupted run's unfinished changes were reported
)

// JournalEntry is one line of the journal. Details and errors are the
// change's own, in which secrets already show as <secret>.
type JournalEntry struct {
	Time     time.Time `json:"time"`
	Run      string    `json:"run"`
	Event    string    `json:"event"`
	Seq      int       `json:"seq,omitempty"` // the change's number within its run
	Script   string    `json:"script,omitempty"`
	Line     int       `json:"line,omitempty"`
	Resource string    `json:"resource,omitempty"`
	Action   string    `json:"action,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Error    string    `json:"error,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Command  string    `json:"command,omitempty"`
}

type journal struct {
	mu      sync.Mutex
	f       *os.File
	run     string
	seq     int
	host    string
	command string
	started bool // run-start written: a run that changes nothing writes nothing
	cutLine bool // the file ends in a line a crash cut short
}

// Interrupted is a run that left changes started but not finished.
type Interrupted struct {
	Run     JournalEntry   // its run-start entry (Run only, when that line is lost)
	Changes []JournalEntry // the start entries without an end
}

// OpenJournal starts recording this run's applied changes in the root's
// journal. Call it once the site lock is held: it reports the runs a
// crash left unfinished (and marks them reported, so the next run does
// not repeat them). The run's start is written with its first change.
func (rt *Runtime) OpenJournal(command string) ([]Interrupted, error) {
	host, err := rt.Root.Resolve(JournalPath)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// The file is opened for writing only when there is something to
	// write: a converged run leaves it alone.
	var entries []JournalEntry
	endsClean := true
	if f, err := os.Open(host); err == nil {
		entries, endsClean, err = readJournal(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("journal %s: %w", host, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	j := &journal{run: hex.EncodeToString(id), host: host, command: command, cutLine: !endsClean}
	lost := unfinished(entries)
	for _, u := range lost {
		if err := j.write(JournalEntry{Event: EventRecovered, Detail: "unfinished changes of run " + u.Run.Run + " reported", Command: u.Run.Run}); err != nil {
			j.close()
			return nil, err
		}
	}
	rt.mu.Lock()
	rt.journal = j
	rt.mu.Unlock()
	return lost, nil
}

// CloseJournal writes the run's end with its outcome (empty: success).
func (rt *Runtime) CloseJournal(outcome string) {
	rt.mu.Lock()
	j := rt.journal
	rt.journal = nil
	rt.mu.Unlock()
	if j == nil {
		return
	}
	j.mu.Lock()
	if j.started {
		j.writeLocked(JournalEntry{Event: EventRunEnd, Error: outcome})
	}
	j.mu.Unlock()
	j.close()
}

// RunID is the journal's name for this run ("" when not journaled).
func (rt *Runtime) RunID() string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.journal == nil {
		return ""
	}
	return rt.journal.run
}

func (j *journal) write(e JournalEntry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.writeLocked(e)
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

func (j *journal) open() error {
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(j.host)), 0o755); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Mkdir(filepath.Dir(j.host), 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.OpenFile(j.host, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.cutLine {
		// A run killed mid-line: end that fragment so ours stays parseable.
		if _, err := f.Write([]byte("\n")); err != nil {
			f.Close()
			return fmt.Errorf("journal %s: %w", j.host, err)
		}
		j.cutLine = false
	}
	j.f = f
	return nil
}

func (j *journal) writeLocked(e JournalEntry) error {
	if j.f == nil {
		if err := j.open(); err != nil {
			return err
		}
	}
	var b []byte
	if !j.started && e.Event == EventStart {
		// The run's first change: its run-start line goes first, in the
		// same write.
		rs, err := json.Marshal(JournalEntry{Time: time.Now().UTC(), Run: j.run, Event: EventRunStart, PID: os.Getpid(), Command: j.command})
		if err != nil {
			return err
		}
		b = append(rs, '\n')
		j.started = true
	}
	e.Time = time.Now().UTC()
	e.Run = j.run
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, line...)
	// One write of one line with O_APPEND: lines of one writer never
	// interleave, and fsync makes the "start" durable before the change.
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.host, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.host, err)
	}
	return nil
}

// applyChange runs one change's apply between its two journal lines,
// unless the run is stopping.
func (rt *Runtime) applyChange(c *Change, apply func() error) error {
	if err := rt.beginChange(c); err != nil {
		return err
	}
	defer rt.endChange()
	rt.mu.Lock()
	j := rt.journal
	rt.mu.Unlock()
	if j == nil {
		return apply()
	}
	script, line := splitAt(c.At)
	e := JournalEntry{Event: EventStart, Script: script, Line: line, Resource: c.Resource, Action: c.Action, Detail: c.Detail}
	j.mu.Lock()
	j.seq++
	e.Seq = j.seq
	err := j.writeLocked(e)
	j.mu.Unlock()
	if err != nil {
		return fmt.Errorf("not applied: %w", err)
	}
	err = apply()
	e.Event, e.Detail = EventApplied, ""
	if err != nil {
		e.Event, e.Error = EventFailed, err.Error()
	}
	if jerr := j.write(e); jerr != nil && err == nil {
		return fmt.Errorf("applied, but %w", jerr)
	}
	return err
}

func splitAt(at string) (string, int) {
	i := strings.LastIndexByte(at, ':')
	if i < 0 {
		return at, 0
	}
	n, err := strconv.Atoi(at[i+1:])
	if err != nil {
		return at, 0
	}
	return at[:i], n
}

// readJournal parses every whole line; a line a crash cut short is
// skipped. endsClean is false when the file does not end in a newline.
func readJournal(r io.Reader) (entries []JournalEntry, endsClean bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	endsClean = true
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			endsClean = line[len(line)-1] == '\n'
			var e JournalEntry
			if json.Unmarshal(bytes.TrimSpace(line), &e) == nil && e.Event != "" {
				entries = append(entries, e)
			}
		}
		if err == io.EOF {
			return entries, endsClean, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// ReadJournal reads a journal file (phoenix log).
func ReadJournal(path string) ([]JournalEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, _, err := readJournal(f)
	return entries, err
}

// unfinished finds the runs with started changes that never ended, and
// that no later run reported yet.
func unfinished(entries []JournalEntry) []Interrupted {
	type key struct {
		run string
		seq int
	}
	open := map[key]JournalEntry{}
	starts := map[string]JournalEntry{}
	reported := map[string]bool{}
	var order []string
	for _, e := range entries {
		switch e.Event {
		case EventRunStart:
			starts[e.Run] = e
		case EventStart:
			k := key{e.Run, e.Seq}
			if _, seen := open[k]; !seen {
				open[k] = e
				order = append(order, fmt.Sprintf("%s\x00%d", e.Run, e.Seq))
			}
		case EventApplied, EventFailed:
			delete(open, key{e.Run, e.Seq})
		case EventRecovered:
			reported[e.Command] = true
		}
	}
	var out []Interrupted
	idx := map[string]int{}
	for _, o := range order {
		run, seqs, _ := strings.Cut(o, "\x00")
		seq, _ := strconv.Atoi(seqs)
		e, ok := open[key{run, seq}]
		if !ok || reported[run] {
			continue
		}
		i, ok := idx[run]
		if !ok {
			rs, found := starts[run]
			if !found {
				rs = JournalEntry{Run: run}
			}
			i = len(out)
			idx[run] = i
			out = append(out, Interrupted{Run: rs})
		}
		out[i].Changes = append(out[i].Changes, e)
	}
	return out
}

// WriteInterrupted tells the operator what a killed run left unfinished.
func WriteInterrupted(w io.Writer, runs []Interrupted) {
	for _, u := range runs {
		who := "run " + u.Run.Run
		if u.Run.PID > 0 {
			who += fmt.Sprintf(" (PID %d, %s, started %s)", u.Run.PID, u.Run.Command, u.Run.Time.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "warning: %s was interrupted; these changes started but did not finish, check them (this run converges them where it declares them again):\n", who)
		for _, c := range u.Changes {
			at := c.Script
			if c.Line > 0 {
				at += ":" + strconv.Itoa(c.Line)
			}
			fmt.Fprintf(w, "  %s %s %s  %s (started %s)\n", c.Action, c.Resource, oneLine(c.Detail), at, c.Time.Format(time.RFC3339))
		}
	}
}
