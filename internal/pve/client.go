// Package pve is phoenix's client layer for the Proxmox VE API, over
// github.com/luthermonson/go-proxmox: connection and credentials, TLS
// trust, task waits that fail on a failed task, retries of reads and of
// lock timeouts, per-node serialisation of creates, and the semantic
// comparison of guest configs that ensure-style builtins need.
//
// The same code talks to a real PVE host and to the simulator
// (internal/pvesim): tests run the real client against the simulator.
package pve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

// DefaultURL is the API of the node phoenix runs on.
const DefaultURL = "https://127.0.0.1:8006/api2/json"

// Backoff is a retry schedule: up to Attempts tries in all, waiting
// Initial, then doubling up to Max, each wait jittered by ±25%.
type Backoff struct {
	Attempts     int
	Initial, Max time.Duration
}

func (b Backoff) delay(attempt int) time.Duration {
	d := b.Initial
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// Retry applies to reads that fail with a 5xx or no answer, and to
	// writes that are idempotent.
	Retry Backoff // default 5 attempts, 200ms..3s
	// LockRetry applies to every call that fails because PVE could not
	// lock the guest's config in time; the call did nothing then.
	LockRetry Backoff // default 10 attempts, 250ms..5s
	// RequestTimeout bounds one HTTP request.
	RequestTimeout time.Duration // default 60s
	// TaskTimeout bounds one task wait.
	TaskTimeout time.Duration // default 30m: template downloads are slow
	// Poll is the first interval between task status reads; it grows by
	// half each time up to MaxPoll.
	Poll, MaxPoll time.Duration // default 25ms, 1s
	// Progress, when set, receives a one-line progress display of long
	// task waits (the task's current log line and the time elapsed). Set
	// it only for a terminal.
	Progress      io.Writer
	ProgressAfter time.Duration // default 2s
	// TaskLines, when set, receives a timestamped line when each task
	// starts and when it ends: progress for logs, CI and cron, where
	// Progress's redrawn line does not work.
	TaskLines io.Writer
	// Logf reports retries; nil is quiet.
	Logf func(format string, args ...any)
	// Debugf, when set, receives one line per HTTP request: method, API
	// path (no query), status and duration. Never headers or bodies,
	// which carry tickets, tokens and passwords.
	Debugf func(format string, args ...any)
	// HTTPClient replaces the transport (tests); Trust is then ignored.
	HTTPClient *http.Client
}

func (o *Options) defaults() {
	if o.Retry.Attempts == 0 {
		o.Retry = Backoff{Attempts: 5, Initial: 200 * time.Millisecond, Max: 3 * time.Second}
	}
	if o.LockRetry.Attempts == 0 {
		o.LockRetry = Backoff{Attempts: 10, Initial: 250 * time.Millisecond, Max: 5 * time.Second}
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 60 * time.Second
	}
	if o.TaskTimeout == 0 {
		o.TaskTimeout = 30 * time.Minute
	}
	if o.Poll == 0 {
		o.Poll = 25 * time.Millisecond
	}
	if o.MaxPoll == 0 {
		o.MaxPoll = time.Second
	}
	if o.ProgressAfter == 0 {
		o.ProgressAfter = 2 * time.Second
	}
}

// Client is a connection to one PVE API (one node, or a cluster through
// any of its nodes). It is safe for concurrent use.
type Client struct {
	api  *proxmox.Client
	conn Connection
	opts Options

	locksMu   sync.Mutex
	nodeLocks map[string]*sync.Mutex

	inv inventory

	tmplMu sync.Mutex
	tmpl   map[string]map[string]bool // "node|storage" -> template volids

	progressMu sync.Mutex // one progress line at a time
	closeIdle  func()
}

// Close drops the client's idle connections, so that a server shutting
// down (the in-process simulator) need not wait for them.
func (c *Client) Close() { c.closeIdle() }

