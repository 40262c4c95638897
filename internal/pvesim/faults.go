package pvesim

import (
	"fmt"
	"net/http"
	"path"
	"phoenix/internal/machine"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind names one kind of injected failure.
type FaultKind string

const (
	// FaultHTTP answers matching requests with an HTTP error.
	FaultHTTP FaultKind = "http"
	// FaultDelay holds matching requests before answering them.
	FaultDelay FaultKind = "delay"
	// FaultTaskFail makes matching tasks end with an error and a log.
	FaultTaskFail FaultKind = "task-fail"
	// FaultTaskHang makes matching tasks run until stopped.
	FaultTaskHang FaultKind = "task-hang"
	// FaultLockTimeout makes attempts to lock a guest time out.
	FaultLockTimeout FaultKind = "lock-timeout"
	// FaultLocked makes a guest look locked by another operation
	// (Message names it, default "backup"): PVE refuses changes with
	// "CT 101 is locked (backup)".
	FaultLocked FaultKind = "locked"
)

// Fault is one injected failure. Empty fields match anything.
type Fault struct {
	Kind FaultKind
	// Method and Path select requests (FaultHTTP, FaultDelay). Path is an
	// API path below /api2/json, either a route pattern such as
	// "/nodes/{node}/lxc/{vmid}/config" or a glob over the concrete path
	// such as "/nodes/*/lxc/103/config".
	Method string
	Path   string
	// Status and Message are the HTTP answer (default 500, "simulated
	// failure"), or the task's error (FaultTaskFail).
	Status  int
	Message string
	Delay   time.Duration
	// TaskType ("vzcreate", "qmstart", ...) and VMID select tasks; VMID
	// also selects the guest for FaultLockTimeout.
	TaskType string
	VMID     int
	// Log lines a failing task writes before its error.
	Log []string
	// Times is how many matches the fault fires for; 0 means always.
	Times int
}

// Faults holds the failures injected into a Server.
type Faults struct {
	mu    sync.Mutex
	rules []*faultRule
}

type faultRule struct {
	Fault
	fired int
}

// Add injects f.
func (f *Faults) Add(x Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{Fault: x})
}

// Clear removes every injected fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// HTTPError answers the next times requests matching method and path with
// status (0 = every time).
func (f *Faults) HTTPError(method, path string, status, times int) {
	f.Add(Fault{Kind: FaultHTTP, Method: method, Path: path, Status: status, Times: times})
}

// Delay holds matching requests for d before answering.
func (f *Faults) Delay(method, path string, d time.Duration, times int) {
	f.Add(Fault{Kind: FaultDelay, Method: method, Path: path, Delay: d, Times: times})
}

// FailTask makes matching tasks end with msg after writing log.
func (f *Faults) FailTask(taskType string, vmid int, msg string, log []string, times int) {
	f.Add(Fault{Kind: FaultTaskFail, TaskType: taskType, VMID: vmid, Message: msg, Log: log, Times: times})
}

// HangTask makes matching tasks run until they are stopped.
func (f *Faults) HangTask(taskType string, vmid int, times int) {
	f.Add(Fault{Kind: FaultTaskHang, TaskType: taskType, VMID: vmid, Times: times})
}

// LockTimeout makes the next times attempts to lock guest vmid fail with
// PVE's lock timeout error.
func (f *Faults) LockTimeout(vmid, times int) {
	f.Add(Fault{Kind: FaultLockTimeout, VMID: vmid, Times: times})
}

// take returns the first live rule that match accepts, counting the use.
func (f *Faults) take(match func(*faultRule) bool) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Times > 0 && r.fired >= r.Times {
			continue
		}
		if match(r) {
			r.fired++
			return r.Fault, true
		}
	}
	return Fault{}, false
}

func (f *Faults) request(kind FaultKind, method, pattern, p string) (Fault, bool) {
	return f.take(func(r *faultRule) bool {
		if r.Kind != kind || (r.Method != "" && !strings.EqualFold(r.Method, method)) {
			return false
		}
		if r.Path == "" || r.Path == pattern || r.Path == p {
			return true
		}
		ok, _ := path.Match(r.Path, p)
		return ok
	})
}

func (f *Faults) taskFault(typ string, vmid int) (Fault, bool) {
	return f.take(func(r *faultRule) bool {
		return (r.Kind == FaultTaskFail || r.Kind == FaultTaskHang) &&
			(r.TaskType == "" || r.TaskType == typ) && (r.VMID == 0 || r.VMID == vmid)
	})
}

// Locked makes the next times changes to guest vmid fail as if
// another operation held it locked (lock "backup", "create", ...).
func (f *Faults) Locked(vmid int, lock string, times int) {
	f.Add(Fault{Kind: FaultLocked, VMID: vmid, Message: lock, Times: times})
}

func (f *Faults) lockedFault(vmid int) (Fault, bool) {
	return f.take(func(r *faultRule) bool {
		return r.Kind == FaultLocked && (r.VMID == 0 || r.VMID == vmid)
	})
}

func (f *Faults) lockFault(vmid int) bool {
	_, ok := f.take(func(r *faultRule) bool {
		return r.Kind == FaultLockTimeout && (r.VMID == 0 || r.VMID == vmid)
	})
	return ok
}

// ParseFault reads the --fault flag syntax: comma-separated key=value
// pairs, kind first; "msg=" takes the rest of the string, commas included.
//
//	kind=http,method=PUT,path=/nodes/*/lxc/*/config,status=500,times=2,msg=boom
//	kind=delay,path=/cluster/resources,delay=2s
//	kind=task-fail,type=vzcreate,vmid=103,log=unpacking failed,msg=exit code 1
//	kind=task-hang,type=vzstart
//	kind=lock-timeout,vmid=103,times=3
//	kind=locked,vmid=101,times=1,msg=backup
func ParseFault(spec string) (Fault, error) {
	var f Fault
	err := machine.EachSpecPair(spec, "msg", func(k, v string) (err error) {
		switch k {
		case "kind":
			f.Kind = FaultKind(v)
		case "method":
			f.Method = strings.ToUpper(v)
		case "path":
			f.Path = v
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "msg":
			f.Message = v
		case "delay":
			f.Delay, err = time.ParseDuration(v)
		case "type":
			f.TaskType = v
		case "vmid":
			f.VMID, err = strconv.Atoi(v)
		case "log":
			f.Log = append(f.Log, v)
		case "times":
			f.Times, err = strconv.Atoi(v)
		default:
			return fmt.Errorf("unknown key")
		}
		return err
	})
	if err != nil {
		return f, err
	}
	switch f.Kind {
	case FaultHTTP:
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			return f, fmt.Errorf("fault %q: status %d is not an HTTP error", spec, f.Status)
		}
	case FaultDelay:
		if f.Delay <= 0 {
			return f, fmt.Errorf("fault %q: kind=delay needs delay=DURATION", spec)
		}
	case FaultTaskFail, FaultTaskHang, FaultLockTimeout, FaultLocked:
	case "":
		return f, fmt.Errorf("fault %q: missing kind=", spec)
	default:
		return f, fmt.Errorf("fault %q: unknown kind %q (want http, delay, task-fail, task-hang, lock-timeout or locked)", spec, f.Kind)
	}
	if f.Times < 0 {
		return f, fmt.Errorf("fault %q: times must not be negative", spec)
	}
	return f, nil
}

func (f Fault) httpStatus() (int, string) {
	st, msg := f.Status, f.Message
	if st == 0 {
		st = http.StatusInternalServerError
	}
	if msg == "" {
		msg = "simulated failure"
	}
	return st, msg
}
