package repl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"strings"
)

// historyKeep is how many lines a session loads; the file is trimmed to
// it when it has grown to twice that.
const historyKeep = 1000

// HistoryPath is where sessions keep their input history:
// $XDG_STATE_HOME/phoenix/history, by default ~/.local/state/phoenix/history.
func HistoryPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		// The XDG spec says to ignore a relative value.
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("history: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "phoenix", "history"), nil
}

// history is the persistent input history. Lines may hold anything the
// operator typed, so the file is 0600 in a 0700 directory.
type history struct {
	f *os.File
}

// openHistory creates the file if needed, tightens its mode, trims it and
// returns the lines to recall, oldest first.
func openHistory(path string) (*history, []string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) >= 2*historyKeep {
		// Rewritten whole, atomically, rather than truncated in place.
		keep := lines[len(lines)-historyKeep:]
		if err := machine.WriteFileAtomic(path, []byte(strings.Join(keep, "\n")+"\n"), 0o600, -1, -1); err != nil {
			return nil, nil, fmt.Errorf("history: %w", err)
		}
	}
	if len(lines) > historyKeep {
		lines = lines[len(lines)-historyKeep:]
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	// A file made by an older session or another tool may be readable by others.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	return &history{f: f}, lines, nil
}

// add appends one line. The history is an append-only log: each entry is
// one write(2) to an O_APPEND file, so concurrent sessions interleave
// whole lines and a crash loses at most the last one.
func (h *history) add(line string) error {
	if h == nil || strings.TrimSpace(line) == "" {
		return nil
	}
	_, err := h.f.Write([]byte(line + "\n"))
	return err
}

func (h *history) close() {
	if h != nil {
		h.f.Close()
	}
}
