package pve

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

// logTail is how many task log lines an error carries.
const logTail = 12

// ErrTaskTimeout is a task that did not finish within Options.TaskTimeout.
var ErrTaskTimeout = errors.New("task did not finish in time")

// Wait blocks until the task upid ends. A task whose exit status is not
// OK is a *TaskError with the tail of its log (go-proxmox's own Wait
// returns nil then). It stops when ctx is cancelled or after
// Options.TaskTimeout; what names the task in errors ("create lxc:103").
func (c *Client) Wait(ctx context.Context, upid, what string) (err error) {
	if upid == "" {
		return fmt.Errorf("%s: PVE returned no task ID", what)
	}
	t := proxmox.NewTask(proxmox.UPID(upid), c.api)
	if t.Node == "" {
		return fmt.Errorf("%s: malformed task ID %q", what, upid)
	}
	if c.opts.TaskLines != nil {
		began := time.Now()
		c.taskLine("started %s on %s", what, t.Node)
		defer func() {
			took := time.Since(began).Round(time.Millisecond)
			if err != nil {
				c.taskLine("failed %s after %s", what, took)
			} else {
				c.taskLine("finished %s in %s", what, took)
			}
		}()
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	start := time.Now()
	interval := c.opts.Poll
	var prog *progress
	defer func() {
		if prog != nil {
			prog.clear()
		}
	}()
	for {
		if err := c.read(wctx, func(ctx context.Context) error { return t.Ping(ctx) }); err != nil {
			return c.waitErr(ctx, wctx, upid, what, start, err)
		}
		if t.Status != "" && t.Status != proxmox.TaskRunning {
			if t.ExitStatus == "OK" {
				return nil
			}
			return c.taskFailed(ctx, t, what)
		}
		if c.opts.Progress != nil && time.Since(start) >= c.opts.ProgressAfter {
			if prog == nil {
				prog = &progress{c: c, what: what}
			}
			prog.show(wctx, t, time.Since(start))
		}
		if err := sleep(wctx, interval); err != nil {
			return c.waitErr(ctx, wctx, upid, what, start, err)
		}
		interval += interval / 2
		if interval > c.opts.MaxPoll {
			interval = c.opts.MaxPoll
		}
	}
}

func (c *Client) waitErr(ctx, wctx context.Context, upid, what string, start time.Time, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped waiting for task %s after %s: %w", what, upid, time.Since(start).Round(time.Millisecond), ctx.Err())
	case wctx.Err() != nil:
		return fmt.Errorf("%s: task %s still running after %s (it goes on in PVE; see the node's task list): %w", what, upid, c.opts.TaskTimeout, ErrTaskTimeout)
	}
	return fmt.Errorf("%s: reading status of task %s: %w", what, upid, err)
}

// taskFailed builds the error of a failed task with its log's last lines.
func (c *Client) taskFailed(ctx context.Context, t *proxmox.Task, what string) error {
	te := &TaskError{UPID: string(t.UPID), What: what, ExitStatus: t.ExitStatus}
	lines, err := c.taskLog(ctx, t)
	if err != nil {
		te.LogTail = []string{fmt.Sprintf("(task log unavailable: %v)", err)}
		return te
	}
	if len(lines) > logTail {
		lines = lines[len(lines)-logTail:]
	}
	te.LogTail = lines
	return te
}

// taskLog reads a task's whole log, in order.
func (c *Client) taskLog(ctx context.Context, t *proxmox.Task) ([]string, error) {
	var l proxmox.Log
	err := c.read(ctx, func(ctx context.Context) error {
		var err error
		l, err = t.Log(ctx, 0, 5000)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, n := range slices.Sorted(maps.Keys(l)) {
		out = append(out, l[n])
	}
	return out, nil
}

// taskLine writes one timestamped line to Options.TaskLines.
func (c *Client) taskLine(format string, args ...any) {
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	fmt.Fprintf(c.opts.TaskLines, "%s pve task %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// progress is the one-line display of a long wait: the task's latest log
// line and the elapsed time, redrawn in place.
type progress struct {
	c     *Client
	what  string
	last  time.Time
	shown bool
}

func (p *progress) show(ctx context.Context, t *proxmox.Task, elapsed time.Duration) {
	if time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	line := ""
	if lines, err := p.c.taskLog(ctx, t); err == nil && len(lines) > 0 {
		line = lines[len(lines)-1]
	}
	if len(line) > 100 {
		line = line[:97] + "..."
	}
	msg := fmt.Sprintf("%s: %s", p.what, elapsed.Round(time.Second))
	if line = strings.TrimSpace(line); line != "" {
		msg += ": " + line
	}
	p.c.progressMu.Lock()
	defer p.c.progressMu.Unlock()
	fmt.Fprintf(p.c.opts.Progress, "\r\x1b[K%s", msg)
	p.shown = true
}

func (p *progress) clear() {
	if !p.shown {
		return
	}
	p.c.progressMu.Lock()
	defer p.c.progressMu.Unlock()
	fmt.Fprint(p.c.opts.Progress, "\r\x1b[K")
}

// task starts a task with one request (send's method, path and data) and
// waits for it as runTask does.
func (c *Client) task(ctx context.Context, what, method, path string, data map[string]any) error {
	return c.runTask(ctx, what, func(ctx context.Context) (string, error) {
		var upid string
		err := c.send(ctx, method, path, data, &upid, false)
		return upid, err
	})
}

// runTask starts a task with start and waits for it. A lock timeout, in
// the answer or as the task's exit status, means PVE did nothing, so the
// whole call is repeated with backoff.
func (c *Client) runTask(ctx context.Context, what string, start func(context.Context) (string, error)) error {
	for attempt := 0; ; attempt++ {
		upid, err := start(ctx)
		if err == nil {
			err = c.Wait(ctx, upid, what)
		} else {
			err = fmt.Errorf("%s: %w", what, err)
		}
		var te *TaskError
		if err == nil || !errors.As(err, &te) || !IsLockTimeout(err) || attempt+1 >= c.opts.LockRetry.Attempts {
			return err
		}
		wait := c.opts.LockRetry.delay(attempt)
		c.logf("pve: %s: %s; retrying in %s", what, te.ExitStatus, wait.Round(time.Millisecond))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
