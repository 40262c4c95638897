package pvesim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

const usage = `usage: phoenix sim serve [flags]

Serve a simulated Proxmox VE API over HTTPS until interrupted (SIGINT or
SIGTERM). Clients use it like a PVE host: API tokens
(Authorization: PVEAPIToken=USER@REALM!ID=SECRET) or ticket login
(POST /access/ticket, then the PVEAuthCookie cookie and the
CSRFPreventionToken header on writes). Without --token and --root-password
it generates a token and a root@pam password and prints them.

On start it prints the API URL, the certificate's SHA-256 fingerprint to
pin, and the credentials it accepts. See docs/simulator.md for what is
simulated.

Flags:
`

// Main implements "phoenix sim serve"; args exclude the command words.
// It returns the process exit code: 2 for usage errors.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, stdout, stderr, nil)
}

// serve runs until ctx ends; started, when set, receives the server once
// it listens (tests).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, started func(*Server)) int {
	fs := pflag.NewFlagSet("phoenix sim serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:8006", "listen on `ADDR` (port 0 picks a free port)")
	tokens := fs.StringArray("token", nil, "accept API token `USER@REALM!ID=SECRET` (repeatable)")
	rootPW := fs.String("root-password", "", "accept ticket login as root@pam with `PW`")
	cert := fs.String("tls-cert", "", "serve the PEM certificate in `FILE` instead of a self-signed one")
	key := fs.String("tls-key", "", "the PEM private key of --tls-cert, in `FILE`")
	state := fs.String("state", "", "persist the simulated cluster in `FILE` (default: memory only)")
	nodes := fs.Int("nodes", 1, "simulate `N` cluster nodes: pve, pve2, ...")
	taskDur := fs.Duration("task-duration", 500*time.Millisecond, "every task runs for `DURATION`")
	faultSpecs := fs.StringArray("fault", nil, "inject the fault `SPEC` (repeatable; see below)")
	debug := fs.Bool("debug-endpoint", false, "serve the request counter at /debug/requests")
	help := fs.BoolP("help", "h", false, "show this help")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fmt.Fprint(w, fs.FlagUsages())
		fmt.Fprint(w, faultHelp)
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "phoenix sim serve: %v\n\n", err)
		printUsage(stderr)
		return 2
	}
	if *help {
		printUsage(stdout)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "phoenix sim serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *nodes < 1 {
		fmt.Fprintf(stderr, "phoenix sim serve: --nodes must be at least 1, got %d\n", *nodes)
		return 2
	}
	if (*cert == "") != (*key == "") {
		fmt.Fprintln(stderr, "phoenix sim serve: --tls-cert and --tls-key go together")
		return 2
	}
	var faults []Fault
	for _, spec := range *faultSpecs {
		f, err := ParseFault(spec)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix sim serve: --fault: %v\n", err)
			return 2
		}
		faults = append(faults, f)
	}
	for _, t := range *tokens {
		if _, _, err := ParseToken(t); err != nil {
			fmt.Fprintf(stderr, "phoenix sim serve: --token: %v\n", err)
			return 2
		}
	}
	toks, pw := *tokens, *rootPW
	generated := len(toks) == 0 && pw == ""
	if generated {
		toks = []string{"root@pam!phoenix=" + randomUUID()}
		pw = randomHex(12)
	}
	nodeCount := *nodes
	if !fs.Changed("nodes") {
		nodeCount = 0 // an existing state file decides
	}
	srv, err := New(Options{Nodes: nodeCount, Tokens: toks, RootPassword: pw, TaskDuration: *taskDur,
		StateFile: *state, DebugEndpoint: *debug})
	if err != nil {
		fmt.Fprintf(stderr, "phoenix sim serve: %v\n", err)
		return 1
	}
	for _, f := range faults {
		srv.Faults().Add(f)
	}
	url, fp, err := srv.Start(*listen, *cert, *key)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix sim serve: %v\n", err)
		return 1
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "Proxmox VE API simulator (PVE %s), nodes: %s\n", pveVersion, strings.Join(srv.Nodes(), ", "))
	fmt.Fprintf(stdout, "URL:         %s\n", url)
	fmt.Fprintf(stdout, "Fingerprint: %s\n", fp)
	for _, t := range toks {
		if generated {
			fmt.Fprintf(stdout, "Token:       %s (generated)\n", t)
		} else {
			fmt.Fprintf(stdout, "Token:       %s (secret as given)\n", redact(t))
		}
	}
	switch {
	case generated:
		fmt.Fprintf(stdout, "Login:       root@pam password %s (generated)\n", pw)
	case pw != "":
		fmt.Fprintln(stdout, "Login:       root@pam (password as given)")
	}
	if *state != "" {
		fmt.Fprintf(stdout, "State:       %s\n", *state)
	} else {
		fmt.Fprintln(stdout, "State:       in memory")
	}
	if *debug {
		fmt.Fprintf(stdout, "Debug:       %s/debug/requests\n", strings.TrimSuffix(url, apiPrefix))
	}
	fmt.Fprint(stdout, pasteBlock(strings.TrimSuffix(url, apiPrefix), fp, toks, pw))
	if started != nil {
		started(srv)
	}
	<-ctx.Done()
	if err := srv.Close(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "phoenix sim serve: %v\n", err)
		return 1
	}
	return 0
}

const faultHelp = `
Fault SPECs are comma-separated key=value pairs, kind first; msg= takes the
rest of the spec, commas included. times=N fires the fault N times (default:
always). Paths are below /api2/json: a route pattern or a glob.
  kind=http,method=PUT,path=/nodes/*/lxc/*/config,status=500,times=2,msg=boom
  kind=delay,path=/cluster/resources,delay=2s
  kind=task-fail,type=vzcreate,vmid=103,log=unpacking failed,msg=exit code 1
  kind=task-hang,type=vzstart
  kind=lock-timeout,vmid=103,times=3
  kind=locked,vmid=101,times=1,msg=backup
`

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// pasteBlock is what a user pastes into a shell to run phoenix against
// this simulator: the trust pin, one login and an example run. The
// password is preferred: PVE refuses bind mounts to API tokens, and the
// example site's containers have them.
func pasteBlock(base, fp string, toks []string, pw string) string {
	var b strings.Builder
	b.WriteString("\nTo run phoenix against it, paste this into a shell in a directory with\nthe site's scripts/ and config/ (the phoenix repository has both):\n\n")
	fmt.Fprintf(&b, "export PHOENIX_PVE_FINGERPRINT=%s\n", fp)
	switch {
	case pw != "":
		fmt.Fprintf(&b, "export PHOENIX_PVE_PASSWORD=%s\n", shellQuote(pw))
		b.WriteString("unset PHOENIX_PVE_TOKEN PHOENIX_PVE_USER PHOENIX_PVE_CA_FILE PHOENIX_PVE_INSECURE\n")
	case len(toks) > 0:
		fmt.Fprintf(&b, "export PHOENIX_PVE_TOKEN=%s\n", shellQuote(toks[0]))
		b.WriteString("unset PHOENIX_PVE_PASSWORD PHOENIX_PVE_USER PHOENIX_PVE_CA_FILE PHOENIX_PVE_INSECURE\n")
		b.WriteString("# PVE refuses bind mounts to API tokens: for the example site's containers,\n# start the simulator with --root-password and use PHOENIX_PVE_PASSWORD.\n")
	}
	fmt.Fprintf(&b, "phoenix exec --sim --target %s scripts/guests.star\n", base)
	return b.String()
}

// shellQuote quotes s for a POSIX shell when it needs it; single quotes
// also keep an interactive bash from expanding the '!' of a token.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
