package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ReadSecretFile reads a password or key file at a site path. It refuses
// one that group or others may read, naming the file and the fix, unless
// --insecure-perms, where it warns instead: a readable secret may
// already have leaked, and using it would hide that.
func (rt *Runtime) ReadSecretFile(path string) ([]byte, error) {
	if err := rt.checkSecretPerms(path); err != nil {
		return nil, err
	}
	return rt.ReadFile(path)
}

func (rt *Runtime) checkSecretPerms(path string) error {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // planned in this run, or missing: ReadFile says which
	}
	if err != nil {
		return err
	}
	perm := st.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	shown := path
	if host != path {
		shown = fmt.Sprintf("%s (%s)", path, host)
	}
	if rt.Opts.InsecurePerms {
		fmt.Fprintf(rt.Opts.Stderr, "warning: secret file %s has mode %04o: group or others can read it; used anyway (--insecure-perms). Fix: chmod 600 %s\n", shown, perm, host)
		return nil
	}
	return fmt.Errorf("secret file %s has mode %04o: group or others can read it, so the secret may have leaked. Fix: chmod 600 %s (and rotate the secret if others had access), or pass --insecure-perms to use it anyway", shown, perm, host)
}
