package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// Reissue issues a new intermediate (new key) under the existing root, so
// that every certificate issued before keeps verifying. The new pair is
// written beside the old one as *.next and renamed over it, key first;
// an interrupted Reissue is seen by Inspect as NeedsReissue and the next
// Reissue finishes it instead of starting over. Only opts.Dir, Password,
// Name (the new subject when the old one cannot be reused), UID, GID,
// IntermediateLifetime and Now are used. A server using the CA must be
// restarted to pick the new intermediate up.
func Reissue(opts Options) (*Result, error) {
	const what = "ca.Reissue"
	if len(opts.Password) == 0 {
		return nil, fmt.Errorf("%s: empty CA password", what)
	}
	now := opts.now()
	r := rootOr(opts.Root)
	st, err := inspectAt(r, opts.Dir, opts.Password, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st.Status != Valid && st.Status != NeedsReissue {
		return nil, fmt.Errorf("%s: %s: the CA is %s: %s", what, opts.Dir, st.Status, st.Reason)
	}
	root, err := readCert(r, st.Files.RootCert, RootCertFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	crt, key := st.Files.IntermediateCert, st.Files.IntermediateKey
	result := func(finished bool) (*Result, error) {
		if err := syncDir(r, filepath.Dir(key)); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := syncDir(r, filepath.Dir(crt)); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		after, err := inspectAt(r, opts.Dir, opts.Password, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		leftover := exists(r, crt+nextSuffix) || exists(r, key+nextSuffix)
		if (after.Status != Valid && after.Status != NeedsReissue) || leftover {
			return nil, fmt.Errorf("%s: after re-issue the CA is %s: %s", what, after.Status, after.Reason)
		}
		return &Result{
			Dir:                  opts.Dir,
			Fingerprint:          after.Fingerprint,
			Root:                 after.Files.RootCert,
			GuestRoot:            path.Join(after.GuestDir, RootCertFile),
			Reissued:             true,
			Finished:             finished,
			IntermediateNotAfter: after.IntermediateNotAfter,
		}, nil
	}

	// Finish an interrupted re-issue whose new pair is consistent.
	pair, _, reason := pickPair(st, root, opts.Password)
	if reason != "" {
		return nil, fmt.Errorf("%s: %s", what, reason)
	}
	if pair.pending && (pair.crtPath != crt || pair.keyPath != key) {
		if pair.keyPath != key {
			if err := r.Rename(pair.keyPath, key, false); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		if pair.crtPath != crt {
			if err := r.Rename(pair.crtPath, crt, false); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		// A .next file that was not part of the chosen pair is an
		// unfinished write of ours.
		for _, p := range []string{crt + nextSuffix, key + nextSuffix} {
			if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		return result(true)
	}
	for _, p := range []string{crt + nextSuffix, key + nextSuffix} {
		if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}

	rootKey, err := readKey(r, st.Files.RootKey, RootKeyFile, opts.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	old, err := readCert(r, crt, IntermediateCertFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	subject := old.Subject
	if subject.CommonName == "" && opts.Name != "" {
		subject = caSubject(opts.Name, "Intermediate CA")
	}
	life := opts.IntermediateLifetime
	if life <= 0 {
		life = defaultCALifetime
	}
	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	inter, err := signCA(subject, newKey, root, rootKey, now, life, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	keyPEM, err := encryptKey(newKey, opts.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	uid, gid := opts.UID, opts.GID
	if err := writeFileAtomic(r, key+nextSuffix, keyPEM, modeKey, uid, gid); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := writeFileAtomic(r, crt+nextSuffix, encodeCert(inter), modeCert, uid, gid); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if testHookAfterMove != nil {
		if err := testHookAfterMove("reissue-staged"); err != nil {
			return nil, err
		}
	}
	if err := r.Rename(key+nextSuffix, key, false); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if testHookAfterMove != nil {
		if err := testHookAfterMove("reissue-key"); err != nil {
			return nil, err
		}
	}
	if err := r.Rename(crt+nextSuffix, crt, false); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return result(false)
}
