package pvesim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"phoenix/internal/machine"
	"strings"
	"sync"
	"time"
)

// apiPrefix is where PVE serves its JSON API.
const apiPrefix = "/api2/json"

// Options configure a Server.
type Options struct {
	// Nodes is the number of cluster nodes, named pve, pve2, ...
	// (default 1). With a StateFile that already exists, the file decides.
	Nodes int
	// Tokens are the API tokens accepted, each "USER@REALM!ID=SECRET".
	Tokens []string
	// RootPassword enables ticket login as root@pam; empty disables it.
	RootPassword string
	// TaskDuration is how long every worker task runs.
	TaskDuration time.Duration
	// StateFile persists the simulated cluster after every change; empty
	// keeps it in memory.
	StateFile string
	// WriteBehind, when positive, persists the StateFile at most once per
	// this interval instead of after every change, and Close writes the
	// last state. For a simulator that lives and dies with its only
	// client (phoenix exec --sim): writing the whole state after every
	// change makes a run that creates N guests cost N². A write that
	// fails is the error of the next request.
	WriteBehind time.Duration
	// DebugEndpoint serves the request counter at /debug/requests.
	DebugEndpoint bool
	// TokenPrivileges restricts tokens (by ID, "USER@REALM!ID") to the
	// privileges listed, on every path, as a privilege-separated token
	// with an ACL would be: writes that need another are refused with
	// PVE's 403, and /access/permissions tells. A token not listed has
	// every privilege.
	TokenPrivileges map[string][]string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is a stateful Proxmox VE API simulator.
type Server struct {
	opts   Options
	tokens map[string]string // "user@realm!id" -> secret
	key    []byte            // signs tickets and CSRF tokens
	faults *Faults

	mu      sync.Mutex // guards w and running
	w       *world
	running []*task
	version uint64 // bumped on every change, for persistence ordering

	persistMu sync.Mutex
	persisted uint64

	// With WriteBehind: dirty wakes the writer; writeErr is its last
	// failure, reported by the next request and by Close.
	dirty    chan struct{}
	quit     chan struct{}
	writerWG sync.WaitGroup
	writeErr error // guarded by persistMu

	reqMu    sync.Mutex
	requests map[string]int

	srvMu    sync.Mutex
	srv      *http.Server
	certDER  []byte
	serveErr chan error
}

// New builds a simulator, loading Options.StateFile when it exists and
// seeding a fresh cluster otherwise.
func New(opts Options) (*Server, error) {
	if opts.Nodes < 0 {
		return nil, fmt.Errorf("pvesim: nodes must not be negative, got %d", opts.Nodes)
	}
	if opts.TaskDuration < 0 {
		return nil, fmt.Errorf("pvesim: task duration must not be negative, got %s", opts.TaskDuration)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		tokens:   map[string]string{},
		faults:   &Faults{},
		requests: map[string]int{},
		key:      make([]byte, 32),
	}
	if _, err := rand.Read(s.key); err != nil {
		return nil, fmt.Errorf("pvesim: %w", err)
	}
	for _, t := range opts.Tokens {
		id, secret, err := ParseToken(t)
		if err != nil {
			return nil, err
		}
		s.tokens[id] = secret
	}
	if opts.StateFile != "" {
		w, ok, err := loadWorld(opts.StateFile)
		if err != nil {
			return nil, err
		}
		if ok {
			if opts.Nodes != 0 && opts.Nodes != len(w.Nodes) {
				return nil, fmt.Errorf("pvesim: state %s has %d nodes, asked for %d", opts.StateFile, len(w.Nodes), opts.Nodes)
			}
			s.w = w
			for _, t := range w.Tasks {
				if t.Running {
					s.running = append(s.running, t)
				}
			}
			s.startWriter()
			return s, nil
		}
	}
	n := opts.Nodes
	if n == 0 {
		n = 1
	}
	s.w = seedWorld(n, opts.Now())
	if opts.StateFile != "" {
		data, err := json.Marshal(s.w)
		if err != nil {
			return nil, fmt.Errorf("pvesim: %w", err)
		}
		if err := machine.WriteFileAtomic(opts.StateFile, data, 0o600, -1, -1); err != nil {
			return nil, fmt.Errorf("pvesim: write state %s: %w", opts.StateFile, err)
		}
	}
	s.startWriter()
	return s, nil
}

func (s *Server) startWriter() {
	if s.opts.StateFile == "" || s.opts.WriteBehind <= 0 {
		return
	}
	s.dirty = make(chan struct{}, 1)
	s.quit = make(chan struct{})
	s.writerWG.Add(1)
	go func() {
		defer s.writerWG.Done()
		for {
			select {
			case <-s.quit:
				return
			case <-s.dirty:
			}
			// Changes that come meanwhile share this write.
			select {
			case <-s.quit:
				return
			case <-time.After(s.opts.WriteBehind):
			}
			if err := s.flush(); err != nil {
				s.persistMu.Lock()
				s.writeErr = err
				s.persistMu.Unlock()
			}
		}
	}()
}

// flush writes the current state unless it is on disk already.
func (s *Server) flush() error {
	s.mu.Lock()
	version := s.version
	data, err := s.snapshot()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.persist(version, data)
}

// changed records a change to the world; the caller holds s.mu. It
// returns the state to persist once s.mu is released (nil with
// WriteBehind: the writer does it).
func (s *Server) changed() ([]byte, uint64, error) {
	s.version++
	if s.dirty != nil {
		select {
		case s.dirty <- struct{}{}:
		default:
		}
		return nil, 0, nil
	}
	data, err := s.snapshot()
	return data, s.version, err
}

// writeFailure is the write-behind writer's last failure, once.
func (s *Server) writeFailure() error {
	if s.opts.WriteBehind <= 0 {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	err := s.writeErr
	s.writeErr = nil
	return err
}

// ParseToken splits "USER@REALM!ID=SECRET" into the token ID and secret.
func ParseToken(t string) (id, secret string, err error) {
	i := strings.LastIndex(t, "=")
	if i < 0 {
		return "", "", fmt.Errorf("pvesim: token %q: want USER@REALM!ID=SECRET", redact(t))
	}
	id, secret = t[:i], t[i+1:]
	user, name, ok := strings.Cut(id, "!")
	if !ok || !strings.Contains(user, "@") || strings.HasPrefix(user, "@") || strings.HasSuffix(user, "@") || name == "" || secret == "" {
		return "", "", fmt.Errorf("pvesim: token %q: want USER@REALM!ID=SECRET", redact(t))
	}
	return id, secret, nil
}

// redact keeps a token's ID and hides its secret.
func redact(t string) string {
	if i := strings.LastIndex(t, "="); i >= 0 {
		return t[:i] + "=…"
	}
	return t
}

// Faults is where tests and flags inject failures.
func (s *Server) Faults() *Faults { return s.faults }

// Nodes lists the node names; the first is the local node.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.w.Nodes...)
}

// Requests counts the requests served, keyed by method and route pattern
// ("GET /nodes/{node}/lxc/{vmid}/config"); unrouted requests count under
// their literal path.
func (s *Server) Requests() map[string]int {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// ResetRequests zeroes the request counter.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.requests = map[string]int{}
}

// PushFile records that a file with the given SHA-256 was written into a
// running container, as `pct push` does; the simulator keeps only hashes.
func (s *Server) PushFile(node string, vmid int, path, sha256hex string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("pvesim: push %d:%s: path must be absolute", vmid, path)
	}
	if len(sha256hex) != 64 || strings.Trim(strings.ToLower(sha256hex), "0123456789abcdef") != "" {
		return fmt.Errorf("pvesim: push %d:%s: %q is not a SHA-256 hex digest", vmid, path, sha256hex)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(s.opts.Now())
	g := s.w.Guests[vmid]
	if g == nil || g.Type != "lxc" || g.Node != node {
		return fmt.Errorf("pvesim: push %d:%s: no container %d on node %s", vmid, path, vmid, node)
	}
	if !g.Running {
		return fmt.Errorf("pvesim: push %d:%s: container %d is not running", vmid, path, vmid)
	}
	s.w.Files[fileKey(vmid, path)] = strings.ToLower(sha256hex)
	data, version, err := s.changed()
	if err != nil {
		return err
	}
	return s.persist(version, data)
}

// MoveFile renames a file pushed into a running container, as `mv -f`
// inside it does.
func (s *Server) MoveFile(node string, vmid int, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(s.opts.Now())
	g := s.w.Guests[vmid]
	if g == nil || g.Type != "lxc" || g.Node != node || !g.Running {
		return fmt.Errorf("pvesim: mv %d:%s: no running container %d on node %s", vmid, from, vmid, node)
	}
	h, ok := s.w.Files[fileKey(vmid, from)]
	if !ok {
		return fmt.Errorf("pvesim: mv %d:%s: no such file", vmid, from)
	}
	delete(s.w.Files, fileKey(vmid, from))
	s.w.Files[fileKey(vmid, to)] = h
	data, version, err := s.changed()
	if err != nil {
		return err
	}
	return s.persist(version, data)
}

// FileHash returns the SHA-256 of a file pushed into container vmid.
func (s *Server) FileHash(vmid int, path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.w.Files[fileKey(vmid, path)]
	return h, ok
}

func fileKey(vmid int, path string) string { return fmt.Sprintf("%d:%s", vmid, path) }

// Handler serves the API (under /api2/json) over whatever transport the
// caller provides; Start adds HTTPS.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start serves HTTPS on listen ("127.0.0.1:0" picks a port). Without
// tlsCert/tlsKey it makes a self-signed certificate. It returns the API
// base URL and the certificate's SHA-256 fingerprint in PVE's colon-hex
// form.
func (s *Server) Start(listen, tlsCert, tlsKey string) (url, fingerprint string, err error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.srv != nil {
		return "", "", errors.New("pvesim: already started")
	}
	var cert tls.Certificate
	switch {
	case tlsCert != "" && tlsKey != "":
		cert, err = tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return "", "", fmt.Errorf("pvesim: load %s/%s: %w", tlsCert, tlsKey, err)
		}
	case tlsCert != "" || tlsKey != "":
		return "", "", errors.New("pvesim: --tls-cert and --tls-key go together")
	default:
		host, _, _ := net.SplitHostPort(listen)
		cert, err = selfSigned(host, s.opts.Now())
		if err != nil {
			return "", "", err
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", "", fmt.Errorf("pvesim: listen %s: %w", listen, err)
	}
	s.certDER = cert.Certificate[0]
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// pveproxy speaks HTTP/1.1; an empty map also keeps HTTP/2 off,
		// which the custom status lines need.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	s.serveErr = make(chan error, 1)
	tlsLn := tls.NewListener(ln, s.srv.TLSConfig)
	go func() { s.serveErr <- s.srv.Serve(tlsLn) }()
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port)) + apiPrefix, Fingerprint(s.certDER), nil
}

