package pve_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	a, tr, err := pve.FromEnv(env(map[string]string{pve.EnvToken: testToken, pve.EnvFingerprint: strings.Repeat("ab:", 31) + "ab"}))
	if err != nil {
		t.Fatal(err)
	}
	if !a.IsToken() || a.TokenID != "root@pam!phoenix" || tr.Fingerprint == "" {
		t.Fatalf("auth %v trust %+v", a, tr)
	}
	if s := fmt.Sprintf("%v %#v %s", a, a, a); strings.Contains(s, "5c1d2a6e") {
		t.Fatalf("the secret shows in %q", s)
	}
	a, _, err = pve.FromEnv(env(map[string]string{pve.EnvPassword: "pw"}))
	if err != nil || a.User != "root@pam" || a.Password != "pw" {
		t.Fatalf("password login: %v %v", a, err)
	}
	if strings.Contains(fmt.Sprint(a), "pw") {
		t.Fatalf("password shows in %v", a)
	}
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{pve.EnvToken: testToken, pve.EnvPassword: "pw"}, "set only one"},
		{map[string]string{pve.EnvToken: "root@pam=secret"}, "want USER@REALM!ID=SECRET"},
		{map[string]string{pve.EnvInsecure: "1"}, `the only accepted value is "skip-verify"`},
		{map[string]string{pve.EnvInsecure: "skip-verify", pve.EnvCAFile: "/x.pem"}, "set only one of"},
		{map[string]string{pve.EnvFingerprint: "abc"}, "want a SHA-256"},
		{map[string]string{pve.EnvPassword: "pw", pve.EnvUser: "root"}, "want USER@REALM"},
	} {
		if _, _, err := pve.FromEnv(env(c.env)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromEnv(%v) = %v, want %q", c.env, err, c.want)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("ok", "# PVE API\nPHOENIX_PVE_PASSWORD = s3cret\n", 0o600)
	a, err := pve.ReadCredentialsFile(p)
	if err != nil || a.Password != "s3cret" || a.User != "root@pam" {
		t.Fatalf("%v %v", a, err)
	}
	p = write("tok", pve.EnvToken+"="+testToken+"\n", 0o400)
	if a, err := pve.ReadCredentialsFile(p); err != nil || !a.IsToken() {
		t.Fatalf("%v %v", a, err)
	}
	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"open", pve.EnvPassword + "=x\n", 0o644, "mode 0644; it must not be readable by group or others: chmod 600"},
		{"group", pve.EnvPassword + "=x\n", 0o640, "mode 0640"},
		{"unknown", "password=x\n", 0o600, ":1: want PHOENIX_PVE_TOKEN=..."},
		{"empty", "# nothing\n", 0o600, "holds neither"},
		{"both", pve.EnvPassword + "=x\n" + pve.EnvToken + "=" + testToken + "\n", 0o600, "set only one"},
	} {
		_, err := pve.ReadCredentialsFile(write(c.name, c.content, c.mode))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "x\n") {
			t.Errorf("%s: error shows the secret: %v", c.name, err)
		}
	}
	if _, err := pve.ReadCredentialsFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestTLSTrust(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	ctx := context.Background()
	connect := func(tr pve.Trust) error {
		c, err := pve.Connect(ctx, pve.Connection{URL: e.URL, Auth: tokenAuth(t), Trust: tr}, pvesimtest.Fast)
		if err != nil {
			return err
		}
		_, err = c.Nodes(ctx)
		return err
	}
	if err := connect(pve.Trust{Fingerprint: e.Fingerprint}); err != nil {
		t.Fatalf("pinned fingerprint: %v", err)
	}
	if err := connect(pve.Trust{Fingerprint: strings.ToLower(strings.ReplaceAll(e.Fingerprint, ":", ""))}); err != nil {
		t.Fatalf("fingerprint without colons: %v", err)
	}
	if err := connect(pve.Trust{CAFile: e.certPEMPath}); err != nil {
		t.Fatalf("CA file: %v", err)
	}
	if err := connect(pve.Trust{Insecure: true}); err != nil {
		t.Fatalf("skip-verify: %v", err)
	}
	wrong := strings.Repeat("00:", 31) + "00"
	err := connect(pve.Trust{Fingerprint: wrong})
	var fe *pve.FingerprintError
	if !errors.As(err, &fe) || fe.Got != e.Fingerprint || !strings.Contains(err.Error(), pve.EnvFingerprint) {
		t.Fatalf("wrong pin: %v", err)
	}
	err = connect(pve.Trust{})
	if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), pve.EnvCAFile) {
		t.Fatalf("system roots against a self-signed certificate: %v", err)
	}
}

func TestConnectErrors(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	ctx := context.Background()
	tr := pve.Trust{Fingerprint: e.Fingerprint}
	_, err := pve.Connect(ctx, pve.Connection{URL: e.URL, Auth: pve.Auth{User: "root@pam", Password: "wrong"}, Trust: tr, Source: pve.Source{Auth: "environment"}}, pvesimtest.Fast)
	if err == nil || !strings.Contains(err.Error(), "PVE login as root@pam refused (environment)") {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") && !strings.Contains(err.Error(), "refused") {
		t.Fatalf("password in error: %v", err)
	}
	bad, _ := pve.ParseToken("root@pam!phoenix=00000000-0000-0000-0000-000000000000")
	c, err := pve.Connect(ctx, pve.Connection{URL: e.URL, Auth: bad, Trust: tr}, pvesimtest.Fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Nodes(ctx); err == nil || !strings.Contains(err.Error(), "401 permission denied - invalid PVE API token") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := pve.Connect(ctx, pve.Connection{URL: e.URL, Trust: tr}, pvesimtest.Fast); err == nil || !strings.Contains(err.Error(), pve.EnvToken) {
		t.Fatalf("no credentials: %v", err)
	}
	for _, u := range []string{"http://127.0.0.1:8006/api2/json", "https://127.0.0.1:8006/api2"} {
		if _, err := pve.Connect(ctx, pve.Connection{URL: u, Auth: tokenAuth(t), Trust: tr}, pvesimtest.Fast); err == nil {
			t.Errorf("URL %s accepted", u)
		}
	}
	// Nothing listens: the error says where it tried.
	c, err = pve.Connect(ctx, pve.Connection{URL: "https://127.0.0.1:1/api2/json", Auth: tokenAuth(t), Trust: tr}, pvesimtest.Fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Nodes(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach the PVE API at https://127.0.0.1:1/api2/json") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://pve.example:8006":                "https://pve.example:8006/api2/json",
		"https://pve.example:8006/":               "https://pve.example:8006/api2/json",
		"https://pve.example:8006/api2/json":      "https://pve.example:8006/api2/json",
		"https://pve.example:8006/api2/json/":     "https://pve.example:8006/api2/json",
		"https://10.0.0.2":                        "https://10.0.0.2:8006/api2/json",
		"https://[::1]:8006":                      "https://[::1]:8006/api2/json",
		" https://pve.example:443/pve/api2/json ": "https://pve.example:443/pve/api2/json",
	} {
		got, err := pve.NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"pve.example:8006":                     "scheme",
		"http://pve.example:8006":              "must be https",
		"https://":                             "no host",
		"https://pve.example:99999":            "not a port",
		"https://pve.example:8006/api2":        "unexpected path /api2",
		"https://root:pw@pve.example:8006":     "user info",
		"https://pve.example:8006/api2/json?x": "query",
	} {
		_, err := pve.NormalizeURL(in)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "want https://HOST:8006") {
			t.Errorf("NormalizeURL(%q): %v, want an error saying %q", in, err, why)
		}
	}
}
