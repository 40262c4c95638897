// Package netns runs work inside a named network namespace (as
// `ip netns add NAME` creates it): nftables connections, sysctls of the
// namespace, and sockets for connectivity probes.
package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 keeps named namespaces.
const Dir = "/run/netns"

// Path is the file that names namespace name; "" is the caller's own.
func Path(name string) string { return filepath.Join(Dir, name) }

// Open returns an fd of the named namespace, for nftables.WithNetNSFd.
func Open(name string) (*os.File, error) {
	f, err := os.Open(Path(name))
	if err != nil {
		return nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	return f, nil
}

// Do runs fn on an OS thread that has joined namespace name ("" runs fn
// where the caller is). Sockets fn creates stay in that namespace after
// Do returns; files under /proc/sys/net opened by fn are the namespace's.
func Do(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	target, err := Open(name)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	// A fresh goroutine whose thread is thrown away if it cannot return
	// to its own namespace, so no other goroutine ever runs in the wrong one.
	go func() {
		goruntime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("join network namespace %q: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- fmt.Errorf("leave network namespace %q: %w", name, err)
			return
		}
		goruntime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Dial connects from inside namespace name ("" for the caller's own).
func Dial(ctx context.Context, name, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := Do(name, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens inside namespace name ("" for the caller's own).
func Listen(name, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := Do(name, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket is Listen for datagram sockets.
func ListenPacket(name, network, addr string) (net.PacketConn, error) {
	var l net.PacketConn
	err := Do(name, func() error {
		var err error
		l, err = net.ListenPacket(network, addr)
		return err
	})
	return l, err
}

// ReadSysctl reads a sysctl (dotted name) of namespace name.
func ReadSysctl(name, key string) (string, error) {
	var v string
	err := Do(name, func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = string(trimNL(b))
		return err
	})
	return v, err
}

// WriteSysctl sets a sysctl (dotted name) of namespace name.
func WriteSysctl(name, key, value string) error {
	return Do(name, func() error {
		return os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0o644)
	})
}

func sysctlPath(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '.' {
			b[i] = '/'
		}
	}
	return filepath.Join("/proc/sys", string(b))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
