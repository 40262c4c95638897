package ca

import (
	"os"
	"path/filepath"
)

// Paths inside a CA directory, relative to it, as step writes them.
const (
	RootCertFile         = "certs/root_ca.crt"
	IntermediateCertFile = "certs/intermediate_ca.crt"
	RootKeyFile          = "secrets/root_ca_key"
	IntermediateKeyFile  = "secrets/intermediate_ca_key"
	ConfigFile           = "config/ca.json"
	DefaultsFile         = "config/defaults.json"
	DBDir                = "db"

	// MarkerFile is written last by Create and Adopt.
	MarkerFile = ".phoenix-ca-complete"
	// StagingDir is where Create and Adopt build a CA before moving its
	// children into place. One fixed name, so a later run finds it.
	StagingDir = ".phoenix-ca-staging"
	// stagingReady inside StagingDir says every staged file is on disk.
	stagingReady = ".ready"
	// nextSuffix marks the new intermediate pair while Reissue replaces it.
	nextSuffix = ".next"
)

// Directory modes. certs/ is readable by all, like the certificates in it.
const (
	modePrivateDir os.FileMode = 0o700
	modePublicDir  os.FileMode = 0o755
	modeKey        os.FileMode = 0o600
	modeCert       os.FileMode = 0o644
)

// children are the top-level entries a CA owns, in the order they are
// moved into place: config/ last but one, so that a CA without its
// ca.json is seen as incomplete, and the marker after everything.
var children = []string{DBDir, "certs", "secrets", "config"}

// childMode is the mode of each top-level directory.
var childMode = map[string]os.FileMode{
	DBDir:     modePrivateDir,
	"certs":   modePublicDir,
	"secrets": modePrivateDir,
	"config":  modePrivateDir,
}

func hostPath(dir, rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }

// Entry is one file or directory a made CA holds, relative to its
// directory (slash-separated).
type Entry struct {
	Path string
	Dir  bool
	Mode os.FileMode
}

// Layout lists what Create and Adopt leave in a CA directory, each
// directory before what it holds (the database's own files aside).
func Layout() []Entry {
	out := make([]Entry, 0, 12)
	for _, c := range children {
		out = append(out, Entry{Path: c, Dir: true, Mode: childMode[c]})
	}
	for _, f := range []Entry{
		{Path: RootCertFile, Mode: modeCert},
		{Path: IntermediateCertFile, Mode: modeCert},
		{Path: RootKeyFile, Mode: modeKey},
		{Path: IntermediateKeyFile, Mode: modeKey},
		{Path: ConfigFile, Mode: modeKey},
		{Path: DefaultsFile, Mode: modeCert},
		{Path: MarkerFile, Mode: modeCert},
	} {
		out = append(out, f)
	}
	return out
}

// DirMode is the mode Create gives a CA directory it makes.
const DirMode = modePrivateDir

// CertModes are the modes Issue gives a leaf certificate and its key.
const (
	LeafCertMode = modeCert
	LeafKeyMode  = modeKey
)
