package ca

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"phoenix/internal/machine"

	"go.step.sm/crypto/pemutil"
)

// Fingerprint is the lower-case hex SHA-256 of a certificate's DER, as
// step prints it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ShortFingerprint is how messages name a root: the first 12 hex digits
// of its fingerprint, or "unknown".
func ShortFingerprint(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	if fp == "" {
		return "unknown"
	}
	return fp
}

// parseCerts returns every CERTIFICATE block in data; any other block or
// trailing garbage is an error.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("trailing data after the last PEM block")
	}
	return certs, nil
}

// readCert reads a file that must hold exactly one certificate. name is
// the path reported in errors.
func readCert(r *machine.Root, path, name string) (*x509.Certificate, error) {
	data, err := readFile(rootOr(r), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s: holds %d certificates, want 1", name, len(certs))
	}
	return certs[0], nil
}

// errWrongPassword is wrapped by decryptKey when the key does not decrypt.
var errWrongPassword = errors.New("does not decrypt with the given password")

// decryptKey parses a PEM private key, decrypting it with password when it
// is encrypted. It never prompts (pemutil.Parse would, on a terminal).
func decryptKey(data, password []byte) (crypto.Signer, error) {
	b, rest := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("more than one PEM block")
	}
	der := b.Bytes
	encrypted := b.Headers["Proc-Type"] == "4,ENCRYPTED" || b.Type == "ENCRYPTED PRIVATE KEY"
	if encrypted {
		if len(password) == 0 {
			return nil, errors.New("is encrypted and no password was given")
		}
		var err error
		der, err = pemutil.DecryptPEMBlock(b, password)
		if err != nil {
			return nil, errWrongPassword
		}
	}
	var key any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
	}
	if err != nil {
		if encrypted {
			// Legacy PEM encryption cannot always tell a wrong password
			// from a bad key: the result is noise that does not parse.
			return nil, errWrongPassword
		}
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", key)
	}
	return s, nil
}

// readKey reads and decrypts a private key file; name is the path reported
// in errors.
func readKey(r *machine.Root, path, name string, password []byte) (crypto.Signer, error) {
	data, err := readFile(rootOr(r), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	k, err := decryptKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// encryptKey serialises key as step does (legacy PEM encryption, AES-256).
func encryptKey(key crypto.Signer, password []byte) ([]byte, error) {
	var opts []pemutil.Options
	if len(password) > 0 {
		opts = append(opts, pemutil.WithPassword(password))
	}
	b, err := pemutil.Serialize(key, opts...)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(b), nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// keyMatches reports whether key is the private half of c's public key.
func keyMatches(c *x509.Certificate, key crypto.Signer) bool {
	pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// jsonError describes a JSON decoding error with its line and column,
// keeping the decoder's error as its cause.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the offending byte: point at it.
		line, col := position(data, se.Offset-1)
		return &posError{fmt.Sprintf("line %d, column %d: %v", line, col, se), err}
	case errors.As(err, &te):
		// Offset is the end of the value: its line is what is certain.
		line, _ := position(data, te.Offset)
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return &posError{fmt.Sprintf("line %d: field %q: cannot use JSON %s as %s", line, field, te.Value, te.Type), err}
	default:
		return err
	}
}

type posError struct {
	msg string
	err error
}

func (e *posError) Error() string { return e.msg }
func (e *posError) Unwrap() error { return e.err }

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	line, col = 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonUnmarshal decodes data into v; errors keep their offsets for
// jsonError.
func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
