package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// ReadSecretFile reads a password or key file at a site path. It refuses
// one that group or others may read, naming the file and the fix, unless
// --insecure-perms, where it warns instead: a readable secret may
// already have leaked, and using it would hide that. The mode is taken
// from the handle that is read, after the root refused any link.
func (rt *Runtime) ReadSecretFile(path string) ([]byte, error) {
	f, err := rt.Root.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rt.ReadFile(path) // planned in this run, or missing: ReadFile says which
	}
	if err != nil {
		return nil, err
	}
	perm := f.Info().Mode.Perm()
	f.Close()
	if err := rt.CheckSecretPerms("secret file", path, perm); err != nil {
		return nil, err
	}
	return rt.ReadFile(path) // what this run planned wins over the disk
}

// CheckSecretPerms applies ReadSecretFile's rule to a file of another
// kind ("PVE credentials file") whose mode the caller read from its
// handle: an error naming the file and the fix, or, with
// --insecure-perms, a warning.
func (rt *Runtime) CheckSecretPerms(kind, path string, perm fs.FileMode) error {
	if perm&0o077 == 0 {
		return nil
	}
	host := filepath.Join(rt.Root.Dir(), path)
	shown := path
	if host != path {
		shown = fmt.Sprintf("%s (%s)", path, host)
	}
	if rt.Opts.InsecurePerms {
		rt.Logf(LevelWarn, "warning: %s %s has mode %04o: group or others can read it; used anyway (--insecure-perms). Fix: chmod 600 %s", kind, shown, perm, host)
		return nil
	}
	return fmt.Errorf("%s %s has mode %04o: group or others can read it, so the secret may have leaked. Fix: chmod 600 %s (and rotate the secret if others had access), or pass --insecure-perms to use it anyway", kind, shown, perm, host)
}
