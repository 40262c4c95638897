package pvesim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	proxmox "github.com/luthermonson/go-proxmox"
)

func TestMainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	for _, want := range []string{"usage: phoenix sim serve", "--listen", "--token", "--root-password", "--tls-cert",
		"--state", "--nodes", "--task-duration", "--fault", "--debug-endpoint", "kind=lock-timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	bad := map[string][]string{
		"unknown flag":         {"--colour"},
		"unexpected argument":  {"extra"},
		"--nodes must be":      {"--nodes", "0"},
		"go together":          {"--tls-cert", "x.pem"},
		"unknown kind":         {"--fault", "kind=meteor"},
		"USER@REALM!ID=SECRET": {"--token", "nobody"},
	}
	for want, args := range bad {
		out.Reset()
		errb.Reset()
		if code := Main(args, &out, &errb); code != 2 {
			t.Errorf("%v exited %d, want 2", args, code)
		}
		if !strings.Contains(errb.String(), want) {
			t.Errorf("%v: stderr %q lacks %q", args, errb.String(), want)
		}
	}
}

func TestServeCommand(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	r := startServe(t, "--listen", "127.0.0.1:0", "--state", state, "--nodes", "2", "--task-duration", "5ms",
		"--fault", "kind=http,path=/cluster/resources,times=1,msg=flaky, really", "--debug-endpoint")
	text := r.out.String()
	grab := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("output lacks %s:\n%s", re, text)
		}
		return m[1]
	}
	url := grab(`URL:\s+(https://127\.0\.0\.1:\d+/api2/json)`)
	fp := grab(`Fingerprint:\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`)
	token := grab(`Token:\s+(root@pam!phoenix=[0-9a-f-]{36}) \(generated\)`)
	pw := grab(`Login:\s+root@pam password ([0-9a-f]{24}) \(generated\)`)
	grab(`nodes: (pve, pve2)`)
	grab(`State:\s+(.*state\.json)`)

	// Pin the printed fingerprint, as a PVE client does.
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the fingerprint check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if Fingerprint(raw[0]) != fp {
				return errors.New("fingerprint mismatch")
			}
			return nil
		},
	}}}
	id, secret, _ := ParseToken(token)
	c := proxmox.NewClient(url, proxmox.WithHTTPClient(pinned), proxmox.WithAPIToken(id, secret))
	nodes, err := c.Nodes(context.Background())
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	cl, _ := c.Cluster(context.Background())
	_, err = cl.Resources(context.Background())
	errContains(t, err, "500 flaky, really")
	if _, err := cl.Resources(context.Background()); err != nil {
		t.Fatal(err)
	}
	rootC := proxmox.NewClient(url, proxmox.WithHTTPClient(pinned),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: pw}))
	if _, err := rootC.Version(context.Background()); err != nil {
		t.Fatalf("generated password: %v", err)
	}
	if r.srv.Requests()["GET /nodes"] != 1 {
		t.Errorf("requests: %v", r.srv.Requests())
	}
	if code := r.stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, r.errb.String())
	}
	if _, err := c.Version(context.Background()); err == nil {
		t.Error("still serving after the context ended")
	}
	// The state outlives the process.
	again, err := New(Options{StateFile: state})
	if err != nil || len(again.Nodes()) != 2 {
		t.Fatalf("reload: %v %v", again, err)
	}
}

// Credentials given on the command line are not repeated in the summary;
// the block to paste exports the one login it uses (the password, which
// the example site's bind mounts need), since pasting is its purpose.
func TestServeGivenCredentialsOnlyInPasteBlock(t *testing.T) {
	r := startServe(t, "--listen", "127.0.0.1:0", "--token", testToken, "--root-password", testPassword)
	text := r.out.String()
	summary, block, _ := strings.Cut(text, "To run phoenix")
	if strings.Contains(summary, testSecret) || strings.Contains(summary, testPassword) || strings.Contains(block, testSecret) {
		t.Errorf("secrets given on the command line were printed beyond the block's one login:\n%s", text)
	}
	if !strings.Contains(block, "\nexport PHOENIX_PVE_PASSWORD="+testPassword+"\n") {
		t.Errorf("the block to paste lacks the password login:\n%s", text)
	}
	if !strings.Contains(text, "Token:       root@pam!phoenix=… (secret as given)") || !strings.Contains(text, "Login:       root@pam (password as given)") {
		t.Errorf("output:\n%s", text)
	}
}
