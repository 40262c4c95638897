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
