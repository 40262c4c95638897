package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/pki"

	"phoenix/internal/ca"
)

// oldSteppath is where the old script's `step ca init` wrote, as the
// container saw it: root's $STEPPATH.
const oldSteppath = "/root/.step"

// stepInit makes a CA the way the old script did, with the pki package
// that `step ca init` uses: a $STEPPATH-style directory whose ca.json
// names paths under /root/.step (inside the old container), a JWK
// provisioner, no ACME, step's default 24 h leaves.
//
//	stepinit DIR PASSWORD_FILE PROVISIONER_PASSWORD_FILE PROVISIONER
func stepInit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: stepinit DIR PASSWORD_FILE PROVISIONER_PASSWORD_FILE PROVISIONER")
	}
	dir := ts.MkAbs(args[0])
	pw := bytes.TrimSpace([]byte(ts.ReadFile(args[1])))
	provPW := bytes.TrimSpace([]byte(ts.ReadFile(args[2])))
	p, err := pki.New(apiv1.Options{Type: apiv1.SoftCAS, IsCreator: true},
		pki.WithAddress(":9000"), pki.WithDNSNames([]string{"ca.phoenix.internal"}),
		pki.WithProvisioner(args[3]), pki.WithDeploymentType(pki.StandaloneDeployment))
	if err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
	p.Root = []string{oldSteppath + "/certs/root_ca.crt"}
	p.RootKey = []string{oldSteppath + "/secrets/root_ca_key"}
	p.Intermediate = oldSteppath + "/certs/intermediate_ca.crt"
	p.IntermediateKey = oldSteppath + "/secrets/intermediate_ca_key"
	if err := p.GenerateKeyPairs(provPW); err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
	root, err := p.GenerateRootCertificate("Old Site CA", "Old Site", "", pw)
	if err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
	if err := p.GenerateIntermediateCertificate("Old Site CA", "Old Site", "", root, pw); err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
	for name, data := range p.Files {
		host := filepath.Join(dir, strings.TrimPrefix(name, oldSteppath))
		if err := os.MkdirAll(filepath.Dir(host), 0o700); err != nil {
			ts.Fatalf("stepinit: %v", err)
		}
		if err := os.WriteFile(host, data, 0o600); err != nil {
			ts.Fatalf("stepinit: %v", err)
		}
	}
	cfg, err := p.GenerateConfig(func(c *config.Config) error {
		c.DB.DataSource = oldSteppath + "/db"
		return nil
	})
	if err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
	for _, d := range []string{"config", "db"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			ts.Fatalf("stepinit: %v", err)
		}
	}
	if err := cfg.Save(filepath.Join(dir, "config", "ca.json")); err != nil {
		ts.Fatalf("stepinit: %v", err)
	}
}

// shortenIntermediate replaces the intermediate of the CA in DIR by one
// under the same root that expires in 10 days, so that the next run of
// lxc_103.star must re-issue it.
//
//	shorten DIR PASSWORD_FILE
func shortenIntermediate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: shorten DIR PASSWORD_FILE")
	}
	_, err := ca.Reissue(ca.Options{
		Dir:                  ts.MkAbs(args[0]),
		Password:             bytes.TrimSpace([]byte(ts.ReadFile(args[1]))),
		UID:                  100000,
		GID:                  100000,
		IntermediateLifetime: 10 * 24 * time.Hour,
	})
	if err != nil {
		ts.Fatalf("shorten: %v", err)
	}
}
