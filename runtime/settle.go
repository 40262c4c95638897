package runtime

// mark is a resource a step met without changing it, at a position in
// its sequence of changes.
type mark struct {
	resource  string
	at        int  // len(Changes) when it was met
	unchanged bool // counted as unchanged; otherwise only touched
}

// settleRaces makes parallel steps' reports independent of which step won
// a race for a resource they share, such as a parent directory that two
// steps both need: the winner changed it and the loser found it in place.
// The change moves to the first step, in declaration order, that met the
// resource, and the later step gets what the earlier one had (an
// unchanged or a touch), so the merged report reads the same on every run
// and the counts do not move.
func settleRaces(steps []*Report) {
	type seen struct{ step, k int } // steps[step].marks[k]
	first := map[string]seen{}
	for j, r := range steps {
		for c := 0; c < len(r.Changes); c++ {
			ch := r.Changes[c]
			s, ok := first[ch.Resource]
			if !ok || ch.Error != "" {
				continue
			}
			delete(first, ch.Resource)
			w := steps[s.step]
			m := w.marks[s.k]
			w.takeChange(s.k, ch)
			r.giveChange(c, m)
			c--
		}
		for k, m := range r.marks {
			if _, ok := first[m.resource]; !ok {
				first[m.resource] = seen{j, k}
			}
		}
	}
	for _, r := range steps {
		r.Unchanged = r.Unchanged[:0]
		for _, m := range r.marks {
			if m.unchanged {
				r.Unchanged = append(r.Unchanged, m.resource)
			}
		}
	}
}

// takeChange puts ch where marks[k] was met. The mark stays, as a touch:
// other steps' entries in settleRaces index into marks. Marks met after it
// move with the changes after it, marks met before it at the same
// position stay before it.
func (r *Report) takeChange(k int, ch Change) {
	at := r.marks[k].at
	r.Changes = append(r.Changes[:at], append([]Change{ch}, r.Changes[at:]...)...)
	for i := k + 1; i < len(r.marks); i++ {
		r.marks[i].at++
	}
	r.marks[k].unchanged = false
}

// giveChange replaces Changes[c] with m, as if m had been met there.
func (r *Report) giveChange(c int, m mark) {
	r.Changes = append(r.Changes[:c], r.Changes[c+1:]...)
	k := len(r.marks)
	for i := range r.marks {
		if r.marks[i].at > c {
			if i < k {
				k = i
			}
			r.marks[i].at--
		}
	}
	m.at = c
	r.marks = append(r.marks[:k], append([]mark{m}, r.marks[k:]...)...)
}
