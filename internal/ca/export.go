package ca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Names of the files an export directory holds.
const (
	ExportRootFile     = "root_ca.crt"
	ExportPasswordFile = "provisioner_password.txt"
)

const modeExportDir os.FileMode = 0o755

// ExportFile is one file of an export and whether Apply would change it.
type ExportFile struct {
	Name    string
	Mode    os.FileMode
	Changed bool
	data    []byte
}

// ExportPlan is what PlanExport found: Apply writes it.
type ExportPlan struct {
	To          string
	Fingerprint string
	// DirChanged: the export directory is missing or has another mode or
	// owner.
	DirChanged bool
	Files      []ExportFile
	UID, GID   int
}

// Changed reports whether Apply would change anything.
func (p *ExportPlan) Changed() bool {
	if p.DirChanged {
		return true
	}
	for _, f := range p.Files {
		if f.Changed {
			return true
		}
	}
	return false
}

// PlanExport reads the root certificate of the CA in dir and compares the
// export directory to with what Export would write: root_ca.crt (0644)
// and, when provisionerPassword is not nil, provisioner_password.txt
// (0600), owned by uid:gid (-1 keeps the process's). It changes nothing.
// A provisioner_password.txt already there is left alone when
// provisionerPassword is nil.
func PlanExport(dir, to string, provisionerPassword []byte, uid, gid int) (*ExportPlan, error) {
	const what = "ca.Export"
	if !filepath.IsAbs(to) {
		return nil, fmt.Errorf("%s: to %q must be an absolute path", what, to)
	}
	r := rootOr(nil)
	rootPEM, err := readFile(r, hostPath(dir, RootCertFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	root, err := readCert(r, hostPath(dir, RootCertFile), RootCertFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	p := &ExportPlan{To: to, Fingerprint: Fingerprint(root), UID: uid, GID: gid}
	fi, err := r.Stat(to)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.DirChanged = true
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: %s is not a directory", what, to)
	default:
		p.DirChanged = fi.Mode.Perm() != modeExportDir ||
			(uid >= 0 && fi.UID != uid) || (gid >= 0 && fi.GID != gid)
	}
	p.Files = append(p.Files, ExportFile{Name: ExportRootFile, Mode: modeCert, data: rootPEM})
	if provisionerPassword != nil {
		p.Files = append(p.Files, ExportFile{Name: ExportPasswordFile, Mode: modeKey, data: provisionerPassword})
	}
	for i := range p.Files {
		f := &p.Files[i]
		same, err := fileMatches(r, filepath.Join(to, f.Name), f.data, f.Mode, uid, gid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		f.Changed = !same
	}
	return p, nil
}

// Apply writes what the plan found changed, each file atomically.
func (p *ExportPlan) Apply() error {
	const what = "ca.Export"
	r := rootOr(nil)
	if p.DirChanged {
		if err := r.MkdirAll(filepath.Dir(p.To), 0o755); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := mkdirMode(r, p.To, modeExportDir, p.UID, p.GID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	for _, f := range p.Files {
		if !f.Changed {
			continue
		}
		if err := writeFileAtomic(r, filepath.Join(p.To, f.Name), f.data, f.Mode, p.UID, p.GID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// Export is PlanExport followed by Apply. It returns the root fingerprint
// and whether anything changed.
func Export(dir, to string, provisionerPassword []byte, uid, gid int) (fingerprint string, changed bool, err error) {
	p, err := PlanExport(dir, to, provisionerPassword, uid, gid)
	if err != nil {
		return "", false, err
	}
	if !p.Changed() {
		return p.Fingerprint, false, nil
	}
	return p.Fingerprint, true, p.Apply()
}
