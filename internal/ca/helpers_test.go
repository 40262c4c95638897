package ca

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

const (
	testGuest   = "/etc/step-ca/ssl"
	testPW      = "ca-password"
	testProvPW  = "provisioner-password"
	testProv    = "admin"
	testCAName  = "Phoenix Test"
	testLeafDef = 48 * time.Hour
)

var scratch string // removed by TestMain

func TestMain(m *testing.M) {
	// Tests make CAs with the pki package too, as step ca init does.
	var remove func()
	scratch, remove = testkit.StepPath("phoenix-ca-test-")
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	remove()
	os.Exit(code)
}

// owner is who test CAs belong to: an unprivileged container's mapped
// root when the tests run as root, else the process's.
func owner() (int, int) {
	if os.Getuid() == 0 {
		return 100000, 100000
	}
	return -1, -1
}

func testOptions(dir string) Options {
	uid, gid := owner()
	return Options{
		Dir:                 dir,
		GuestDir:            testGuest,
		Name:                testCAName,
		DNSNames:            []string{"ca.test.internal", "localhost"},
		Address:             ":9000",
		Provisioner:         testProv,
		Password:            []byte(testPW),
		ProvisionerPassword: []byte(testProvPW),
		ACME:                true,
		Durations:           Durations{Default: testLeafDef, Max: 30 * 24 * time.Hour},
		UID:                 uid,
		GID:                 gid,
	}
}

var shared struct {
	once     sync.Once
	dir      string
	res      *Result
	err      error
	srvOnce  sync.Once
	srv      *Server
	srvErr   error
	log      testkit.SyncBuffer
	logReady chan struct{}
}

// sharedCA is one CA made by Create, reused by the tests that only read
// it or copy it (key generation is the slow part).
func sharedCA(t *testing.T) (string, *Result) {
	t.Helper()
	shared.once.Do(func() {
		shared.dir = filepath.Join(scratch, "shared", "ssl")
		shared.res, shared.err = Create(testOptions(shared.dir))
	})
	if shared.err != nil {
		t.Fatalf("creating the shared CA: %v", shared.err)
	}
	return shared.dir, shared.res
}

// sharedServer serves the shared CA on a free loopback port, with request
// logs captured (step-ca's logger writes to os.Stderr as it was when the
// CA was created).
func sharedServer(t *testing.T) *Server {
	t.Helper()
	dir, _ := sharedCA(t)
	shared.srvOnce.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			shared.srvErr = err
			return
		}
		shared.logReady = make(chan struct{})
		go func() {
			defer close(shared.logReady)
			io.Copy(&shared.log, r)
		}()
		saved := os.Stderr
		os.Stderr = w
		shared.srv, shared.srvErr = Serve(hostPath(dir, ConfigFile), []byte(testPW), ServeOptions{
			PathMap:    map[string]string{testGuest: dir},
			Listen:     "127.0.0.1:0",
			RequestLog: true,
		})
		os.Stderr = saved
	})
	if shared.srvErr != nil {
		t.Fatalf("serving the shared CA: %v", shared.srvErr)
	}
	return shared.srv
}

func requestLog() string { return shared.log.String() }

// copyCA copies the shared CA (without its database, which the shared
// server holds) into a new directory named ssl.
func copyCA(t *testing.T) string {
	t.Helper()
	src, _ := sharedCA(t)
	dst := filepath.Join(t.TempDir(), "ssl")
	uid, gid := owner()
	if err := mkdirMode(rootOr(nil), dst, modePrivateDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"certs", "secrets", "config", MarkerFile} {
		s := filepath.Join(src, e)
		fi, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			err = copyTree(rootOr(nil), s, filepath.Join(dst, e), uid, gid)
		} else {
			err = copyFile(rootOr(nil), s, filepath.Join(dst, e), fi.Mode().Perm(), uid, gid)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := mkdirMode(rootOr(nil), filepath.Join(dst, DBDir), modePrivateDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dst
}

// snapshot records every entry under dir, to prove that something left a
// directory untouched.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree, err := testkit.Tree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

var diffSnapshots = testkit.TreeDiff

func checkMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %o, want %o", p, fi.Mode().Perm(), want)
	}
	uid, gid := owner()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && uid >= 0 {
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: %q does not contain %q", what, got, w)
		}
	}
}

var errStop = errors.New("stopped by test hook")
