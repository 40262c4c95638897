package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// TestFullDiskKeepsOldFile writes a file bigger than the small tmpfs it
// lands on, mounted in a private mount namespace (unshare -m): the run
// fails naming the file, the old content stays, no temporary file is
// left, the summary and the journal say what was and was not applied;
// once the tmpfs is grown the rerun converges and the next reports 0
// changed.
func TestFullDiskKeepsOldFile(t *testing.T) {
	testkit.NeedRoot(t, "the test mounts a tmpfs in a private mount namespace")
	unshare := testkit.Tool(t, "unshare")
	testkit.Tool(t, "mount")
	bin := testkit.Phoenix(t)
	work := t.TempDir()
	root := filepath.Join(work, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc", "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(work, "big.star")
	if err := os.WriteFile(script, []byte(`fs.write("/etc/app/small.conf", "s\n", mode = 0o644)
fs.write("/etc/app/big.conf", "x" * (512 * 1024), mode = 0o644)
fs.write("/etc/app/after.conf", "a\n", mode = 0o644)
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Everything that looks at the tmpfs runs inside the namespace; the
	// journal is outside it, on the root's own file system.
	sh := `set -u
mount -t tmpfs -o size=256k,mode=0755 phoenix-full "$R/etc/app" || exit 99
printf 'old\n' > "$R/etc/app/big.conf"
run() { "$P" exec --root "$R" "$S" > "$W/$1.out" 2> "$W/$1.err"; echo $? > "$W/$1.code"; ls -A "$R/etc/app" > "$W/$1.ls"; }
run full
cp "$R/etc/app/big.conf" "$W/full.big"
mount -o remount,size=4m "$R/etc/app" || exit 98
run rerun
wc -c < "$R/etc/app/big.conf" > "$W/rerun.size"
run again
`
	cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", sh)
	cmd.Env = append(os.Environ(), "R="+root, "P="+bin, "S="+script, "W="+work)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	if c := strings.TrimSpace(read("full.code")); c != "1" {
		t.Fatalf("the run on a full disk exited %s:\n%s%s", c, read("full.out"), read("full.err"))
	}
	errText := read("full.err")
	for _, want := range []string{"fs.write: write /etc/app/big.conf: no space left on device; the file was left as it was and the temporary file removed", "big.star:2"} {
		if !strings.Contains(errText, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errText)
		}
	}
	if got := read("full.big"); got != "old\n" {
		t.Errorf("big.conf after the failed write holds %d bytes, want the old content", len(got))
	}
	if ls := strings.Fields(read("full.ls")); strings.Join(ls, " ") != "big.conf small.conf" {
		t.Errorf("the tmpfs holds %v after the failed write, want big.conf small.conf (no temporary file)", ls)
	}
	out := read("full.out")
	for _, want := range []string{"applied  create  file:/etc/app/small.conf", "failed   update  file:/etc/app/big.conf", "1 changed, 0 unchanged, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "after.conf") {
		t.Errorf("summary lists a change after the failure:\n%s", out)
	}
	journal, err := os.ReadFile(filepath.Join(root, runtime.JournalPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"event":"applied","seq":1,"script":"` + script + `","line":1,"resource":"file:/etc/app/small.conf"`, `"event":"failed",`, `"resource":"file:/etc/app/big.conf","action":"update","error":"write /etc/app/big.conf: no space left on device`} {
		if !strings.Contains(string(journal), want) {
			t.Errorf("journal lacks %q:\n%s", want, journal)
		}
	}

	if c := strings.TrimSpace(read("rerun.code")); c != "0" {
		t.Fatalf("the rerun exited %s:\n%s%s", c, read("rerun.out"), read("rerun.err"))
	}
	if strings.Contains(read("rerun.err"), "interrupted") {
		t.Errorf("the rerun reports an unfinished change: the failure was journaled as ended:\n%s", read("rerun.err"))
	}
	if s := strings.TrimSpace(read("rerun.size")); s != "524288" {
		t.Errorf("big.conf after the rerun has %s bytes, want 524288", s)
	}
	if ls := strings.Fields(read("rerun.ls")); strings.Join(ls, " ") != "after.conf big.conf small.conf" {
		t.Errorf("the tmpfs holds %v after the rerun", ls)
	}
	if !strings.Contains(read("again.out"), "0 changed, 3 unchanged") {
		t.Errorf("the run after the rerun:\n%s", read("again.out"))
	}
}