// Connect prepares a client for conn. A password login happens here, so
// that bad credentials fail early and parallel calls share one ticket.
func Connect(ctx context.Context, conn Connection, opts Options) (*Client, error) {
	opts.defaults()
	if conn.URL == "" {
		conn.URL = DefaultURL
	}
	u, err := NormalizeURL(conn.URL)
	if err != nil {
		return nil, err
	}
	conn.URL = u
	if conn.Auth.IsZero() {
		return nil, fmt.Errorf("no PVE credentials: set %s (USER@REALM!ID=SECRET) or %s (root@pam), or name a 0600 credentials file in the site config's pve.credentials_file", EnvToken, EnvPassword)
	}
	hc := opts.HTTPClient
	if hc == nil {
		tlsConf, err := conn.Trust.TLSConfig()
		if err != nil {
			return nil, fmt.Errorf("PVE TLS trust: %w", err)
		}
		hc = &http.Client{Transport: &http.Transport{
			TLSClientConfig:     tlsConf,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 15 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		}}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc = &http.Client{Transport: captureTransport{base: base, debugf: opts.Debugf}, Jar: hc.Jar, CheckRedirect: hc.CheckRedirect}
	closeIdle := hc.CloseIdleConnections

	popts := []proxmox.Option{proxmox.WithHTTPClient(hc), proxmox.WithUserAgent("phoenix")}
	if conn.Auth.IsToken() {
		popts = append(popts, proxmox.WithAPIToken(conn.Auth.TokenID, conn.Auth.TokenSecret))
	} else {
		popts = append(popts, proxmox.WithCredentials(&proxmox.Credentials{Username: conn.Auth.User, Password: conn.Auth.Password}))
	}
	c := &Client{
		api:       proxmox.NewClient(strings.TrimSuffix(conn.URL, "/"), popts...),
		conn:      conn,
		opts:      opts,
		nodeLocks: map[string]*sync.Mutex{},
		closeIdle: closeIdle,
	}
	if !conn.Auth.IsToken() {
		err := c.read(ctx, func(ctx context.Context) error { return c.api.CreateSession(ctx) })
		if err != nil {
			if isAuthError(err) {
				from := conn.Source.Auth
				if from == "" {
					from = "password given"
				}
				return nil, fmt.Errorf("PVE login as %s refused (%s): check the password; %w", conn.Auth.User, from, err)
			}
			return nil, fmt.Errorf("PVE login: %w", err)
		}
	}
	return c, nil
}

// Auth reports how the client authenticates (never the secret).
func (c *Client) Auth() Auth { return Auth{TokenID: c.conn.Auth.TokenID, User: c.conn.Auth.User} }

// URL is the API's base URL.
func (c *Client) URL() string { return c.conn.URL }

// API is the underlying go-proxmox client, for calls this package does
// not wrap. Its errors are not enriched or retried.
func (c *Client) API() *proxmox.Client { return c.api }

// nodeLock serialises creates and clones on one node: PVE's parallel
// creates on a node fail with "can't lock file ... got timeout".
func (c *Client) nodeLock(node string) *sync.Mutex {
	c.locksMu.Lock()
	defer c.locksMu.Unlock()
	m := c.nodeLocks[node]
	if m == nil {
		m = &sync.Mutex{}
		c.nodeLocks[node] = m
	}
	return m
}

// captureTransport keeps, for requests that ask for it, what an error
// answer said: go-proxmox drops the body of a 500 and the whole answer
// of a 401/403, where PVE puts the reason.
type captureTransport struct {
	base   http.RoundTripper
	debugf func(format string, args ...any)
}

func (t captureTransport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

type captureKey struct{}

type captured struct {
	mu      sync.Mutex
	method  string
	path    string
	status  int
	reason  string
	message string
	params  string
}

func (t captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	began := time.Now()
	res, err := t.base.RoundTrip(req)
	if t.debugf != nil {
		took := time.Since(began).Round(time.Millisecond)
		if err != nil {
			t.debugf("pve: %s %s: no answer after %s: %v", req.Method, apiPath(req.URL.Path), took, err)
		} else {
			// The code only: a status line may quote a parameter.
			t.debugf("pve: %s %s: %d in %s", req.Method, apiPath(req.URL.Path), res.StatusCode, took)
		}
	}
	cp, _ := req.Context().Value(captureKey{}).(*captured)
	if cp == nil {
		return res, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.method, cp.path = req.Method, apiPath(req.URL.Path)
	if err != nil || res.StatusCode < 400 {
		cp.status = 0
		return res, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	cp.status = res.StatusCode
	cp.reason = strings.TrimSpace(strings.TrimPrefix(res.Status, fmt.Sprint(res.StatusCode)))
	var pb struct {
		Message string          `json:"message"`
		Errors  json.RawMessage `json:"errors"`
	}
	cp.message, cp.params = "", ""
	if json.Unmarshal(body, &pb) == nil {
		cp.message = strings.TrimSpace(pb.Message)
		if len(pb.Errors) > 0 && string(pb.Errors) != "null" {
			cp.params = paramErrors(pb.Errors)
		}
	}
	return res, err
}

// paramErrors renders PVE's {"param": "message"} object sorted by key.
func paramErrors(raw json.RawMessage) string {
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+": "+strings.TrimSpace(m[k]))
	}
	return strings.Join(parts, "; ")
}

func apiPath(p string) string {
	if i := strings.Index(p, "/api2/json"); i >= 0 {
		return p[i+len("/api2/json"):]
	}
	return p
}

// once performs one request through f and turns its failure into an
// *APIError that carries PVE's message.
func (c *Client) once(ctx context.Context, f func(context.Context) error) error {
	cp := &captured{}
	rctx, cancel := context.WithTimeout(context.WithValue(ctx, captureKey{}, cp), c.opts.RequestTimeout)
	defer cancel()
	err := f(rctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		// Our own bound, not the caller's: no answer in time is a
		// transient failure like a refused connection.
		err = fmt.Errorf("no answer within %s: %w", c.opts.RequestTimeout, ErrRequestTimeout)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if err == nil {
		// go-proxmox reports only 400, 401/403 and 500/501 as errors; a
		// 502, 503 or 404 would otherwise pass as an empty success.
		if cp.status == 0 {
			return nil
		}
		err = fmt.Errorf("HTTP %d", cp.status)
	}
	ae := &APIError{Method: cp.method, Path: cp.path, Status: cp.status, Err: err}
	switch {
	case errors.Is(err, ErrRequestTimeout):
		ae.Status, ae.Message = 0, err.Error()
	case cp.status != 0:
		ae.Message = cp.message
		if ae.Message == "" {
			ae.Message = cp.reason
		}
		ae.Params = cp.params
		ae.Remedy = remedy(cp.status, ae.Message)
	default:
		ae.Message = c.explainTransport(err)
	}
	if ae.Method == "" {
		ae.Method, ae.Path = "request", c.conn.URL
	}
	return ae
}

// explainTransport names the remedy for a request that got no answer.
func (c *Client) explainTransport(err error) string {
	var fe *FingerprintError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &fe):
		return fe.Error()
	case errors.As(err, &ua), errors.As(err, &he), errors.As(err, &cve):
		return fmt.Sprintf("%v; the API's certificate is not trusted: pin it with %s (the SHA-256 that `pvenode cert info` shows), name its CA with %s (/etc/pve/pve-root-ca.pem on the node), or set the site config's pve.fingerprint or pve.ca_file", err, EnvFingerprint, EnvCAFile)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Sprintf("cannot reach the PVE API at %s (%v); check --target and that pveproxy runs", c.conn.URL, oe.Err)
	}
	return err.Error()
}

// read performs an idempotent request, retrying transient failures and
// lock timeouts.
func (c *Client) read(ctx context.Context, f func(context.Context) error) error {
	return c.retry(ctx, true, f)
}

// write performs a changing request. Lock timeouts are always retried (PVE
// did nothing); other transient failures only when idempotent is true.
func (c *Client) write(ctx context.Context, idempotent bool, f func(context.Context) error) error {
	return c.retry(ctx, idempotent, f)
}

func (c *Client) retry(ctx context.Context, idempotent bool, f func(context.Context) error) error {
	tries, locks, relogin := 0, 0, false
	for {
		err := c.once(ctx, f)
		if err == nil {
			return nil
		}
		var wait time.Duration
		switch {
		case !relogin && !c.conn.Auth.IsToken() && isUnauthorized(err):
			// The ticket expired and parallel calls raced to renew it;
			// go-proxmox lets only one of them log in again.
			relogin = true
		case IsLockTimeout(err) && locks+1 < c.opts.LockRetry.Attempts:
			wait = c.opts.LockRetry.delay(locks)
			locks++
		case idempotent && transient(err) && tries+1 < c.opts.Retry.Attempts:
			wait = c.opts.Retry.delay(tries)
			tries++
		default:
			var ae *APIError
			if errors.As(err, &ae) {
				ae.Attempts = tries + locks + 1
				if relogin {
					ae.Attempts++
				}
				if !idempotent && transient(err) && !refusal(err) {
					// A 5xx or no answer to a change: PVE may have made it.
					ae.Unknown = true
				}
			}
			return err
		}
		c.logf("pve: %v; retrying in %s", err, wait.Round(time.Millisecond))
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// get decodes GET path (below /api2/json, query included) into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	return c.read(ctx, func(ctx context.Context) error { return c.api.Get(ctx, path, v) })
}

// send performs a changing request with body data (nil for none).
func (c *Client) send(ctx context.Context, method, path string, data map[string]any, v any, idempotent bool) error {
	return c.write(ctx, idempotent, func(ctx context.Context) error {
		var body any
		if data != nil {
			body = data
		}
		switch method {
		case http.MethodPost:
			return c.api.Post(ctx, path, body, v)
		case http.MethodPut:
			return c.api.Put(ctx, path, body, v)
		case http.MethodDelete:
			if data != nil {
				return c.api.DeleteWithParams(ctx, path, data, v)
			}
			return c.api.Delete(ctx, path, v)
		}
		return fmt.Errorf("pve: unsupported method %s", method)
	})
}
