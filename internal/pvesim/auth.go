package pvesim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ticketLifetime is how long PVE accepts a ticket.
const ticketLifetime = 2 * time.Hour

// identity is who a request authenticated as.
type identity struct {
	user  string // "root@pam", or "root@pam!tokenid" for a token
	token bool
}

func (s *Server) authenticate(r *http.Request, rt *route) (identity, *apiError) {
	if rt.public {
		return identity{}, nil
	}
	if h := r.Header.Get("Authorization"); h != "" {
		v, ok := strings.CutPrefix(h, "PVEAPIToken=")
		if !ok {
			return identity{}, fail(http.StatusUnauthorized, "No ticket")
		}
		i := strings.LastIndex(v, "=")
		if i < 0 {
			return identity{}, fail(http.StatusUnauthorized, "invalid token value!")
		}
		id, secret := v[:i], v[i+1:]
		want, ok := s.tokens[id]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			return identity{}, fail(http.StatusUnauthorized, "permission denied - invalid PVE API token")
		}
		return identity{user: id, token: true}, nil
	}
	ticket := cookieValue(r, "PVEAuthCookie")
	if ticket == "" {
		return identity{}, fail(http.StatusUnauthorized, "No ticket")
	}
	user, ok := s.verifyTicket(ticket)
	if !ok {
		return identity{}, fail(http.StatusUnauthorized, "permission denied - invalid PVE ticket")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !s.verifyCSRF(r.Header.Get("CSRFPreventionToken"), user) {
			return identity{}, fail(http.StatusUnauthorized, "Permission denied - invalid csrf token")
		}
	}
	return identity{user: user}, nil
}

// cookieValue reads a cookie by hand: tickets hold characters that some
// clients percent-encode and others send raw.
func cookieValue(r *http.Request, name string) string {
	for _, h := range r.Header.Values("Cookie") {
		for _, part := range strings.Split(h, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				if strings.Contains(v, "%") {
					if u, err := url.PathUnescape(v); err == nil {
						v = u
					}
				}
				return v
			}
		}
	}
	return ""
}

func (s *Server) sign(msg string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(msg))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// newTicket makes "PVE:user:HEXTIME::signature", PVE's ticket layout.
func (s *Server) newTicket(user string, now time.Time) string {
	plain := fmt.Sprintf("PVE:%s:%08X", user, now.Unix())
	return plain + "::" + s.sign(plain)
}

func (s *Server) verifyTicket(t string) (string, bool) {
	plain, sig, ok := strings.Cut(t, "::")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(plain))) {
		return "", false
	}
	f := strings.Split(plain, ":")
	if len(f) != 3 || f[0] != "PVE" {
		return "", false
	}
	ts, err := strconv.ParseInt(f[2], 16, 64)
	if err != nil {
		return "", false
	}
	age := s.opts.Now().Sub(time.Unix(ts, 0))
	if age > ticketLifetime || age < -5*time.Minute {
		return "", false
	}
	return f[1], true
}

func (s *Server) newCSRF(user string, now time.Time) string {
	ts := fmt.Sprintf("%08X", now.Unix())
	return ts + ":" + s.sign("CSRF:"+ts+":"+user)
}

func (s *Server) verifyCSRF(tok, user string) bool {
	ts, sig, ok := strings.Cut(tok, ":")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign("CSRF:"+ts+":"+user))) {
		return false
	}
	t, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false
	}
	age := s.opts.Now().Sub(time.Unix(t, 0))
	return age <= ticketLifetime && age >= -5*time.Minute
}

// login is POST /access/ticket: root@pam's password, or a still valid
// ticket as the password to renew it.
func (s *Server) login(c *call) (any, error) {
	user := c.p["username"]
	if !strings.Contains(user, "@") && c.p["realm"] != "" {
		user += "@" + c.p["realm"]
	}
	pw := c.p["password"]
	ok := false
	if u, valid := s.verifyTicket(pw); valid && u == user {
		ok = true
	} else if user == "root@pam" && s.opts.RootPassword != "" &&
		subtle.ConstantTimeCompare([]byte(pw), []byte(s.opts.RootPassword)) == 1 {
		ok = true
	}
	if !ok {
		return nil, fail(http.StatusUnauthorized, "authentication failure")
	}
	return map[string]any{
		"username":            user,
		"ticket":              s.newTicket(user, c.now),
		"CSRFPreventionToken": s.newCSRF(user, c.now),
		"cap": map[string]any{
			"vms":     map[string]int{"VM.Allocate": 1, "VM.Audit": 1, "VM.Config.Disk": 1, "VM.Config.Options": 1, "VM.PowerMgmt": 1},
			"storage": map[string]int{"Datastore.Allocate": 1, "Datastore.AllocateSpace": 1, "Datastore.Audit": 1},
			"nodes":   map[string]int{"Sys.Audit": 1, "Sys.Modify": 1},
		},
	}, nil
}

// selfSigned makes a short-lived ECDSA certificate for host and loopback.
func selfSigned(host string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pvesim: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pvesim: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "pvesim", Organization: []string{"phoenix simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "pve"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" && ip == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pvesim: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
