package dns_test

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"phoenix/builtins"
	"phoenix/builtins/dns"
	"phoenix/internal/testkit"
	"phoenix/runtime/runtimetest"
)

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{
		Families: builtins.All(), ConfigDir: filepath.Join(testkit.RepoDir(t), "config"),
	})
}

// TestNet asks a real DNS server on loopback (miekg/dns's), and one that
// is not there.
func TestNet(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if r.Question[0].Name == "a.example.test." {
			rr, _ := mdns.NewRR("a.example.test. 60 IN A 192.0.2.7")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())

	r := dns.Net{}.Query(context.Background(), dns.Query{Name: "a.example.test", Type: "A", Server: addr, Timeout: 2 * time.Second})
	if r.Err != "" || r.Rcode != "NOERROR" || !r.Authoritative || len(r.Answers) != 1 || r.Answers[0] != "192.0.2.7" || r.Latency <= 0 {
		t.Fatalf("got %+v", r)
	}
	r = dns.Net{}.Query(context.Background(), dns.Query{Name: "b.example.test", Type: "A", Server: addr, Timeout: 2 * time.Second})
	if r.Rcode != "NXDOMAIN" || len(r.Answers) != 0 {
		t.Fatalf("got %+v", r)
	}
	srv.Shutdown()
	r = dns.Net{}.Query(context.Background(), dns.Query{Name: "a.example.test", Type: "A", Server: addr, Timeout: 300 * time.Millisecond})
	if r.Rcode != "" || !strings.Contains(r.Err, "no answer from "+addr.String()) {
		t.Fatalf("got %+v", r)
	}
}

func TestPlan(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{
		Families: builtins.All(), ConfigDir: filepath.Join(testkit.RepoDir(t), "config"), DryRun: true,
	})
}
