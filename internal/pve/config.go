package pve

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Environment variables phoenix reads its PVE connection from. Credentials
// never come from the command line, where ps would show them.
const (
	EnvToken       = "PHOENIX_PVE_TOKEN"       // USER@REALM!ID=SECRET
	EnvPassword    = "PHOENIX_PVE_PASSWORD"    // password of EnvUser (default root@pam)
	EnvUser        = "PHOENIX_PVE_USER"        // login for EnvPassword
	EnvFingerprint = "PHOENIX_PVE_FINGERPRINT" // SHA-256 of the API certificate
	EnvCAFile      = "PHOENIX_PVE_CA_FILE"     // PEM CA that signed it
	EnvInsecure    = "PHOENIX_PVE_INSECURE"    // must be exactly InsecureValue
)

// InsecureValue is what EnvInsecure must say to skip certificate
// verification: asked for by name, never by a bare "1".
const InsecureValue = "skip-verify"

// DefaultUser is the login for password auth: bind mounts and most
// container features need root@pam.
const DefaultUser = "root@pam"

// Auth is how phoenix authenticates: an API token or a ticket login.
// Its String never shows a secret.
type Auth struct {
	TokenID     string // USER@REALM!ID
	TokenSecret string
	User        string // USER@REALM, for a ticket login
	Password    string
}

// IsToken reports whether the API is used with a token.
func (a Auth) IsToken() bool { return a.TokenID != "" }

// IsZero reports whether no credentials are set.
func (a Auth) IsZero() bool { return a.TokenID == "" && a.Password == "" }

func (a Auth) String() string {
	switch {
	case a.IsToken():
		return "API token " + a.TokenID
	case a.Password != "":
		return "password login as " + a.User
	}
	return "no credentials"
}

// GoString keeps %#v from printing the secret fields.
func (a Auth) GoString() string { return "pve.Auth{" + a.String() + "}" }

// ParseToken splits "USER@REALM!ID=SECRET".
func ParseToken(s string) (Auth, error) {
	i := strings.LastIndex(s, "=")
	if i < 0 {
		return Auth{}, errors.New("token: want USER@REALM!ID=SECRET")
	}
	id, secret := s[:i], s[i+1:]
	user, name, ok := strings.Cut(id, "!")
	if !ok || name == "" || secret == "" || !validUser(user) {
		return Auth{}, fmt.Errorf("token %s=…: want USER@REALM!ID=SECRET", id)
	}
	return Auth{TokenID: id, TokenSecret: secret}, nil
}

func validUser(u string) bool {
	name, realm, ok := strings.Cut(u, "@")
	return ok && name != "" && realm != "" && !strings.ContainsAny(u, " \t\n!=")
}

// Trust is how the API's certificate is verified. At most one of
// Fingerprint, CAFile and Insecure may be set; none means the system roots.
type Trust struct {
	Fingerprint string // hex SHA-256, colons allowed
	CAFile      string // host path of a PEM bundle
	CAPEM       []byte // PEM, instead of CAFile
	Insecure    bool
}

func (t Trust) count() int {
	n := 0
	for _, set := range []bool{t.Fingerprint != "", t.CAFile != "" || t.CAPEM != nil, t.Insecure} {
		if set {
			n++
		}
	}
	return n
}

// IsZero reports whether no trust setting is made.
func (t Trust) IsZero() bool { return t.count() == 0 }

// Source describes where the connection settings came from, for errors.
type Source struct {
	Auth  string // "environment", "credentials file /etc/..."
	Trust string
}

// Connection is everything needed to reach one PVE API.
type Connection struct {
	URL    string
	Auth   Auth
	Trust  Trust
	Source Source
}

// FromEnv reads credentials and trust from the environment. Either may
// come back empty: the site config can supply what the environment does not.
func FromEnv(getenv func(string) string) (Auth, Trust, error) {
	var a Auth
	tok, pw := getenv(EnvToken), getenv(EnvPassword)
	switch {
	case tok != "" && pw != "":
		return Auth{}, Trust{}, fmt.Errorf("both %s and %s are set; set only one", EnvToken, EnvPassword)
	case tok != "":
		var err error
		if a, err = ParseToken(tok); err != nil {
			return Auth{}, Trust{}, fmt.Errorf("%s: %w", EnvToken, err)
		}
	case pw != "":
		a = Auth{User: DefaultUser, Password: pw}
		if u := getenv(EnvUser); u != "" {
			if !validUser(u) {
				return Auth{}, Trust{}, fmt.Errorf("%s %q: want USER@REALM", EnvUser, u)
			}
			a.User = u
		}
	}
	t := Trust{Fingerprint: getenv(EnvFingerprint), CAFile: getenv(EnvCAFile)}
	switch v := getenv(EnvInsecure); v {
	case "":
	case InsecureValue:
		t.Insecure = true
	default:
		return Auth{}, Trust{}, fmt.Errorf("%s=%q: the only accepted value is %q", EnvInsecure, v, InsecureValue)
	}
	if t.count() > 1 {
		return Auth{}, Trust{}, fmt.Errorf("set only one of %s, %s and %s", EnvFingerprint, EnvCAFile, EnvInsecure)
	}
	if t.Fingerprint != "" {
		if _, err := ParseFingerprint(t.Fingerprint); err != nil {
			return Auth{}, Trust{}, fmt.Errorf("%s: %w", EnvFingerprint, err)
		}
	}
	return a, t, nil
}