// Fingerprint formats the SHA-256 of a DER certificate as PVE shows it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// CertPEM is the serving certificate, once started.
func (s *Server) CertPEM() []byte {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.certDER == nil {
		return nil
	}
	return pemCert(s.certDER)
}

// HTTPClient returns a client that trusts exactly the serving certificate.
func (s *Server) HTTPClient() *http.Client {
	s.srvMu.Lock()
	der := s.certDER
	s.srvMu.Unlock()
	pool := x509.NewCertPool()
	if c, err := x509.ParseCertificate(der); err == nil {
		pool.AddCert(c)
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 16,
	}}
}

// Close stops serving and, with WriteBehind, writes the last state;
// otherwise it is already persisted after each change.
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close()
		}
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		s.srv = nil
	}
	if s.quit != nil {
		// No request comes any more: the writer's last word, then ours.
		close(s.quit)
		s.writerWG.Wait()
		s.quit = nil
		s.mu.Lock()
		s.dirty = nil
		s.mu.Unlock()
		s.persistMu.Lock()
		werr := s.writeErr
		s.writeErr = nil
		s.persistMu.Unlock()
		err = errors.Join(err, werr, s.flush())
	}
	return err
}

// snapshot serialises the world; the caller holds s.mu.
func (s *Server) snapshot() ([]byte, error) {
	if s.opts.StateFile == "" {
		return nil, nil
	}
	data, err := json.Marshal(s.w)
	if err != nil {
		return nil, fmt.Errorf("pvesim: encode state: %w", err)
	}
	return data, nil
}

