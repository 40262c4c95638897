package tlsprobe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

func writeRoot(t *testing.T, c *testkit.Cert) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.crt")
	if err := os.WriteFile(p, c.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerify(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	root := testkit.Issue(t, "Test Root", nil, true, year)
	inter := testkit.Issue(t, "Test Intermediate", root, true, year)
	leafEnd := time.Now().Add(10*24*time.Hour + time.Hour)
	leaf := testkit.Issue(t, "gateway.test", inter, false, leafEnd, "gateway.test", "127.0.0.1")
	addr := testkit.TLSServer(t, leaf.Chain(inter))
	rootFile := writeRoot(t, root)
	ctx := context.Background()

	r := Verify(ctx, addr, "gateway.test", rootFile)
	if !r.OK || r.Error != "" {
		t.Fatalf("verify: %+v", r)
	}
	if got := strings.Join(r.Chain, "|"); got != "CN=gateway.test|CN=Test Intermediate|CN=Test Root" {
		t.Errorf("chain %q", got)
	}
	if got := strings.Join(r.SANs, ","); got != "gateway.test,127.0.0.1" {
		t.Errorf("SANs %q", got)
	}
	if r.DaysLeft != 10 || !r.NotAfter.Equal(leaf.Cert.NotAfter) {
		t.Errorf("days left %d, not after %s", r.DaysLeft, r.NotAfter)
	}
	// The server name defaults to the address's host (an IP SAN here).
	if r := Verify(ctx, addr, "", rootFile); !r.OK {
		t.Errorf("by IP: %+v", r)
	}

	// Another name: fails, but still shows what was served.
	r = Verify(ctx, addr, "other.test", rootFile)
	if r.OK || !strings.Contains(r.Error, "other.test") {
		t.Errorf("wrong name: %+v", r)
	}
	if len(r.Chain) != 2 || r.Chain[0] != "CN=gateway.test" || len(r.SANs) != 2 {
		t.Errorf("wrong name, served chain: %+v", r)
	}

	// Another root: unknown authority.
	other := testkit.Issue(t, "Other Root", nil, true, year)
	r = Verify(ctx, addr, "gateway.test", writeRoot(t, other))
	if r.OK || !strings.Contains(r.Error, "unknown authority") {
		t.Errorf("other root: %+v", r)
	}

	// An expired leaf: negative days.
	old := testkit.Issue(t, "old.test", inter, false, time.Now().Add(-30*time.Minute), "old.test")
	r = Verify(ctx, testkit.TLSServer(t, old.Chain(inter)), "old.test", rootFile)
	if r.OK || !strings.Contains(r.Error, "expired") || r.DaysLeft != -1 {
		t.Errorf("expired: %+v", r)
	}

	// Nothing listening, bad root file, bad address.
	closed := testkit.FreeAddr(t)
	if r := Verify(ctx, closed, "x", rootFile); r.OK || !strings.Contains(r.Error, "refused") {
		t.Errorf("closed port: %+v", r)
	}
	if r := Verify(ctx, addr, "gateway.test", filepath.Join(t.TempDir(), "none.crt")); r.OK || !strings.Contains(r.Error, "root") {
		t.Errorf("missing root: %+v", r)
	}
	if r := Verify(ctx, "nocolon", "x", rootFile); r.OK || !strings.Contains(r.Error, "nocolon") {
		t.Errorf("bad address: %+v", r)
	}
}