// ReadCredentialsFile reads a credentials file: KEY=VALUE lines using the
// environment's names (PHOENIX_PVE_TOKEN, or PHOENIX_PVE_PASSWORD with an
// optional PHOENIX_PVE_USER); '#' starts a comment. The file must not be
// readable by group or others.
func ReadCredentialsFile(path string) (Auth, error) { return ReadCredentialsFileChecked(path, nil) }

// ReadCredentialsFileChecked is ReadCredentialsFile with the decision on
// the file's permission bits (taken from the opened file) left to
// checkPerm; nil refuses any group or other access.
func ReadCredentialsFileChecked(path string, checkPerm func(perm fs.FileMode) error) (Auth, error) {
	f, err := os.Open(path)
	if err != nil {
		return Auth{}, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Auth{}, fmt.Errorf("credentials file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Auth{}, fmt.Errorf("credentials file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); checkPerm != nil {
		if err := checkPerm(perm); err != nil {
			return Auth{}, err
		}
	} else if perm&0o077 != 0 {
		return Auth{}, fmt.Errorf("credentials file %s has mode %04o; it must not be readable by group or others: chmod 600 %s", path, perm, path)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		switch k {
		case EnvToken, EnvPassword, EnvUser:
		default:
			return Auth{}, fmt.Errorf("credentials file %s:%d: want %s=..., %s=... or %s=...", path, line, EnvToken, EnvPassword, EnvUser)
		}
		if !ok {
			return Auth{}, fmt.Errorf("credentials file %s:%d: %s without a value", path, line, k)
		}
		vals[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return Auth{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	a, _, err := FromEnv(func(k string) string { return vals[k] })
	if err != nil {
		return Auth{}, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if a.IsZero() {
		return Auth{}, fmt.Errorf("credentials file %s: holds neither %s nor %s", path, EnvToken, EnvPassword)
	}
	return a, nil
}

// ParseFingerprint accepts PVE's colon-separated form or plain hex.
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q: want a SHA-256 as 64 hex digits, colons allowed (pvenode cert info shows it)", s)
	}
	return b, nil
}

// TLSConfig builds the client TLS settings for t.
func (t Trust) TLSConfig() (*tls.Config, error) {
	if t.count() > 1 {
		return nil, errors.New("set only one of fingerprint, CA file and insecure skip-verify")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case t.Fingerprint != "":
		want, err := ParseFingerprint(t.Fingerprint)
		if err != nil {
			return nil, err
		}
		// A pinned certificate replaces chain and name checks: PVE's own
		// certificate is self-signed and names the node, not the URL.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return &FingerprintError{Got: colonHex(got[:]), Want: colonHex(want)}
			}
			return nil
		}
	case t.CAFile != "" || t.CAPEM != nil:
		pem := t.CAPEM
		if pem == nil {
			var err error
			if pem, err = os.ReadFile(t.CAFile); err != nil {
				return nil, fmt.Errorf("CA file: %w", err)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	case t.Insecure:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// FingerprintError is a certificate that does not match the pinned one.
type FingerprintError struct{ Got, Want string }

func (e *FingerprintError) Error() string {
	return fmt.Sprintf("the API's certificate has fingerprint %s, but %s is pinned; check the target, or update the pin (%s or the site config's pve.fingerprint) if the certificate was renewed", e.Got, e.Want, EnvFingerprint)
}

func colonHex(b []byte) string {
	var buf bytes.Buffer
	for i, x := range b {
		if i > 0 {
			buf.WriteByte(':')
		}
		fmt.Fprintf(&buf, "%02X", x)
	}
	return buf.String()
}

// APIPath is the path of PVE's JSON API below the host.
const APIPath = "/api2/json"

// NormalizeURL accepts the API URL the way PVE users write it:
// https://HOST:8006, with or without a trailing slash, or with the API
// path /api2/json, which is appended when missing. Without a port, PVE's
// 8006 is meant. Anything else (another scheme or path, a query, user
// info) is an error that shows the accepted forms.
func NormalizeURL(raw string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("PVE API URL %q: %s; want https://HOST:8006 (the path %s is added when missing)", raw, why, APIPath)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "https":
		if u.Scheme == "" {
			return bad("no https:// scheme")
		}
		return bad("the scheme must be https, PVE's API serves only TLS")
	case u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case u.User != nil:
		return bad("user info does not belong in the URL, credentials come from the environment")
	case u.RawQuery != "" || u.Fragment != "":
		return bad("a query or fragment does not belong in the URL")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port " + p + " is not a port number")
		}
	} else {
		u.Host = net.JoinHostPort(u.Hostname(), "8006")
	}
	// A proxy may serve the API below a prefix: keep a path that ends in
	// the API path.
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case p == "":
		p = APIPath
	case !strings.HasSuffix(p, APIPath):
		return bad("unexpected path " + u.Path)
	}
	return "https://" + u.Host + p, nil
}