// persist writes a snapshot unless a newer one is already on disk.
func (s *Server) persist(version uint64, data []byte) error {
	if s.opts.StateFile == "" || data == nil {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	if version <= s.persisted {
		return nil
	}
	if err := machine.WriteFileAtomic(s.opts.StateFile, data, 0o600, -1, -1); err != nil {
		return fmt.Errorf("pvesim: write state %s: %w", s.opts.StateFile, err)
	}
	s.persisted = version
	return nil
}

func (s *Server) count(key string) {
	s.reqMu.Lock()
	s.requests[key]++
	s.reqMu.Unlock()
}

// apiError is an answer other than 200, shaped like PVE's.
type apiError struct {
	status int
	msg    string
	errors map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func fail(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func paramFail(errs map[string]string) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: "Parameter verification failed.", errors: errs}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Read the whole body first: an answer sent before it is consumed can
	// reach the client as a reset connection.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeError(w, fail(http.StatusRequestEntityTooLarge, "request body too large"))
		return
	}
	if r.URL.Path == "/debug/requests" && s.opts.DebugEndpoint {
		s.serveDebug(w, r)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		writeError(w, fail(http.StatusNotFound, "Not Found"))
		return
	}
	if p == "" {
		p = "/"
	}
	rt, vars := matchRoute(r.Method, p)
	key := r.Method + " " + p
	if rt != nil {
		key = r.Method + " " + rt.pattern
	}
	s.count(key)
	pattern := ""
	if rt != nil {
		pattern = rt.pattern
	}
	if f, ok := s.faults.request(FaultDelay, r.Method, pattern, p); ok {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rt == nil {
		writeError(w, fail(http.StatusNotImplemented, "Method '%s %s' not implemented", r.Method, p))
		return
	}
	id, aerr := s.authenticate(r, rt)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if f, ok := s.faults.request(FaultHTTP, r.Method, pattern, p); ok {
		st, msg := f.httpStatus()
		writeError(w, fail(st, "%s", msg))
		return
	}
	raw, aerr := readParams(r, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	vals, aerr := rt.validate(raw, vars)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	c := &call{id: id, user: id.user, p: vals, vars: vars, node: vars["node"], typ: rt.guestType}
	s.mu.Lock()
	c.w = s.w
	c.now = s.opts.Now()
	if s.tick(c.now) {
		c.dirty = true
	}
	var data any
	err = s.checkNode(c)
	if err == nil {
		err = s.checkPrivileges(c, rt)
	}
	if err == nil {
		data, err = rt.handle(s, c)
	}
	var snap []byte
	var version uint64
	var perr error
	if c.dirty {
		snap, version, perr = s.changed()
	}
	s.mu.Unlock()
	if perr == nil && snap != nil {
		perr = s.persist(version, snap)
	}
	if perr == nil {
		perr = s.writeFailure()
	}
	if perr != nil {
		writeError(w, fail(http.StatusInternalServerError, "%s", perr))
		return
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = fail(http.StatusInternalServerError, "%s", err)
		}
		writeError(w, ae)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (s *Server) checkNode(c *call) error {
	if c.node != "" && !c.w.hasNode(c.node) {
		return fail(http.StatusInternalServerError, "no such cluster node '%s'", c.node)
	}
	return nil
}

func (s *Server) serveDebug(w http.ResponseWriter, r *http.Request) {
	if _, aerr := s.authenticate(r, &route{method: r.Method}); aerr != nil {
		writeError(w, aerr)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"data": s.Requests()})
	case http.MethodDelete:
		s.ResetRequests()
		writeJSON(w, http.StatusOK, map[string]any{"data": nil})
	default:
		writeError(w, fail(http.StatusNotImplemented, "Method '%s /debug/requests' not implemented", r.Method))
	}
}

// readParams merges the query string and the body, which may be JSON or
// form-encoded as PVE accepts both.
func readParams(r *http.Request, body []byte) (map[string]string, *apiError) {
	out := map[string]string{}
	errs := map[string]string{}
	add := func(k, v string) {
		if _, dup := out[k]; dup {
			errs[k] = "duplicate parameter"
			return
		}
		out[k] = v
	}
	addForm := func(q url.Values) {
		for k, vs := range q {
			if len(vs) > 1 {
				errs[k] = "duplicate parameter"
				continue
			}
			add(k, vs[0])
		}
	}
	query, err := parseForm(r.URL.RawQuery)
	if err != nil {
		return nil, fail(http.StatusBadRequest, "unable to parse query string - %s", err)
	}
	addForm(query)
	if len(bytes.TrimSpace(body)) > 0 {
		ct := r.Header.Get("Content-Type")
		ct, _, _ = strings.Cut(ct, ";")
		switch strings.TrimSpace(strings.ToLower(ct)) {
		case "application/json":
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return nil, fail(http.StatusBadRequest, "unable to parse JSON body - %s", err)
			}
			for k, v := range m {
				switch x := v.(type) {
				case nil: // PVE treats null as not given
				case string:
					add(k, x)
				case json.Number:
					add(k, x.String())
				case bool:
					add(k, map[bool]string{true: "1", false: "0"}[x])
				default:
					errs[k] = "type check failed - got a JSON array or object"
				}
			}
		case "application/x-www-form-urlencoded", "":
			q, err := parseForm(string(body))
			if err != nil {
				return nil, fail(http.StatusBadRequest, "unable to parse form body - %s", err)
			}
			addForm(q)
		default:
			return nil, fail(http.StatusUnsupportedMediaType, "unsupported content type '%s'", ct)
		}
	}
	if len(errs) > 0 {
		return nil, paramFail(errs)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"data":null}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "max-age=0")
	w.WriteHeader(status)
	w.Write(data)
}

// writeError answers like pveproxy: the message is the HTTP reason phrase
// (go-proxmox shows only that) and repeated in the JSON body.
func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"data": nil, "message": e.msg + "\n"}
	if e.errors != nil {
		body["errors"] = e.errors
	}
	data, _ := json.Marshal(body)
	reason := strings.Join(strings.Fields(e.msg), " ")
	if reason == "" || reason == http.StatusText(e.status) {
		writeJSONBytes(w, e.status, data)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeJSONBytes(w, e.status, data)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		writeJSONBytes(w, e.status, data)
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", e.status, reason)
	fmt.Fprintf(buf, "Content-Type: application/json;charset=UTF-8\r\n")
	fmt.Fprintf(buf, "Content-Length: %d\r\n", len(data))
	fmt.Fprintf(buf, "Date: %s\r\n", time.Now().UTC().Format(http.TimeFormat))
	fmt.Fprintf(buf, "Connection: close\r\n\r\n")
	buf.Write(data)
	buf.Flush()
}

func writeJSONBytes(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(data)
}
