package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"phoenix/runtime"
)

// beginApply prepares an applying run: the site lock (waiting up to
// --lock-timeout), then the journal, reporting what a killed run left
// unfinished. end releases both; outcome is "" for success.
func beginApply(rt *runtime.Runtime, f *runFlags, command string, stderr io.Writer) (end func(outcome string), err error) {
	lock, err := rt.LockSite(rt.Context(), f.lockTimeout, command)
	if err != nil {
		return nil, err
	}
	lost, err := rt.OpenJournal(command)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	if rt.Logs(runtime.LevelWarn) {
		runtime.WriteInterrupted(stderr, lost)
	}
	return func(outcome string) {
		rt.CloseJournal(outcome)
		lock.Unlock()
	}, nil
}

// commandLine is how the journal and the lock file name a run: the
// command and script only, since a parameter may carry a secret and the
// lock file is world-readable.
func commandLine(words ...string) string {
	return "phoenix " + strings.Join(words, " ")
}

// stopOnSignal makes the first SIGINT or SIGTERM stop rt between changes
// and a second one stop it at once. signalled returns the first signal,
// or nil.
func stopOnSignal(rt *runtime.Runtime) (signalled func() os.Signal, done func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var first os.Signal
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			select {
			case s := <-sigs:
				mu.Lock()
				again := first != nil
				if !again {
					first = s
				}
				mu.Unlock()
				if again {
					rt.Interrupt("interrupted by a second " + sigName(s))
				} else {
					rt.Stop("interrupted by " + sigName(s))
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() os.Signal {
			mu.Lock()
			defer mu.Unlock()
			return first
		}, func() {
			signal.Stop(sigs)
			cancel()
		}
}

func sigName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// signalExit is the shell's code for a run ended by s: 130 or 143.
func signalExit(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return ExitError
}

// reportStopped tells, after the summary, how a signal ended the run.
func reportStopped(stderr io.Writer, cmd string, s os.Signal, rep *runtime.Report) {
	changed, _, failed := rep.Counts()
	fmt.Fprintf(stderr, "phoenix %s: stopped by %s between changes: %d applied", cmd, sigName(s), changed)
	if failed > 0 {
		fmt.Fprintf(stderr, ", %d failed", failed)
	}
	fmt.Fprintln(stderr, " (listed above); nothing else was started. Run it again to finish.")
}
