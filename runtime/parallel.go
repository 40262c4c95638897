package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"go.starlark.net/starlark"
)

// task is one step of parallel(): a callable with its arguments, a name
// and the names of the steps it needs.
type task struct {
	name   string
	fn     starlark.Callable
	args   starlark.Tuple
	kwargs []starlark.Tuple
	needs  []string
}

func (t *task) String() string        { return "task(" + t.name + ")" }
func (t *task) Type() string          { return "task" }
func (t *task) Freeze()               { t.fn.Freeze(); t.args.Freeze() }
func (t *task) Truth() starlark.Bool  { return true }
func (t *task) Hash() (uint32, error) { return 0, errors.New("unhashable: task") }

func errorf(b *starlark.Builtin, format string, args ...any) error {
	return fmt.Errorf("%s: %s", b.Name(), fmt.Sprintf(format, args...))
}

// task(fn, *args, name=, needs=[], **kwargs) declares a step for parallel().
func taskBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, errorf(b, "missing function argument")
	}
	fn, ok := args[0].(starlark.Callable)
	if !ok {
		return nil, errorf(b, "want a callable, got %s", args[0].Type())
	}
	t := &task{fn: fn, args: args[1:], name: fn.Name()}
	for _, kv := range kwargs {
		switch string(kv[0].(starlark.String)) {
		case "name":
			s, ok := starlark.AsString(kv[1])
			if !ok {
				return nil, errorf(b, "name: want string")
			}
			t.name = s
		case "needs":
			it, ok := kv[1].(starlark.Iterable)
			if !ok {
				return nil, errorf(b, "needs: want a list of step names")
			}
			iter := it.Iterate()
			var v starlark.Value
			for iter.Next(&v) {
				s, ok := starlark.AsString(v)
				if !ok {
					iter.Done()
					return nil, errorf(b, "needs: want step names, got %s", v.Type())
				}
				t.needs = append(t.needs, s)
			}
			iter.Done()
		default:
			t.kwargs = append(t.kwargs, kv)
		}
	}
	return t, nil
}

type stepResult struct {
	value   starlark.Value
	err     error
	skipped string
	report  *Report
	out     bytes.Buffer
}

// parallel(steps, max=8) runs independent steps concurrently on a bounded
// pool. Results, output and changes are reported in declaration order, so
// a run's output does not depend on scheduling. A failed step fails the
// call after all steps have finished; steps needing it are skipped.
func parallelBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var steps *starlark.List
	max := 8
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "steps", &steps, "max?", &max); err != nil {
		return nil, err
	}
	if max < 1 {
		return nil, errorf(b, "max must be at least 1")
	}
	rt := FromThread(thread)
	tasks := make([]*task, steps.Len())
	index := map[string]int{}
	for i := range tasks {
		switch v := steps.Index(i).(type) {
		case *task:
			tasks[i] = v
		case starlark.Callable:
			tasks[i] = &task{fn: v, name: fmt.Sprintf("%s#%d", v.Name(), i)}
		default:
			return nil, errorf(b, "step %d: want a callable or task(), got %s", i, v.Type())
		}
		if _, dup := index[tasks[i].name]; dup {
			return nil, errorf(b, "two steps are named %q", tasks[i].name)
		}
		index[tasks[i].name] = i
	}
	for _, t := range tasks {
		for _, n := range t.needs {
			j, ok := index[n]
			if !ok {
				return nil, errorf(b, "step %q needs %q, which is not a step here", t.name, n)
			}
			if j >= index[t.name] {
				return nil, errorf(b, "step %q needs %q, which must be declared before it", t.name, n)
			}
		}
		// Steps share nothing mutable: freezing makes a data race a
		// Starlark error instead.
		t.Freeze()
	}

	results := make([]*stepResult, len(tasks))
	done := make([]chan struct{}, len(tasks))
	for i := range tasks {
		results[i] = &stepResult{report: &Report{}}
		done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, max)
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func(i int, t *task) {
			defer wg.Done()
			defer close(done[i])
			res := results[i]
			for _, n := range t.needs {
				j := index[n]
				<-done[j]
				if results[j].err != nil || results[j].skipped != "" {
					res.skipped = fmt.Sprintf("needs %s, which did not succeed", n)
					return
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			th := rt.NewThread(thread.Name+"/"+t.name, res.report, &res.out)
			defer rt.Release(th)
			inheritLocals(thread, th)
			res.value, res.err = starlark.Call(th, t.fn, t.args, t.kwargs)
		}(i, t)
	}
	wg.Wait()

	reports := make([]*Report, len(results))
	for i, res := range results {
		reports[i] = res.report
	}
	settleRaces(reports)
	report := reportOf(thread)
	out := make([]starlark.Value, len(tasks))
	// Steps that failed the same way (one refused login, say) are told
	// once, with the first one's backtrace.
	type failure struct {
		steps []string
		trace string
	}
	var failed []*failure
	byCause := map[string]*failure{}
	nfailed := 0
	for i, res := range results {
		if res.out.Len() > 0 {
			rt.Opts.Stderr.Write(res.out.Bytes())
		}
		report.Merge(res.report)
		switch {
		case res.skipped != "":
			AddSkipped(thread, Skipped{Step: tasks[i].name, Reason: res.skipped})
			out[i] = starlark.None
		case res.err != nil:
			nfailed++
			cause, trace := res.err.Error(), res.err.Error()
			if ee, ok := res.err.(*starlark.EvalError); ok {
				cause, trace = ee.Msg, ee.Backtrace()
			}
			cause = withoutOwnName(cause, tasks[i].name)
			if f := byCause[cause]; f != nil {
				f.steps = append(f.steps, tasks[i].name)
			} else {
				f = &failure{steps: []string{tasks[i].name}, trace: trace}
				byCause[cause] = f
				failed = append(failed, f)
			}
			out[i] = starlark.None
		default:
			out[i] = res.value
		}
	}
	if nfailed > 0 {
		var msgs []string
		for _, f := range failed {
			if len(f.steps) == 1 {
				msgs = append(msgs, fmt.Sprintf("step %s failed: %s", f.steps[0], f.trace))
			} else {
				msgs = append(msgs, fmt.Sprintf("steps %s failed the same way; %s: %s", strings.Join(f.steps, ", "), f.steps[0], f.trace))
			}
		}
		return nil, fmt.Errorf("%s: %d of %d steps failed:\n%s", b.Name(), nfailed, len(tasks), strings.Join(msgs, "\n"))
	}
	return starlark.NewList(out), nil
}

// withoutOwnName replaces in msg the words of a step's own name ("lxc" and
// "101" of lxc:101), so that failures differing only in the guest they
// name count as the same.
func withoutOwnName(msg, step string) string {
	for _, w := range nameWord.FindAllString(step, -1) {
		if len(w) < 2 {
			continue
		}
		msg = regexp.MustCompile(`\b`+regexp.QuoteMeta(w)+`\b`).ReplaceAllString(msg, "\x00")
	}
	return msg
}

var nameWord = regexp.MustCompile(`[A-Za-z0-9]+`)
