package runtime

import (
	"errors"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Secret is an opaque value: passwords and keys. Every way Starlark has to
// show a value (str, print, repr, plans, logs, errors) shows <secret>;
// only Go builtins that accept a secret call Reveal.
type Secret struct {
	b []byte
}

var (
	_ starlark.Value      = (*Secret)(nil)
	_ starlark.Comparable = (*Secret)(nil)
)

// NewSecret wraps b; the caller must not keep using b.
func NewSecret(b []byte) *Secret { return &Secret{b: b} }

// Reveal gives the secret's bytes to a builtin that needs them.
func (s *Secret) Reveal() []byte { return s.b }

func (s *Secret) String() string        { return "<secret>" }
func (s *Secret) Type() string          { return "secret" }
func (s *Secret) Freeze()               {}
func (s *Secret) Truth() starlark.Bool  { return len(s.b) > 0 }
func (s *Secret) Hash() (uint32, error) { return 0, errors.New("unhashable: secret") }

// CompareSameType allows == and != only, in constant time is not needed
// here: the result is one bit the script already could learn.
func (s *Secret) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	o := y.(*Secret)
	switch op {
	case syntax.EQL:
		return string(s.b) == string(o.b), nil
	case syntax.NEQ:
		return string(s.b) != string(o.b), nil
	}
	return false, errors.New("secrets cannot be ordered")
}
