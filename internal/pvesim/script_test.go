package pvesim

import (
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/testkit"
)

// TestScripts drives the simulator with curl, a third-party client that
// sends form-encoded bodies and logs in with a ticket, as PVE's own
// clients do.
func TestScripts(t *testing.T) {
	testkit.Tool(t, "curl")
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"simserve": cmdSimserve,
			"jsonget":  cmdJSONGet,
			"sleep":    cmdSleep,
		},
	})
}

// cmdSimserve starts a simulator in-process for the script and exports
// SIM_URL, SIM_FP, SIM_CACERT (a PEM file), SIM_TOKEN and SIM_PASSWORD.
//
//	simserve [-nodes N] [-task-duration D]
func cmdSimserve(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! simserve")
	}
	fs := flag.NewFlagSet("simserve", flag.ContinueOnError)
	nodes := fs.Int("nodes", 1, "nodes")
	dur := fs.Duration("task-duration", 20*time.Millisecond, "task duration")
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("simserve: %v", err)
	}
	token := "root@pam!ci=" + randomUUID()
	password := randomHex(8)
	srv, err := New(Options{Nodes: *nodes, TaskDuration: *dur, Tokens: []string{token}, RootPassword: password})
	ts.Check(err)
	url, fp, err := srv.Start("127.0.0.1:0", "", "")
	ts.Check(err)
	ts.Defer(func() { srv.Close() })
	ca := ts.MkAbs("sim-ca.pem")
	ts.Check(os.WriteFile(ca, srv.CertPEM(), 0o644))
	ts.Setenv("SIM_URL", url)
	ts.Setenv("SIM_FP", fp)
	ts.Setenv("SIM_CACERT", ca)
	ts.Setenv("SIM_TOKEN", token)
	ts.Setenv("SIM_PASSWORD", password)
}

// cmdJSONGet sets VAR to a field of the JSON the last command printed.
//
//	jsonget VAR data.ticket
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonget VAR path.to.field")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("jsonget: stdout is not JSON: %v", err)
	}
	for _, k := range strings.Split(args[1], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("jsonget: %s: not an object at %q", args[1], k)
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		ts.Setenv(args[0], x)
	case float64:
		ts.Setenv(args[0], strconv.FormatFloat(x, 'f', -1, 64))
	default:
		ts.Fatalf("jsonget: %s is %T, not a string or number", args[1], v)
	}
}

// cmdSleep waits, so that a task can end: sleep 150ms
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}
