package machine

import "sync"

// Locks serialise check-then-change on one resource across parallel
// steps: a step holds the resource's lock from the read that decides a
// change until the change is made, so two steps that ensure the same
// thing cannot both see it missing and both create it. The zero value is
// ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

// Hold blocks until key is free, takes it, and returns its release.
func (l *Locks) Hold(key string) (release func()) {
	l.mu.Lock()
	k := l.m[key]
	if k == nil {
		if l.m == nil {
			l.m = map[string]*sync.Mutex{}
		}
		k = &sync.Mutex{}
		l.m[key] = k
	}
	l.mu.Unlock()
	k.Lock()
	return k.Unlock
}
