package pve_test

import (
	"regexp"
	"testing"
	"time"

	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/internal/testkit"
)

// Off a terminal each task gets a timestamped line when it starts and
// when it ends; on one, a long task's live line names the task, the time
// elapsed and its last log line.
func TestTaskProgressLines(t *testing.T) {
	e := startSim(t, pvesim.Options{TaskDuration: 300 * time.Millisecond})
	var lines, live testkit.SyncBuffer
	o := pvesimtest.Fast
	o.TaskLines = &lines
	c := e.Connect(t, rootLogin(), o)
	create(t, c, lxcSpec(150))
	ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ pve task `
	for _, re := range []string{ts + `started create lxc:150 on pve\n`, ts + `finished create lxc:150 in \d+ms\n`} {
		if !regexp.MustCompile(re).MatchString(lines.String()) {
			t.Errorf("task lines lack %s:\n%s", re, lines.String())
		}
	}

	o = pvesimtest.Fast
	o.Progress, o.ProgressAfter = &live, 10*time.Millisecond
	c = e.Connect(t, rootLogin(), o)
	create(t, c, lxcSpec(151))
	if re := `\r\x1b\[Kcreate lxc:151: 0s: \S.*\r\x1b\[K$`; !regexp.MustCompile(re).MatchString(live.String()) {
		t.Errorf("live line %q does not match %s", live.String(), re)
	}
}
