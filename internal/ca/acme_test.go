package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	stepacme "github.com/smallstep/certificates/acme"
	"golang.org/x/crypto/acme"
)

// TestACMEOrder places an order against the served CA the way Traefik
// would: account, order, http-01 answered on loopback, finalize.
func TestACMEOrder(t *testing.T) {
	srv := sharedServer(t)

	// The http-01 responder. step-ca fetches port 80 unless told
	// otherwise; its test knob points it at ours.
	var mu sync.Mutex
	answers := map[string]string{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a, ok := answers[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(a))
	})}
	go hs.Serve(l)
	defer hs.Close()
	port := l.Addr().(*net.TCPAddr).Port
	stepacme.InsecurePortHTTP01 = port
	defer func() { stepacme.InsecurePortHTTP01 = 0 }()

	roots, err := rootPool(nil, srv.Root())
	if err != nil {
		t.Fatal(err)
	}
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{
		Key:          accountKey,
		DirectoryURL: srv.URL() + "/acme/acme/directory",
		HTTPClient: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	const domain = "localhost"
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(domain))
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				chal = c
			}
		}
		if chal == nil {
			t.Fatalf("no http-01 challenge in %+v", z.Challenges)
		}
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		answers[client.HTTP01ChallengePath(chal.Token)] = resp
		mu.Unlock()
		if _, err := client.Accept(ctx, chal); err != nil {
			t.Fatalf("accept: %v", err)
		}
		if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("authorization: %v", err)
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
	}, certKey)
	ders, _, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	var chain []*x509.Certificate
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("chain of %d certificates", len(chain))
	}
	if err := verifies(t, chain, srv.Root()); err != nil {
		t.Errorf("ACME certificate: %v", err)
	}
	if strings.Join(chain[0].DNSNames, ",") != domain {
		t.Errorf("SANs %v", chain[0].DNSNames)
	}
	if d := chain[0].NotAfter.Sub(chain[0].NotBefore); d < testLeafDef-time.Hour || d > testLeafDef+2*time.Hour {
		t.Errorf("ACME leaf lives %s, want the configured %s", d, testLeafDef)
	}
}
