package pvesim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxFinishedTasks bounds the task history kept (and persisted).
const maxFinishedTasks = 500

// task is one worker task. Its effect on the world is data, not a closure,
// so a task still running when the state is saved finishes after a reload.
type task struct {
	UPID       string   `json:"upid"`
	Node       string   `json:"node"`
	PID        uint32   `json:"pid"`
	PStart     uint32   `json:"pstart"`
	StartTime  int64    `json:"starttime"`
	EndNS      int64    `json:"end_ns"` // unix nanoseconds; 0 = never (hung)
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	User       string   `json:"user"`
	Running    bool     `json:"running"`
	ExitStatus string   `json:"exitstatus,omitempty"`
	Log        []string `json:"log"`
	Fail       string   `json:"fail,omitempty"` // the error it will end with
	FailLog    []string `json:"fail_log,omitempty"`

	// What finishing does.
	Op       string            `json:"op"`
	VMID     int               `json:"vmid,omitempty"`
	Target   int               `json:"target,omitempty"` // clone: the new guest
	Template string            `json:"template,omitempty"`
	Storage  string            `json:"storage,omitempty"`
	StartCT  bool              `json:"start,omitempty"` // create: start afterwards
	Set      map[string]string `json:"set,omitempty"`   // async config
	Del      []string          `json:"del,omitempty"`
	Revert   []string          `json:"revert,omitempty"`
}

func formatUPID(node string, pid, pstart uint32, start int64, typ, id, user string) string {
	return fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", node, pid, pstart, start, typ, id, user)
}

// parseUPID checks the shape PVE's parser accepts and returns the node.
func parseUPID(upid string) (node string, ok bool) {
	f := strings.Split(upid, ":")
	if len(f) != 9 || f[0] != "UPID" || f[8] != "" || f[1] == "" {
		return "", false
	}
	for _, h := range f[2:5] {
		if _, err := strconv.ParseUint(h, 16, 64); err != nil {
			return "", false
		}
	}
	return f[1], true
}

func (t *task) status() map[string]any {
	st := map[string]any{
		"upid":      t.UPID,
		"node":      t.Node,
		"pid":       t.PID,
		"pstart":    t.PStart,
		"starttime": t.StartTime,
		"type":      t.Type,
		"id":        t.ID,
		"user":      t.User,
		"status":    "running",
	}
	if !t.Running {
		st["status"] = "stopped"
		st["exitstatus"] = t.ExitStatus
	}
	return st
}

// startTask registers a worker task on node and takes the lock of vmid
// (when non-zero). Injected faults decide here whether it fails or hangs.
func (s *Server) startTask(c *call, typ, id string, vmid int, op string) *task {
	w := c.w
	pid := w.nextPID()
	t := &task{
		Node:      c.node,
		PID:       pid,
		PStart:    pid*97 + 1000,
		StartTime: c.now.Unix(),
		Type:      typ,
		ID:        id,
		User:      c.user,
		Running:   true,
		Op:        op,
		VMID:      vmid,
	}
	t.UPID = formatUPID(t.Node, t.PID, t.PStart, t.StartTime, typ, id, c.user)
	t.EndNS = c.now.Add(s.opts.TaskDuration).UnixNano()
	if f, ok := s.faults.taskFault(typ, vmid); ok {
		switch f.Kind {
		case FaultTaskHang:
			t.EndNS = 0
		case FaultTaskFail:
			t.Fail = f.Message
			if t.Fail == "" {
				t.Fail = "simulated task failure"
			}
			t.FailLog = f.Log
		}
	}
	if g := w.Guests[vmid]; g != nil && vmid != 0 {
		g.LockTask = t.UPID
	}
	w.Tasks = append(w.Tasks, t)
	s.running = append(s.running, t)
	c.dirty = true
	return t
}

func (w *world) findTask(upid string) *task {
	for i := len(w.Tasks) - 1; i >= 0; i-- {
		if w.Tasks[i].UPID == upid {
			return w.Tasks[i]
		}
	}
	return nil
}

