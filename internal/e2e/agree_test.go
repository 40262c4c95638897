package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// agreeCase is one script run in both modes: a site script, or a .star
// test file with the globals it expects.
type agreeCase struct {
	file    string // relative to the repository
	globals starlark.StringDict
	// after are scripts applied first on the same root, in both modes: a
	// consumer of the CA needs the CA that lxc_103.star converges.
	after []string
}

// agreeCases are every script in scripts/ and the .star tests whose
// assertions hold in a plan as in an apply. Left out: zfs.star asserts
// sizes a plan cannot know, parallel.star lets steps race for who
// creates a dataset (either may win, in either mode), and the proxmox and
// stepca tests drive their simulators or a CA from the test itself.
func agreeCases(t *testing.T, repo string) []agreeCase {
	scripts, err := filepath.Glob(filepath.Join(repo, "scripts", "*.star"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in %s/scripts: %v", repo, err)
	}
	var out []agreeCase
	for _, s := range scripts {
		if strings.HasSuffix(s, "_test.star") {
			continue // tests of the scripts, run by phoenix test
		}
		rel, _ := filepath.Rel(repo, s)
		out = append(out, agreeCase{file: rel, after: testkit.Prerequisites[rel]})
	}
	return append(out,
		agreeCase{file: "builtins/fs/testdata/fs.star"},
		agreeCase{file: "builtins/secret/testdata/secret.star"},
		agreeCase{file: "builtins/config/testdata/config.star"},
		agreeCase{file: "builtins/host/testdata/host.star"},
		agreeCase{file: "builtins/nft/testdata/nft.star"},
		agreeCase{file: "builtins/stepca/testdata/simissue.star"},
		agreeCase{file: "builtins/dnsmasq/testdata/apply.star"},
		agreeCase{file: "builtins/dns/testdata/sim.star"},
		agreeCase{file: "scripts/checks/check_dns_resolution.star"},
		agreeCase{file: "scripts/checks/check_step_ca.star"},
		agreeCase{file: "scripts/checks/check_traefik_proxy.star"},
		agreeCase{file: "scripts/checks/all.star"},
		agreeCase{file: "internal/e2e/testdata/star/agree.star"},
	)
}

// TestPlanAgreesWithApply is the plan/apply rule: a script's reads in a
// plan see what its apply would have written, so the plan takes the
// branches the apply takes. Each case runs as a plan on a fresh root and
// as an apply on another; the sequences of declared changes (resource
// and action), of resources found unchanged and of check outcomes must
// be equal.
func TestPlanAgreesWithApply(t *testing.T) {
	repo := testkit.RepoDir(t)
	for _, c := range agreeCases(t, repo) {
		t.Run(c.file, func(t *testing.T) {
			plan, err := traceRun(t, repo, c, true, false)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			apply, err := traceRun(t, repo, c, false, false)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if d := firstDiff(plan, apply); d != "" {
				t.Errorf("the plan takes another path than the apply:\n%s", d)
			}
		})
	}
}

// TestPlanAgreementNoticesBlindReads proves the rule's test can fail: with
// the planned-state store hidden from reads, plans of the site scripts
// take other paths than their applies.
func TestPlanAgreementNoticesBlindReads(t *testing.T) {
	repo := testkit.RepoDir(t)
	for _, file := range []string{"scripts/mounts.star", "scripts/guests.star", "scripts/lxc_103.star", "scripts/site.star", "internal/e2e/testdata/star/agree.star"} {
		t.Run(file, func(t *testing.T) {
			c := agreeCase{file: file}
			apply, err := traceRun(t, repo, c, false, false)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			// A blind plan either fails on what it cannot see or differs.
			if blind, err := traceRun(t, repo, c, true, true); err == nil && firstDiff(blind, apply) == "" {
				t.Errorf("a plan that does not see its own planned state agreed with the apply: the agreement test would not notice")
			}
		})
	}
}

// traceRun runs one case under --sim on a fresh root, its prerequisites
// applied first, and returns what it did, in order.
func traceRun(t *testing.T, repo string, c agreeCase, dry, blind bool) ([]string, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	for _, before := range c.after {
		if _, err := runCase(t, repo, agreeCase{file: before}, root, false, false); err != nil {
			t.Fatalf("%s, applied before %s: %v", before, c.file, err)
		}
	}
	return runCase(t, repo, c, root, dry, blind)
}

// runCase runs one case under --sim on root and returns what it did.
func runCase(t *testing.T, repo string, c agreeCase, root string, dry, blind bool) ([]string, error) {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Options{
		Sim: true, DryRun: dry, RootDir: root,
		ConfigDir: filepath.Join(repo, "config"), Stderr: io.Discard,
		Families: builtins.All(), Globals: c.globals,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if blind {
		rt.BlindPlan()
	}
	file := filepath.Join(repo, c.file)
	decls, err := runtime.DeclaredParams(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.SetParams(decls, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ExecScript(file); err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			return nil, errors.New(ee.Backtrace())
		}
		return nil, err
	}
	r := rt.Report()
	var out []string
	for _, ch := range r.Changes {
		if ch.Error != "" {
			return nil, fmt.Errorf("%s %s failed: %s", ch.Action, ch.Resource, ch.Error)
		}
		out = append(out, ch.Action+" "+ch.Resource)
	}
	for _, u := range r.Unchanged {
		out = append(out, "unchanged "+u)
	}
	for _, ck := range r.Checks {
		out = append(out, "check "+ck.Name+" "+ck.Status)
	}
	return out, nil
}

// firstDiff describes where two traces part, or "" when they are equal.
func firstDiff(plan, apply []string) string {
	if slices.Equal(plan, apply) {
		return ""
	}
	i := 0
	for i < len(plan) && i < len(apply) && plan[i] == apply[i] {
		i++
	}
	at := func(s []string) string {
		if i < len(s) {
			return s[i]
		}
		return "(end)"
	}
	return fmt.Sprintf("step %d: plan %q, apply %q\nplan:  %s\napply: %s", i, at(plan), at(apply),
		strings.Join(plan, "; "), strings.Join(apply, "; "))
}
