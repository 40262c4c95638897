package repl_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

// The terminal tests drive the real binary in a detached tmux session:
// line editing, completion, history and the apply prompt only exist on a
// terminal.
func TestTerminal(t *testing.T) {
	tmux := testkit.Tool(t, "tmux") // the Debian package tmux
	bin := testkit.Phoenix(t)

	t.Run("completion", func(t *testing.T) {
		tm := startTerm(t, tmux, bin, t.TempDir(), t.TempDir())
		tm.waitFor(`(?m)^>>>\s*$`)
		tm.send("sec", "Tab")
		tm.waitFor(`(?m)^>>> secret$`)
		tm.send("C-u", "fs.wr", "Tab")
		tm.waitFor(`(?m)^>>> fs\.write$`)
		tm.send("C-u", "vm = struct(vmid = 103)", "Enter")
		tm.send("vm.v", "Tab")
		tm.waitFor(`(?m)^>>> vm\.vmid$`)
		tm.send("Enter")
		tm.waitFor(`(?m)^103$`)
	})

	t.Run("history", func(t *testing.T) {
		state := t.TempDir()
		first := startTerm(t, tmux, bin, t.TempDir(), state)
		first.waitFor(`(?m)^>>>\s*$`)
		first.send("answer = 40 + 2", "Enter")
		first.waitFor(`(?m)^>>> answer = 40 \+ 2\n>>>\s*$`)
		first.send("C-d")
		first.waitExit()

		hist := filepath.Join(state, "phoenix", "history")
		st, err := os.Stat(hist)
		if err != nil {
			t.Fatalf("no history file: %v", err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("history mode %04o, want 0600", st.Mode().Perm())
		}
		if data, _ := os.ReadFile(hist); !strings.Contains(string(data), "answer = 40 + 2\n") {
			t.Errorf("history file lacks the statement: %q", data)
		}

		second := startTerm(t, tmux, bin, t.TempDir(), state)
		second.waitFor(`(?m)^>>>\s*$`)
		second.send("Up")
		second.waitFor(`(?m)^>>> answer = 40 \+ 2$`)
		second.send("Enter")
		second.send("answer", "Enter")
		second.waitFor(`(?m)^42$`)
	})

	t.Run("apply prompt", func(t *testing.T) {
		root := t.TempDir()
		tm := startTerm(t, tmux, bin, root, t.TempDir())
		tm.waitFor(`(?m)^>>>\s*$`)
		tm.send(`fs.write("/etc/t.conf", "x")`, "Enter")
		tm.waitFor(`(?m)^planned +create +file:/etc/t.conf`)
		tm.waitFor(`(?m)^apply\? \[y/N\]\s*$`)
		tm.send("n", "Enter")
		tm.waitFor(`(?m)^not applied$`)
		if _, err := os.Stat(filepath.Join(root, "etc", "t.conf")); err == nil {
			t.Fatal("refused write was applied")
		}
		// The answer is not history: Up recalls the statement.
		tm.send("Up")
		tm.waitFor(`(?m)^>>> fs\.write\("/etc/t\.conf", "x"\)$`)
		tm.send("Enter")
		tm.waitFor(`(?m)^not applied\n(.*\n)*apply\? \[y/N\]\s*$`)
		tm.send("y", "Enter")
		tm.waitFor(`(?m)^applied +create +file:/etc/t.conf`)
		if data, err := os.ReadFile(filepath.Join(root, "etc", "t.conf")); err != nil || string(data) != "x" {
			t.Fatalf("applied file: %q, %v", data, err)
		}
	})

	t.Run("ctrl-c", func(t *testing.T) {
		tm := startTerm(t, tmux, bin, t.TempDir(), t.TempDir())
		tm.waitFor(`(?m)^>>>\s*$`)
		tm.send("while True: pass", "Enter", "Enter")
		time.Sleep(300 * time.Millisecond)
		tm.send("C-c")
		tm.waitFor(`cancelled: interrupted`)
		tm.send("1 + 1", "Enter")
		tm.waitFor(`(?m)^2$`)
		// Ctrl-C at the prompt drops the line, not the session.
		tm.send("unfinished(", "C-c")
		tm.send("3 * 3", "Enter")
		tm.waitFor(`(?m)^9$`)
	})
}

// term is one phoenix repl in a tmux server of its own, on a private
// socket in a temporary directory, so nothing is left behind.
type term struct {
	t          *testing.T
	tmux, sock string
}

func startTerm(t *testing.T, tmux, bin, root, state string) *term {
	t.Helper()
	// A short directory: a socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "phx-tmux")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tm := &term{t: t, tmux: tmux, sock: filepath.Join(dir, "sock")}
	cmd := fmt.Sprintf("env XDG_STATE_HOME=%s %s repl --sim --root %s", shellQuote(state), shellQuote(bin), shellQuote(root))
	tm.run("new-session", "-d", "-s", "repl", "-x", "120", "-y", "40", cmd)
	t.Cleanup(func() { exec.Command(tmux, "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *term) run(args ...string) string {
	tm.t.Helper()
	c := exec.Command(tm.tmux, append([]string{"-S", tm.sock}, args...)...)
	c.Env = withoutTMUX(os.Environ())
	out, err := c.CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (tm *term) send(keys ...string) {
	tm.t.Helper()
	tm.run(append([]string{"send-keys", "-t", "repl"}, keys...)...)
}

// waitFor polls the screen until re matches it.
func (tm *term) waitFor(re string) {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	var screen string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		screen = strings.TrimRight(tm.run("capture-pane", "-p", "-t", "repl"), "\n")
		if rx.MatchString(screen) {
			return
		}
	}
	tm.t.Fatalf("screen does not match %s:\n%s", re, screen)
}

// waitExit waits for the session to end (its server exits with it).
func (tm *term) waitExit() {
	tm.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		c := exec.Command(tm.tmux, "-S", tm.sock, "has-session", "-t", "repl")
		c.Env = withoutTMUX(os.Environ())
		if c.Run() != nil {
			return
		}
	}
	tm.t.Fatal("the session did not end after Ctrl-D")
}

func withoutTMUX(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "TMUX=") {
			out = append(out, e)
		}
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
