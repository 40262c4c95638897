// Package secret is the Starlark `secret` module: opaque passwords and keys.
package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/runtime"
)

// Family registers secret with the runtime.
var Family = runtime.Family{Name: "secret", Module: Module}

// Module is the secret module. A secret prints as <secret> everywhere.
//
//	generate(bytes: int = 32) - a secret of that many random bytes, as URL-safe base64 without padding
//	read(path: str) - the file's content as a secret, trailing white space trimmed
//	write(path: str, s: secret, mode: int = 0o600, owner: str|int|tuple|None = None) - struct(changed, path)
//	ensure(path: str, bytes: int = 32, mode: int = 0o600, owner: str|int|tuple|None = None) - the secret at path, generated and written once when missing
var Module = &starlarkstruct.Module{
	Name: "secret",
	Members: starlark.StringDict{
		"generate": starlark.NewBuiltin("secret.generate", generate),
		"read":     starlark.NewBuiltin("secret.read", read),
		"write":    starlark.NewBuiltin("secret.write", write),
		"ensure":   starlark.NewBuiltin("secret.ensure", ensure),
	},
}

// Generate returns n random bytes encoded so that password files work with
// tools that trim them: printable, no white space.
func Generate(n int) ([]byte, error) {
	raw := make([]byte, n)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}

func generate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := 32
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "bytes?", &n); err != nil {
		return nil, err
	}
	if n < 16 || n > 4096 {
		return nil, fmt.Errorf("%s: bytes must be 16..4096, got %d", b.Name(), n)
	}
	s, err := Generate(n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return runtime.NewSecret(s), nil
}

func read(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	data, err := runtime.FromThread(thread).ReadSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return runtime.NewSecret(bytes.TrimRight(data, " \t\r\n")), nil
}

func writeSecret(thread *starlark.Thread, path string, s *runtime.Secret, mode int, owner starlark.Value) (bool, error) {
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return false, err
	}
	data := append(append([]byte(nil), s.Reveal()...), '\n')
	return runtime.FromThread(thread).EnsureFile(thread, runtime.FileSpec{
		Path: path, Data: data, Mode: os.FileMode(mode), UID: uid, GID: gid, Secret: true,
	})
}

func write(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var s *runtime.Secret
	mode := 0o600
	var owner starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "s", &s, "mode?", &mode, "owner?", &owner); err != nil {
		return nil, err
	}
	changed, err := writeSecret(thread, path, s, mode, owner)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"changed": starlark.Bool(changed), "path": starlark.String(path),
	}), nil
}

func ensure(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	n, mode := 32, 0o600
	var owner starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "bytes?", &n, "mode?", &mode, "owner?", &owner); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	var s *runtime.Secret
	data, err := rt.ReadSecretFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		// Never regenerate an existing secret: only its mode and owner converge.
		s = runtime.NewSecret(bytes.TrimRight(data, " \t\r\n"))
	} else {
		g, err := Generate(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		s = runtime.NewSecret(g)
	}
	if _, err := writeSecret(thread, path, s, mode, owner); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return s, nil
}
