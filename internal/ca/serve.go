package ca

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/smallstep/certificates/authority/config"
	stepca "github.com/smallstep/certificates/ca"
	"github.com/smallstep/certificates/db"
)

// ServeOptions adjust how Serve runs a CA whose ca.json was written for
// another system.
type ServeOptions struct {
	// PathMap maps a path prefix in ca.json (a guest path such as
	// /etc/step-ca/ssl) to the host directory holding it. The longest
	// matching prefix wins. The file itself is never rewritten.
	PathMap map[string]string
	// Listen replaces ca.json's address; port 0 picks a free port. Its
	// host is added to the CA's DNS names (in memory), so that clients
	// can reach the CA by it and tokens for it are accepted.
	Listen string
	// RequestLog writes one Common Log Format line per request to the
	// process's standard error (step-ca's logger cannot be given a
	// writer). Only the fixed CLF fields are printed: never tokens,
	// certificates or keys.
	RequestLog bool
}

// Server is a CA running in this process.
type Server struct {
	ca          *stepca.CA
	url         string
	root        string
	fingerprint string
	done        chan struct{}
	runErr      error
	stopOnce    sync.Once
	stopErr     error
}

// URL is where the CA answers, e.g. https://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// Root is the host path of the CA's root certificate.
func (s *Server) Root() string { return s.root }

// Fingerprint is the root certificate's fingerprint.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Done is closed when the server has stopped, by Stop or by failing.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped by itself (nil after Stop).
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.runErr
	default:
		return nil
	}
}

// Stop shuts the CA down (about a second: step-ca drains gracefully) and
// releases its database.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return // Run failed and stopped the CA itself
		default:
		}
		s.stopErr = s.ca.Stop()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			if s.stopErr == nil {
				s.stopErr = errors.New("ca.Serve: server did not stop within 30s")
			}
		}
	})
	return s.stopErr
}

// LoadConfig reads a ca.json and rewrites its paths through pathMap in
// memory. Parse errors name the file, line and column.
func LoadConfig(configPath string, pathMap map[string]string) (*config.Config, error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, err
	}
	var cfg config.Config
	if err := jsonUnmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, jsonError(data, err))
	}
	cfg.Init()
	mp := newPathMapper(pathMap)
	for i := range cfg.Root {
		cfg.Root[i] = mp.mapPath(cfg.Root[i])
	}
	for i := range cfg.FederatedRoots {
		cfg.FederatedRoots[i] = mp.mapPath(cfg.FederatedRoots[i])
	}
	cfg.IntermediateCert = mp.mapPath(cfg.IntermediateCert)
	cfg.IntermediateKey = mp.mapPath(cfg.IntermediateKey)
	if cfg.DB != nil {
		cfg.DB.DataSource = mp.mapPath(cfg.DB.DataSource)
		if cfg.DB.ValueDir != "" {
			cfg.DB.ValueDir = mp.mapPath(cfg.DB.ValueDir)
		}
	}
	if cfg.SSH != nil {
		cfg.SSH.HostKey = mp.mapPath(cfg.SSH.HostKey)
		cfg.SSH.UserKey = mp.mapPath(cfg.SSH.UserKey)
	}
	return &cfg, nil
}

type pathMapper struct {
	prefixes []string
	m        map[string]string
}

func newPathMapper(m map[string]string) pathMapper {
	pm := pathMapper{m: map[string]string{}}
	for g, h := range m {
		g = path.Clean(g)
		pm.m[g] = h
		pm.prefixes = append(pm.prefixes, g)
	}
	// Longest first, so that /a/b wins over /a.
	sort.Slice(pm.prefixes, func(i, j int) bool {
		if len(pm.prefixes[i]) != len(pm.prefixes[j]) {
			return len(pm.prefixes[i]) > len(pm.prefixes[j])
		}
		return pm.prefixes[i] < pm.prefixes[j]
	})
	return pm
}

