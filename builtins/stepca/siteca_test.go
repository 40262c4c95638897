package stepca

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"phoenix/internal/ca"
	"phoenix/internal/machine"
	"phoenix/internal/site"
)

// TestSimSiteCA: under --sim the site's CA answers at its DNS names and
// its guest's IP with the port of its address, and at nothing else.
func TestSimSiteCA(t *testing.T) {
	dir := t.TempDir()
	private := "/data/103/ssl"
	if err := os.MkdirAll(filepath.Join(dir, private), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, private, "password.txt"), []byte("ca-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := machine.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := &site.Site{LXCs: []*site.LXC{{VMID: 103, Network: site.LXCNetwork{IP: netip.MustParsePrefix("10.0.0.103/24")}}}}
	st.Hypervisor.CA = site.CA{
		VMID: 103, DNSNames: []string{"ca.phoenix.internal"}, Address: ":9000", PrivateHostPath: private,
		Durations: site.CADurations{Default: site.Duration{Duration: 168 * time.Hour}},
	}
	s := &Sim{Real: &Real{issuer: ca.NewIssuer(), root: root}, site: func() (*site.Site, error) { return st, nil }, cas: map[string]ca.Options{}}
	for url, want := range map[string]bool{
		"https://ca.phoenix.internal:9000": true,
		"https://10.0.0.103:9000":          true,
		"https://10.0.0.103:9001":          false,
		"https://10.0.0.102:9000":          false,
		"https://127.0.0.1:9000":           false,
		"https://ca.phoenix.internal":      false,
	} {
		o, ok, err := s.siteCA(url)
		if err != nil || ok != want {
			t.Errorf("%s: answered %v (%v), want %v", url, ok, err, want)
			continue
		}
		if ok && (o.Dir != private || string(o.Password) != "ca-password" || o.Durations.Default != 168*time.Hour) {
			t.Errorf("%s: %+v", url, o)
		}
	}
	// Without a site, nothing is the site's CA.
	s.site = func() (*site.Site, error) { return nil, nil }
	if _, ok, err := s.siteCA("https://10.0.0.103:9000"); ok || err != nil {
		t.Errorf("without a site: %v %v", ok, err)
	}
}
