package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"go.step.sm/crypto/pemutil"
)

// DefaultLeafLife is step-ca's default certificate lifetime.
const DefaultLeafLife = 24 * time.Hour

// SignLocal issues req's certificate with the intermediate of the CA in
// dir, in this process: what the CA at req.CAURL would return, for a
// simulated site where no CA daemon runs. The files are written as Issue
// writes them, key first. life zero is DefaultLeafLife; action is what
// the result reports (issue or renew).
func SignLocal(dir string, password []byte, req CertRequest, life time.Duration, action CertAction, now time.Time) (*CertResult, error) {
	const what = "ca.SignLocal"
	if err := req.validate(what); err != nil {
		return nil, err
	}
	if life <= 0 {
		life = DefaultLeafLife
	}
	data, err := readFile(req.Under, hostPath(dir, IntermediateCertFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", what, IntermediateCertFile, err)
	}
	inter := certs[0]
	keyPEM, err := readFile(req.Under, hostPath(dir, IntermediateKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	interKey, err := decryptKey(keyPEM, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %s %w", what, IntermediateKeyFile, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.Subject},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(life),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range req.sans() {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, &key.PublicKey, interKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	keyBlock, err := pemutil.Serialize(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := writeFileAtomic(req.Under, req.Key, pem.EncodeToMemory(keyBlock), modeKey, req.UID, req.GID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	chain := append(encodeCert(leaf), encodeCert(inter)...)
	if err := writeFileAtomic(req.Under, req.Cert, chain, modeCert, req.UID, req.GID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &CertResult{Action: action, Serial: leaf.SerialNumber.String(), NotAfter: leaf.NotAfter}, nil
}
