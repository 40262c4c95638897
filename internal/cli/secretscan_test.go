package cli_test

import (
	"bytes"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/internal/cli"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// TestNoSecretInOutput runs every script in scripts/ under --sim with
// --output text and json, at every --log-level (debug adds each PVE API
// call): a plan on the fresh root (after the scripts it needs,
// testkit.Prerequisites), the applying run, a plan and a run on the
// converged root. Then it reads every secret the runs wrote (the
// files group and others cannot read: passwords, keys) and looks for
// each value, and each line of each PEM body, in the stdout and stderr
// of every run, the journal and phoenix log.
func TestNoSecretInOutput(t *testing.T) {
	repo, err := testkit.Repo()
	if err != nil {
		t.Fatal(err)
	}
	scripts, err := filepath.Glob(filepath.Join(repo, "scripts", "*.star"))
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(repo, "config")
	ran := 0
	for _, script := range scripts {
		if strings.HasSuffix(script, "_test.star") {
			continue
		}
		for _, output := range []string{"text", "json"} {
			for _, level := range []string{"debug", "info", "warn", "error"} {
				scanRun(t, script, config, output, level, &ran)
			}
		}
	}
	if ran < 16 {
		t.Fatalf("scanned %d script runs; scripts/ should give at least 2 scripts x 2 outputs x 4 levels", ran)
	}
}

// scanRun is one script, output format and log level of
// TestNoSecretInOutput.
func scanRun(t *testing.T, script, config, output, level string, ran *int) {
	name := filepath.Base(script) + "/" + output + "/" + level
	t.Run(name, func(t *testing.T) {
		root := t.TempDir()
		var seen bytes.Buffer // every byte the runs printed
		repo, err := testkit.Repo()
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, script)
		for _, before := range testkit.Prerequisites[filepath.ToSlash(rel)] {
			var stdout, stderr bytes.Buffer
			code := cli.Run([]string{"exec", "--sim", "--root", root, "--config", config, "--output", output, "--log-level", level, filepath.Join(repo, before)}, nil, &stdout, &stderr)
			if code != cli.ExitOK && code != cli.ExitCheck {
				t.Fatalf("phoenix exec %s (before %s) exited %d:\n%s", before, rel, code, stderr.String())
			}
			seen.Write(stdout.Bytes())
			seen.Write(stderr.Bytes())
		}
		for _, cmd := range []string{"plan", "exec", "plan", "exec"} {
			var stdout, stderr bytes.Buffer
			code := cli.Run([]string{cmd, "--sim", "--root", root, "--config", config, "--output", output, "--log-level", level, script}, nil, &stdout, &stderr)
			if code != cli.ExitOK && code != cli.ExitCheck {
				t.Fatalf("phoenix %s %s exited %d:\n%s", cmd, script, code, stderr.String())
			}
			seen.Write(stdout.Bytes())
			seen.Write(stderr.Bytes())
		}
		journal, err := os.ReadFile(filepath.Join(root, runtime.JournalPath))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(journal, []byte(`"event":"applied"`)) {
			t.Fatalf("the journal records no applied change:\n%s", journal)
		}
		for _, format := range []string{"text", "json"} {
			var stdout, stderr bytes.Buffer
			if code := cli.Run([]string{"log", "--root", root, "--output", format}, nil, &stdout, &stderr); code != cli.ExitOK {
				t.Fatalf("phoenix log exited %d: %s", code, stderr.String())
			}
			seen.Write(stdout.Bytes())
			seen.Write(stderr.Bytes())
		}
		needles := secretValues(t, root)
		for _, n := range needles {
			for what, hay := range map[string][]byte{"output": seen.Bytes(), "journal": journal} {
				if bytes.Contains(hay, []byte(n.value)) {
					t.Errorf("the %s holds secret %s from %s", what, n.what, n.file)
				}
			}
		}
		t.Logf("%d runs, %d secret values from %d private files, none found in %d bytes of output or %d of journal",
			6, len(needles), countFiles(needles), seen.Len(), len(journal))
		if strings.Contains(script, "lxc_103") && countFiles(needles) < 3 {
			t.Fatalf("lxc_103 should leave at least its two passwords and the CA key as private files, found %d", countFiles(needles))
		}
		if level == "debug" && strings.Contains(script, "lxc_103") && !strings.Contains(seen.String(), "pve: GET ") {
			t.Fatal("--log-level debug printed no PVE API call: the scan would not cover debug output")
		}
		*ran++
	})
}

type needle struct{ file, what, value string }

func countFiles(ns []needle) int {
	files := map[string]bool{}
	for _, n := range ns {
		files[n.file] = true
	}
	return len(files)
}

// secretValues reads the private files under root: each one's trimmed
// content, and for PEM files each body line.
func secretValues(t *testing.T, root string) []needle {
	t.Helper()
	skip := map[string]bool{runtime.JournalPath: true, runtime.LockPath: true}
	var out []needle
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		site := "/" + filepath.ToSlash(must(filepath.Rel(root, p)))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 || skip[site] || strings.HasPrefix(site, "/var/lib/phoenix-sim/") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if blk, _ := pem.Decode(b); blk != nil {
			for rest := b; ; {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				body := string(pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: blk.Bytes}))
				for _, l := range strings.Split(body, "\n") {
					if len(l) >= 40 && !strings.HasPrefix(l, "-----") {
						out = append(out, needle{site, "PEM line", l})
					}
				}
			}
			return nil
		}
		if v := strings.TrimSpace(string(b)); len(v) >= 12 {
			out = append(out, needle{site, "value", v})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
