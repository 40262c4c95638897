package pvesim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"phoenix/internal/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

const (
	testTokenID  = "root@pam!phoenix"
	testSecret   = "5f8e0a4c-1b2d-4e3f-9a8b-7c6d5e4f3a2b"
	testToken    = testTokenID + "=" + testSecret
	testPassword = "s3cret-root"
	testTemplate = "local:vztmpl/" + seedTemplate
)

// sim is a started simulator with clients for both kinds of login.
type sim struct {
	*Server
	url string
	fp  string
}

func startSim(t *testing.T, opts Options) *sim {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = []string{testToken}
	}
	if opts.RootPassword == "" {
		opts.RootPassword = testPassword
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u, fp, err := srv.Start("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &sim{Server: srv, url: u, fp: fp}
}

// tokenClient is go-proxmox with an API token, pinned to the sim's cert.
func (s *sim) tokenClient() *proxmox.Client {
	return proxmox.NewClient(s.url, proxmox.WithHTTPClient(s.HTTPClient()), proxmox.WithAPIToken(testTokenID, testSecret))
}

// rootClient is go-proxmox logging in as root@pam with a ticket.
func (s *sim) rootClient() *proxmox.Client {
	return proxmox.NewClient(s.url, proxmox.WithHTTPClient(s.HTTPClient()),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: testPassword}))
}

func node(t *testing.T, c *proxmox.Client, name string) *proxmox.Node {
	t.Helper()
	n, err := c.Node(context.Background(), name)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return n
}

// wait waits for a task and fails the test unless it ended OK. go-proxmox's
// Wait returns nil for failed tasks, so the exit status is checked here.
func wait(t *testing.T, task *proxmox.Task) {
	t.Helper()
	if task == nil {
		t.Fatal("no task")
	}
	if err := task.Wait(context.Background(), 5*time.Millisecond, 10*time.Second); err != nil {
		t.Fatalf("task %s: %v", task.UPID, err)
	}
	if task.ExitStatus != "OK" {
		t.Fatalf("task %s ended %q", task.UPID, task.ExitStatus)
	}
}

// reply is a raw API answer.
type reply struct {
	status int
	reason string // the status line's text
	body   map[string]any
}

func (r reply) data() any { return r.body["data"] }

// raw sends one request with a token (auth "token"), no credentials
// (auth ""), or a header map; form bodies when form is set, JSON when
// js is set.
func (s *sim) raw(t *testing.T, method, path string, form url.Values, js map[string]any, hdr map[string]string) reply {
	t.Helper()
	return s.rawURL(t, method, s.url+path, form, js, hdr)
}

// rawURL is raw for a full URL, e.g. outside /api2/json.
func (s *sim) rawURL(t *testing.T, method, u string, form url.Values, js map[string]any, hdr map[string]string) reply {
	t.Helper()
	var body io.Reader
	ct := ""
	switch {
	case form != nil:
		body = strings.NewReader(form.Encode())
		ct = "application/x-www-form-urlencoded"
	case js != nil:
		b, _ := json.Marshal(js)
		body = strings.NewReader(string(b))
		ct = "application/json"
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	var out reply
	out.status = res.StatusCode
	_, out.reason, _ = strings.Cut(res.Status, " ")
	data, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(data, &out.body); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, u, data, err)
	}
	return out
}

// rootAuth logs in as root@pam and returns the headers of a ticket write.
func (s *sim) rootAuth(t *testing.T) map[string]string {
	t.Helper()
	r := s.raw(t, "POST", "/access/ticket", url.Values{"username": {"root@pam"}, "password": {testPassword}}, nil, nil)
	d, _ := r.data().(map[string]any)
	if d == nil {
		t.Fatalf("login: %d %s", r.status, r.reason)
	}
	return map[string]string{"Cookie": "PVEAuthCookie=" + d["ticket"].(string), "CSRFPreventionToken": d["CSRFPreventionToken"].(string)}
}

var tokenAuth = map[string]string{"Authorization": "PVEAPIToken=" + testToken}

func (s *sim) get(t *testing.T, path string) reply {
	t.Helper()
	return s.raw(t, "GET", path, nil, nil, tokenAuth)
}

// waitUPID polls a task by UPID over raw HTTP until it stops.
func (s *sim) waitUPID(t *testing.T, upid string) map[string]any {
	t.Helper()
	node, _ := parseUPID(upid)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := s.get(t, "/nodes/"+node+"/tasks/"+url.PathEscape(upid)+"/status")
		st, _ := r.data().(map[string]any)
		if st == nil {
			t.Fatalf("task status %s: %d %s", upid, r.status, r.reason)
		}
		if st["status"] == "stopped" {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("task %s did not stop", upid)
	return nil
}

func errContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error containing %q, got none", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("want error containing %q, got %v", want, err)
	}
}

func isNotAuthorized(err error) bool { return errors.Is(err, proxmox.ErrNotAuthorized) }

// serveRun is `sim serve` running in the background for one test.
type serveRun struct {
	srv       *Server
	out, errb testkit.SyncBuffer
	cancel    context.CancelFunc
	done      chan int
	once      sync.Once
	code      int
}

// startServe runs `sim serve` with args until stop or the test's end, and
// waits until it serves.
func startServe(t *testing.T, args ...string) *serveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &serveRun{cancel: cancel, done: make(chan int, 1)}
	ready := make(chan *Server, 1)
	go func() {
		r.done <- serve(ctx, args, &r.out, &r.errb, func(s *Server) { ready <- s })
	}()
	t.Cleanup(func() { r.stop() })
	select {
	case r.srv = <-ready:
	case code := <-r.done:
		r.once.Do(func() { r.code = code })
		t.Fatalf("serve exited %d: %s", code, r.errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return r
}

// stop ends serve and returns its exit code.
func (r *serveRun) stop() int {
	r.once.Do(func() {
		r.cancel()
		r.code = <-r.done
	})
	return r.code
}