func (pm pathMapper) mapPath(p string) string {
	if p == "" || !path.IsAbs(p) {
		return p
	}
	c := path.Clean(p)
	for _, g := range pm.prefixes {
		h := filepath.FromSlash(pm.m[g])
		switch rest, ok := under(g, c); {
		case c == g:
			return h
		case g == "/":
			return filepath.Join(h, filepath.FromSlash(c))
		case ok:
			return filepath.Join(h, filepath.FromSlash(rest))
		}
	}
	return p
}

// Serve runs the CA configured by configPath in this process until Stop.
// password decrypts the CA keys. It returns once the CA answers /health.
// Without a logger the CA prints no request logs (step-ca's own logger
// prints tokens; see ServeOptions.RequestLog for a safe one).
func Serve(configPath string, password []byte, opts ServeOptions) (*Server, error) {
	const what = "ca.Serve"
	if len(password) == 0 {
		return nil, fmt.Errorf("%s: empty CA password", what)
	}
	cfg, err := LoadConfig(configPath, opts.PathMap)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cfg.Logger = nil
	if opts.RequestLog {
		cfg.Logger = []byte(`{"format": "common"}`)
	}
	listen := cfg.Address
	if opts.Listen != "" {
		listen = opts.Listen
	}
	if cfg.Address, err = resolveListen(listen); err != nil {
		return nil, fmt.Errorf("%s: listen %q: %w", what, listen, err)
	}
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: address %q: %w", what, configPath, cfg.Address, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	if !contains(cfg.DNSNames, host) {
		cfg.DNSNames = append(append([]string(nil), cfg.DNSNames...), host)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", what, configPath, err)
	}
	if len(cfg.Root) == 0 {
		return nil, fmt.Errorf("%s: %s: no root", what, configPath)
	}
	root, err := readCert(nil, cfg.Root[0], cfg.Root[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	// A wrong password is the usual failure: say so plainly, before
	// anything opens the database.
	if _, err := readKey(nil, cfg.IntermediateKey, cfg.IntermediateKey, password); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Open the database here, so that a failed start can close it:
	// step-ca would keep badger's directory lock until the process ends.
	var database db.AuthDB
	if cfg.DB != nil {
		if database, err = db.New(cfg.DB); err != nil {
			return nil, fmt.Errorf("%s: %s: database: %w", what, configPath, err)
		}
	}
	caOpts := []stepca.Option{stepca.WithPassword(password), stepca.WithQuiet(true)}
	if database != nil {
		caOpts = append(caOpts, stepca.WithDatabase(database))
	}
	srv, err := stepca.New(cfg, caOpts...)
	if err != nil {
		if database != nil {
			database.Shutdown()
		}
		return nil, fmt.Errorf("%s: %s: %w", what, configPath, err)
	}
	s := &Server{
		ca:          srv,
		url:         "https://" + net.JoinHostPort(host, port),
		root:        cfg.Root[0],
		fingerprint: Fingerprint(root),
		done:        make(chan struct{}),
	}
	go func() {
		var err error
		defer func() {
			// step-ca's Run, when its listener fails, waits for Stop and
			// then stops the CA a second time, which panics.
			if r := recover(); r != nil && err == nil {
				err = fmt.Errorf("step-ca stopped: %v", r)
			}
			s.runErr = err
			close(s.done)
		}()
		err = srv.Run()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}()
	if err := s.waitHealthy(15 * time.Second); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

func (s *Server) waitHealthy(limit time.Duration) error {
	client, err := stepca.NewClient(s.url, stepca.WithRootFile(s.root))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("the CA stopped while starting: %v", s.runErr)
		default:
		}
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		_, err := client.HealthWithContext(hctx)
		hcancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s/health within %s: %v", s.url, limit, last)
		case <-s.done:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// resolveListen checks that addr can be listened on and turns port 0 into
// a free port: step-ca's Run listens on the configured address itself, so
// the port must be known beforehand.
func resolveListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	// Bind once to fail early: step-ca's Run does not return when its
	// listener fails (see Serve).
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ = net.SplitHostPort(l.Addr().String())
	return net.JoinHostPort(host, port), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
