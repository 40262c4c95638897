package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"phoenix/stdlib"
)

const stdlibPrefix = "@stdlib//"

// loader resolves load() statements: relative to the loading file, or from
// the embedded stdlib. Modules are executed once and cached; a module that
// loads itself, directly or not, is reported as a cycle.
type loader struct {
	rt    *Runtime
	mu    sync.Mutex
	cache map[string]*loadEntry
}

type loadEntry struct {
	done    chan struct{}
	globals starlark.StringDict
	err     error
}

const chainKey = "phoenix.loadchain"

func newLoader(rt *Runtime) *loader {
	return &loader{rt: rt, cache: map[string]*loadEntry{}}
}

// resolveModule gives the cache key and display name of a load() target.
func resolveModule(from, module string) (key, display string, err error) {
	if strings.HasPrefix(module, stdlibPrefix) {
		name := strings.TrimPrefix(module, stdlibPrefix)
		if name == "" || strings.Contains(name, "..") {
			return "", "", fmt.Errorf("bad stdlib module %q", module)
		}
		return module, module, nil
	}
	if strings.HasPrefix(module, "@") {
		return "", "", fmt.Errorf("unknown repository in %q (only @stdlib// exists)", module)
	}
	if filepath.IsAbs(module) {
		return filepath.Clean(module), module, nil
	}
	dir := "."
	if from != "" && !strings.HasPrefix(from, stdlibPrefix) {
		dir = filepath.Dir(from)
	}
	display = filepath.Join(dir, module)
	abs, err := filepath.Abs(display)
	if err != nil {
		return "", "", err
	}
	return abs, display, nil
}

func readModule(key string) ([]byte, error) {
	if strings.HasPrefix(key, stdlibPrefix) {
		return fs.ReadFile(stdlib.FS, strings.TrimPrefix(key, stdlibPrefix))
	}
	return os.ReadFile(key)
}

func (l *loader) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from := ""
	if thread.CallStackDepth() > 0 {
		from = thread.CallFrame(0).Pos.Filename()
	}
	key, display, err := resolveModule(from, module)
	if err != nil {
		return nil, err
	}
	chain, _ := thread.Local(chainKey).([]string)
	return l.exec(key, display, chain)
}

// exec runs the module at key once; chain is the load path leading here.
func (l *loader) exec(key, display string, chain []string) (starlark.StringDict, error) {
	for i, k := range chain {
		if k == key {
			names := append(append([]string(nil), chain[i:]...), key)
			for j := range names {
				names[j] = shortName(names[j])
			}
			return nil, fmt.Errorf("cycle in load graph: %s", strings.Join(names, " -> "))
		}
	}
	l.mu.Lock()
	e, ok := l.cache[key]
	if !ok {
		e = &loadEntry{done: make(chan struct{})}
		l.cache[key] = e
	}
	l.mu.Unlock()
	if ok {
		<-e.done
		return e.globals, e.err
	}
	defer close(e.done)
	src, err := readModule(key)
	if err != nil {
		e.err = err
		return nil, err
	}
	rt := l.rt
	th := rt.NewThread("load "+display, rt.report, rt.Opts.Stderr)
	defer rt.Release(th)
	th.SetLocal(chainKey, append(append([]string(nil), chain...), key))
	e.globals, e.err = starlark.ExecFileOptions(FileOptions, th, display, src, stdlibPredeclared(key, rt.Predeclared()))
	if e.globals != nil {
		e.globals.Freeze()
	}
	return e.globals, e.err
}

func shortName(key string) string {
	if strings.HasPrefix(key, stdlibPrefix) {
		return key
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, key); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return key
}

// ExecScript runs the main script at path (an operator path) and returns
// its globals.
func (rt *Runtime) ExecScript(path string) (starlark.StringDict, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return rt.loader.exec(abs, path, nil)
}
