package ca

import (
	"fmt"
	"path/filepath"
	"phoenix/internal/machine"
	"regexp"
	"strconv"
)

// backupIncomplete marks a backup directory that Backup is still moving
// entries into, so that an interrupted Backup resumes into it.
const backupIncomplete = ".phoenix-backup-incomplete"

// backupEntries are what Backup moves, certs/ last so that the root, and
// with it the backup's name, stays readable until the end. Other files in
// the directory (the password files, say) stay where they are: the new CA
// uses them, and the same password opens the backup.
var backupEntries = []string{MarkerFile, StagingDir, "config", "secrets", DBDir, "templates", "certs"}

var hex12 = regexp.MustCompile(`^[0-9a-f]{12}`)

// BackupName is the directory Backup uses first for a CA whose root has
// this fingerprint: <dir>.bak-<first 12 hex digits>, beside dir.
func BackupName(dir, fingerprint string) string {
	tag := "unknown"
	if m := hex12.FindString(fingerprint); m != "" {
		tag = m
	}
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".bak-"+tag)
}

// Backup moves a CA's entries out of dir into a sibling directory in the
// same filesystem, named from the old root's fingerprint (BackupName); if
// that name is taken, "-2", "-3", ... is appended. It never deletes
// anything and never copies: entries are renamed, so a move across
// filesystems fails instead. dir itself stays (it is a bind mount). It
// returns the backup directory. An interrupted Backup resumes into the
// directory it started.
func Backup(dir, fingerprint string) (string, error) { return BackupIn(nil, dir, fingerprint) }

// BackupIn is Backup with dir under root.
func BackupIn(root *machine.Root, dir, fingerprint string) (string, error) {
	const what = "ca.Backup"
	r := rootOr(root)
	fi, err := r.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	uid, gid := fi.UID, fi.GID
	bak, resume := backupTarget(r, dir, fingerprint)
	if !resume {
		if err := mkdirMode(r, bak, modePrivateDir, uid, gid); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if err := writeFileAtomic(r, filepath.Join(bak, backupIncomplete), nil, modeKey, uid, gid); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if err := syncDir(r, filepath.Dir(bak)); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
	}
	for _, e := range backupEntries {
		src, dst := filepath.Join(dir, e), filepath.Join(bak, e)
		srcThere, err := present(r, src)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if !srcThere {
			continue
		}
		if dstThere, err := present(r, dst); err != nil || dstThere {
			if err != nil {
				return "", fmt.Errorf("%s: %w", what, err)
			}
			return "", fmt.Errorf("%s: both %s and %s exist", what, src, dst)
		}
		if err := r.Rename(src, dst, true); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
	}
	for _, d := range []string{dir, bak} {
		if err := syncDir(r, d); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := r.Remove(filepath.Join(bak, backupIncomplete)); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := syncDir(r, bak); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return bak, nil
}

// BackupTarget is the directory Backup would move the CA in dir to, so
// that a plan can name it before anything moves.
func BackupTarget(dir, fingerprint string) string { return BackupTargetIn(nil, dir, fingerprint) }

// BackupTargetIn is BackupTarget with dir under root.
func BackupTargetIn(root *machine.Root, dir, fingerprint string) string {
	bak, _ := backupTarget(rootOr(root), dir, fingerprint)
	return bak
}

// backupTarget picks the first free name from BackupName, or the one an
// interrupted Backup left incomplete (resume).
func backupTarget(r *machine.Root, dir, fingerprint string) (bak string, resume bool) {
	base := BackupName(dir, fingerprint)
	for n := 1; ; n++ {
		cand := base
		if n > 1 {
			cand = base + "-" + strconv.Itoa(n)
		}
		if !exists(r, cand) {
			return cand, false
		}
		if exists(r, filepath.Join(cand, backupIncomplete)) {
			return cand, true
		}
	}
}
