package ca

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

const serveUsage = `usage: phoenix ca serve --ca-config FILE --password-file FILE [--map GUEST=HOST]... [--listen HOST:PORT]

Runs the step CA configured by FILE in this process until SIGINT or SIGTERM,
so that a container can run phoenix itself as its CA daemon.

ca.json names the paths as the guest sees them; --map serves the same files
from another place (a test host, or the host side of a bind mount) without
rewriting ca.json. Request logs go to standard error in Common Log Format:
they never carry tokens, certificates or keys.

Flags:
`

// ServeMain is "phoenix ca serve": args are the arguments after "serve".
// It returns the exit status: 0 after a signal, 1 when the CA fails, 2 for
// a usage error.
func ServeMain(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("phoenix ca serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("ca-config", "", "the CA's config/ca.json")
	passwordFile := fs.String("password-file", "", "file holding the password of the CA keys (trailing white space is trimmed)")
	maps := fs.StringArray("map", nil, "serve the ca.json path prefix GUEST from the host directory HOST (repeatable)")
	listen := fs.String("listen", "", "listen on HOST:PORT instead of ca.json's address (port 0: a free port)")
	usage := func(w io.Writer) {
		fmt.Fprint(w, serveUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	fs.Usage = func() {} // -h prints the usage to stdout below
	bad := func(f string, a ...any) int {
		fmt.Fprintf(stderr, "phoenix ca serve: "+f+"\n", a...)
		fmt.Fprintln(stderr, "run 'phoenix ca serve -h' for usage")
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			usage(stdout)
			return 0
		}
		return bad("%v", err)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *configPath == "" {
		return bad("--ca-config is required")
	}
	if *passwordFile == "" {
		return bad("--password-file is required")
	}
	pathMap := map[string]string{}
	for _, m := range *maps {
		g, h, ok := strings.Cut(m, "=")
		if !ok || !strings.HasPrefix(g, "/") || h == "" {
			return bad("--map %q: want GUEST=HOST with an absolute GUEST path", m)
		}
		pathMap[g] = h
	}
	pw, err := os.ReadFile(*passwordFile)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix ca serve: %v\n", err)
		return 1
	}
	pw = bytes.TrimRight(pw, " \t\r\n")
	if len(pw) == 0 {
		fmt.Fprintf(stderr, "phoenix ca serve: %s: empty password\n", *passwordFile)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := Serve(*configPath, pw, ServeOptions{PathMap: pathMap, Listen: *listen, RequestLog: true})
	if err != nil {
		fmt.Fprintf(stderr, "phoenix ca serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "phoenix ca serve: serving %s (root fingerprint %s)\n", srv.URL(), srv.Fingerprint())
	select {
	case <-ctx.Done():
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(stderr, "phoenix ca serve: stopping: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "phoenix ca serve: stopped")
		return 0
	case <-srv.Done():
		fmt.Fprintf(stderr, "phoenix ca serve: the CA stopped: %v\n", srv.Err())
		return 1
	}
}