// tick finishes every task whose time has come, oldest end first.
func (s *Server) tick(now time.Time) bool {
	if len(s.running) == 0 {
		return false
	}
	var due, rest []*task
	for _, t := range s.running {
		if t.EndNS != 0 && t.EndNS <= now.UnixNano() {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	if len(due) == 0 {
		return false
	}
	s.running = rest
	sort.SliceStable(due, func(i, j int) bool { return due[i].EndNS < due[j].EndNS })
	for _, t := range due {
		s.finishTask(t, time.Unix(0, t.EndNS), "")
	}
	s.pruneTasks()
	return true
}

// finishTask ends t: it applies the effect, or undoes what the task began
// when it fails. interrupt is set when a user stopped the task.
func (s *Server) finishTask(t *task, now time.Time, interrupt string) {
	w := s.w
	fail := t.Fail
	if interrupt != "" {
		fail = interrupt
	}
	if fail == "" {
		if err := s.applyTask(t, now); err != nil {
			fail = err.Error()
		}
	}
	for _, g := range w.Guests {
		if g.LockTask == t.UPID {
			g.LockTask = ""
		}
	}
	t.Running = false
	if fail != "" {
		s.undoTask(t)
		t.Log = append(t.Log, t.FailLog...)
		t.ExitStatus = fail
		t.Log = append(t.Log, "TASK ERROR: "+fail)
	} else {
		t.ExitStatus = "OK"
		t.Log = append(t.Log, "TASK OK")
	}
}

func (s *Server) applyTask(t *task, now time.Time) error {
	w := s.w
	g := w.Guests[t.VMID]
	switch t.Op {
	case "create":
		if g == nil {
			return fmt.Errorf("guest %d vanished", t.VMID)
		}
		delete(g.Conf, "lock")
		if t.StartCT {
			s.powerOn(g, now)
		}
	case "clone":
		if ng := w.Guests[t.Target]; ng != nil {
			delete(ng.Conf, "lock")
		}
	case "template":
		g.Conf["template"] = "1"
	case "start":
		s.powerOn(g, now)
	case "stop", "shutdown":
		g.Running, g.Started, g.PID = false, 0, 0
	case "reboot":
		s.applyPending(g)
		g.Started = now.Unix()
		g.PID = w.nextPID()
	case "destroy":
		s.destroyGuest(g)
	case "download":
		if w.findVolume(t.Node, t.Storage+":vztmpl/"+t.Template) == nil {
			a := findAppliance(t.Template)
			w.Volumes = append(w.Volumes, &volume{Node: t.Node, Storage: t.Storage, Name: "vztmpl/" + t.Template,
				Content: "vztmpl", Format: templateFormat(t.Template), Size: a.size, CTime: now.Unix()})
		}
		t.Log = append(t.Log, fmt.Sprintf("download of 'http://download.proxmox.com/images/system/%s' to '/var/lib/vz/template/cache/%s' finished", t.Template, t.Template))
	case "config":
		if g == nil {
			return fmt.Errorf("guest %d vanished", t.VMID)
		}
		s.applyConfig(g, t.Set, t.Del, t.Revert)
	}
	return nil
}

// undoTask reverts what a failed task had already put in place.
func (s *Server) undoTask(t *task) {
	w := s.w
	switch t.Op {
	case "create":
		if g := w.Guests[t.VMID]; g != nil && g.Conf["lock"] == "create" {
			s.destroyGuest(g)
		}
	case "clone":
		if g := w.Guests[t.Target]; g != nil && g.Conf["lock"] == "create" {
			s.destroyGuest(g)
		}
	}
}

func (s *Server) powerOn(g *guest, now time.Time) {
	s.applyPending(g)
	g.Running = true
	g.Started = now.Unix()
	g.PID = s.w.nextPID()
}

// destroyGuest removes a guest with its volumes and pushed files.
func (s *Server) destroyGuest(g *guest) {
	w := s.w
	out := w.Volumes[:0]
	for _, v := range w.Volumes {
		if !(v.VMID == g.VMID && v.Node == g.Node && (v.Content == "rootdir" || v.Content == "images")) {
			out = append(out, v)
		}
	}
	w.Volumes = out
	prefix := strconv.Itoa(g.VMID) + ":"
	for k := range w.Files {
		if strings.HasPrefix(k, prefix) {
			delete(w.Files, k)
		}
	}
	delete(w.Guests, g.VMID)
}

func (s *Server) pruneTasks() {
	w := s.w
	finished := 0
	for _, t := range w.Tasks {
		if !t.Running {
			finished++
		}
	}
	drop := finished - maxFinishedTasks
	if drop <= 0 {
		return
	}
	out := w.Tasks[:0]
	for _, t := range w.Tasks {
		if !t.Running && drop > 0 {
			drop--
			continue
		}
		out = append(out, t)
	}
	w.Tasks = out
}

// taskLogLines are the opening lines a task of op writes, PVE-like.
func taskLogLines(op string, g *guest, extra ...string) []string {
	switch op {
	case "create":
		if g.Type == "lxc" {
			return append([]string{
				fmt.Sprintf("extracting archive '%s'", extra[0]),
				"Total bytes read: 536494080 (512MiB, 402MiB/s)",
				"Detected container architecture: " + g.Conf["arch"],
				"Creating SSH host key 'ssh_host_ed25519_key' - this may take some time ...",
			}, extra[1:]...)
		}
		return extra
	case "download":
		return []string{
			fmt.Sprintf("starting template download from: http://download.proxmox.com/images/system/%s", extra[0]),
			fmt.Sprintf("target file: /var/lib/vz/template/cache/%s", extra[0]),
		}
	}
	return extra
}
