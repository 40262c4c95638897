package builtins

// Func is a builtin's documented signature (Funcs), generated from the
// doc comments that document it: the one registry help(), phoenix doc,
// docs/builtins.md and phoenix check read.
type Func struct {
	Sig     string // "write(path, content, mode=0o644, owner=None)"
	Returns string
	Desc    string
	Params  []Param // nil for a name that is not called
}

// Param is one parameter of a Func.
type Param struct {
	Name, Type, Default string
	Varargs, Kwargs     bool // *Name, **Name
	KeywordOnly         bool
}

// Accepts reports whether a call may pass the keyword argument name.
func (f Func) Accepts(name string) bool {
	for _, p := range f.Params {
		if p.Kwargs || p.Name == name && !p.Varargs {
			return true
		}
	}
	return false
}

// Keywords are the names a call may pass as keyword arguments.
func (f Func) Keywords() []string {
	var out []string
	for _, p := range f.Params {
		if !p.Varargs && !p.Kwargs {
			out = append(out, p.Name)
		}
	}
	return out
}
