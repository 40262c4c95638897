// Package pvesimtest serves the PVE simulator for a test and connects the
// real client to it as to a host: over HTTPS on loopback, with the
// fingerprint pinned.
package pvesimtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
)

// Fast keeps retry tests quick; the schedules are what they test.
var Fast = pve.Options{
	Retry:     pve.Backoff{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond},
	LockRetry: pve.Backoff{Attempts: 6, Initial: time.Millisecond, Max: 5 * time.Millisecond},
	Poll:      2 * time.Millisecond,
	MaxPoll:   20 * time.Millisecond,
}

// Sim is a served simulator.
type Sim struct {
	*pvesim.Server
	URL, Fingerprint string
}

// Start serves a simulator made with o on a free loopback port until the
// test ends.
func Start(t testing.TB, o pvesim.Options) *Sim {
	t.Helper()
	srv, err := pvesim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	url, fp, err := srv.Start("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Sim{Server: srv, URL: url, Fingerprint: fp}
}

// Connect is a client of the simulator, pinned to its fingerprint.
func (s *Sim) Connect(t testing.TB, auth pve.Auth, o pve.Options) *pve.Client {
	t.Helper()
	c, err := pve.Connect(context.Background(), pve.Connection{URL: s.URL, Auth: auth, Trust: pve.Trust{Fingerprint: s.Fingerprint}}, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Writes counts the requests in reqs (Server.Requests) that are not
// reads.
func Writes(reqs map[string]int) int {
	n := 0
	for k, v := range reqs {
		if !strings.HasPrefix(k, "GET ") {
			n += v
		}
	}
	return n
}
