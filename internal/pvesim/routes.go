package pvesim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// route is one API method the simulator serves.
type route struct {
	method  string
	pattern string // "/nodes/{node}/lxc/{vmid}/config"
	segs    []string
	params  params
	limits  map[string]int
	// unsupported names real PVE parameters the simulator does not model;
	// they get 501 rather than the 400 an unknown name gets.
	unsupported map[string]bool
	public      bool
	guestType   string // "lxc" or "qemu" below /nodes/{node}/<type>
	handle      func(s *Server, c *call) (any, error)
}

// call is one request being handled, under the server lock.
type call struct {
	w     *world
	now   time.Time
	id    identity
	user  string
	node  string
	typ   string // guest type of the route
	vars  map[string]string
	p     map[string]string
	dirty bool
}

// isRoot is PVE's "root@pam" check: a token of root@pam is not root.
func (c *call) isRoot() bool { return c.user == "root@pam" && !c.id.token }

func (c *call) vmid() int {
	n, _ := strconv.Atoi(c.vars["vmid"])
	return n
}

func (c *call) flag(name string) bool { return c.p[name] == "1" }

// pathParams are the checks for the variables in route patterns.
var pathParams = params{
	"node":    strf("pve-node").req(),
	"vmid":    vmidParam().req(),
	"storage": strf("pve-storage-id").req(),
	"upid":    str().req(),
	"poolid":  strf("pve-poolid").req(),
}

func r(method, pattern string, ps params, unsupported string, h func(*Server, *call) (any, error)) *route {
	rt := &route{method: method, pattern: pattern, segs: strings.Split(strings.Trim(pattern, "/"), "/"),
		params: ps, handle: h, unsupported: map[string]bool{}}
	if rt.params == nil {
		rt.params = params{}
	}
	switch {
	case strings.HasPrefix(pattern, "/nodes/{node}/lxc"):
		rt.guestType = "lxc"
	case strings.HasPrefix(pattern, "/nodes/{node}/qemu"):
		rt.guestType = "qemu"
	}
	for _, u := range strings.Fields(unsupported) {
		rt.unsupported[u] = true
	}
	return rt
}

func (rt *route) withLimits(l map[string]int) *route { rt.limits = l; return rt }

var routes = []*route{
	r("GET", "/version", nil, "", (*Server).getVersion),
	func() *route {
		rt := r("POST", "/access/ticket", loginParams, "otp path privs tfa-challenge", (*Server).postTicket)
		rt.public = true
		return rt
	}(),
	r("GET", "/access/permissions", params{"path": str(), "userid": strp(`[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+(?:![A-Za-z][A-Za-z0-9.\-_]+)?`)}, "", (*Server).getPermissions),
	r("GET", "/cluster/status", nil, "", (*Server).getClusterStatus),
	r("GET", "/cluster/resources", params{"type": enum("vm", "storage", "node", "sdn")}, "", (*Server).getResources),
	r("GET", "/cluster/nextid", params{"vmid": vmidParam()}, "", (*Server).getNextID),
	r("GET", "/nodes", nil, "", (*Server).getNodes),
	r("GET", "/pools", params{"poolid": strf("pve-poolid")}, "type", (*Server).listPools),
	r("POST", "/pools", poolParams, "", (*Server).createPool),
	r("GET", "/pools/{poolid}", params{"type": enum("qemu", "lxc", "storage")}, "", (*Server).getPool),
	r("PUT", "/pools/{poolid}", poolUpdate, "storage", (*Server).updatePool),
	r("DELETE", "/pools/{poolid}", nil, "", (*Server).deletePool),
	r("GET", "/nodes/{node}/status", nil, "", (*Server).getNodeStatus),

	r("GET", "/nodes/{node}/lxc", nil, "", (*Server).listLXC),
	r("POST", "/nodes/{node}/lxc", lxcCreate, lxcCreateUnsupported, (*Server).createLXC).withLimits(lxcLimits),
	r("DELETE", "/nodes/{node}/lxc/{vmid}", params{"force": boolean(), "purge": boolean(), "destroy-unreferenced-disks": boolean()}, "", (*Server).deleteGuest),
	r("GET", "/nodes/{node}/lxc/{vmid}/config", params{"current": boolean()}, "snapshot", (*Server).getConfig),
	r("PUT", "/nodes/{node}/lxc/{vmid}/config", lxcUpdate, lxcUpdateUnsupported, (*Server).putConfig).withLimits(lxcLimits),
	r("GET", "/nodes/{node}/lxc/{vmid}/pending", nil, "", (*Server).getPending),
	r("POST", "/nodes/{node}/lxc/{vmid}/clone", lxcClone, "snapname", (*Server).cloneGuest),
	r("POST", "/nodes/{node}/lxc/{vmid}/template", nil, "", (*Server).templateLXC),
	r("GET", "/nodes/{node}/lxc/{vmid}/status/current", nil, "", (*Server).getGuestStatus),
	r("POST", "/nodes/{node}/lxc/{vmid}/status/start", params{"debug": boolean()}, "skiplock", (*Server).powerStart),
	r("POST", "/nodes/{node}/lxc/{vmid}/status/stop", params{"overrule-shutdown": boolean()}, "skiplock", (*Server).powerStop),
	r("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", params{"forceStop": boolean(), "timeout": intMin(0)}, "", (*Server).powerShutdown),
	r("POST", "/nodes/{node}/lxc/{vmid}/status/reboot", params{"timeout": intMin(0)}, "", (*Server).powerReboot),

	r("GET", "/nodes/{node}/qemu", params{"full": boolean()}, "", (*Server).listQEMU),
	r("POST", "/nodes/{node}/qemu", qemuCreate, qemuCreateUnsupported, (*Server).createQEMU).withLimits(qemuLimits),
	r("DELETE", "/nodes/{node}/qemu/{vmid}", params{"purge": boolean(), "destroy-unreferenced-disks": boolean()}, "skiplock", (*Server).deleteGuest),
	r("GET", "/nodes/{node}/qemu/{vmid}/config", params{"current": boolean()}, "snapshot", (*Server).getConfig),
	r("PUT", "/nodes/{node}/qemu/{vmid}/config", qemuUpdate, qemuPutUnsupported, (*Server).putConfig).withLimits(qemuLimits),
	r("POST", "/nodes/{node}/qemu/{vmid}/config", qemuUpdate, qemuPostUnsupported, (*Server).postConfig).withLimits(qemuLimits),
	r("GET", "/nodes/{node}/qemu/{vmid}/pending", nil, "", (*Server).getPending),
	r("POST", "/nodes/{node}/qemu/{vmid}/clone", qemuClone, "snapname", (*Server).cloneGuest),
	r("POST", "/nodes/{node}/qemu/{vmid}/template", nil, "disk", (*Server).templateQEMU),
	r("GET", "/nodes/{node}/qemu/{vmid}/status/current", nil, "", (*Server).getGuestStatus),
	r("POST", "/nodes/{node}/qemu/{vmid}/status/start", params{"timeout": intMin(0)}, "force-cpu machine migratedfrom migration_network migration_type nets-host-mtu skiplock stateuri targetstorage with-conntrack-state", (*Server).powerStart),
	r("POST", "/nodes/{node}/qemu/{vmid}/status/stop", params{"timeout": intMin(0), "overrule-shutdown": boolean(), "keepActive": boolean()}, "migratedfrom skiplock", (*Server).powerStop),
	r("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown", params{"timeout": intMin(0), "forceStop": boolean(), "keepActive": boolean()}, "skiplock", (*Server).powerShutdown),
	r("POST", "/nodes/{node}/qemu/{vmid}/status/reboot", params{"timeout": intMin(0)}, "", (*Server).powerReboot),

	r("GET", "/nodes/{node}/storage", params{"content": strf("pve-storage-content-list"), "enabled": boolean(), "storage": strf("pve-storage-id")}, "format target", (*Server).getStorages),
	r("GET", "/nodes/{node}/storage/{storage}/status", nil, "", (*Server).getStorageStatus),
	r("GET", "/nodes/{node}/storage/{storage}/content", params{"content": strf("pve-storage-content"), "vmid": vmidParam()}, "", (*Server).getStorageContent),
	r("GET", "/nodes/{node}/aplinfo", nil, "", (*Server).getAplinfo),
	r("POST", "/nodes/{node}/aplinfo", params{"storage": strf("pve-storage-id").req(), "template": str().maxlen(255).req()}, "", (*Server).postAplinfo),
	r("GET", "/nodes/{node}/tasks/{upid}/status", nil, "", (*Server).getTaskStatus),
	r("GET", "/nodes/{node}/tasks/{upid}/log", params{"start": intMin(0), "limit": intMin(0)}, "download", (*Server).getTaskLog),
	r("DELETE", "/nodes/{node}/tasks/{upid}", nil, "", (*Server).stopTask),
}

// matchRoute finds the route for method and path (below /api2/json).
func matchRoute(method, p string) (*route, map[string]string) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for _, rt := range routes {
		if rt.method != method || len(rt.segs) != len(segs) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				vars[s[1:len(s)-1]] = segs[i]
			} else if s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, vars
		}
	}
	return nil, nil
}

// validate checks raw parameters against the route's table the way PVE's
// JSON schema does, and reports every failure at once.
func (rt *route) validate(raw, vars map[string]string) (map[string]string, *apiError) {
	out := map[string]string{}
	errs := map[string]string{}
	var unsupported []string
	for k, v := range vars {
		if _, msg := checkValue(k, pathParams[k], v); msg != "" {
			errs[k] = msg
		}
	}
	for k, v := range raw {
		if pv, isPath := vars[k]; isPath {
			if v != pv {
				errs[k] = "value differs from the one in the path"
			}
			continue
		}
		p, _ := lookupParam(rt.params, rt.limits, k)
		if p == nil {
			if rt.unsupported[k] || rt.unsupported[indexedName(k)] {
				unsupported = append(unsupported, k)
				continue
			}
			errs[k] = "property is not defined in schema and the schema does not allow additional properties"
			continue
		}
		norm, msg := checkValue(k, p, v)
		if msg != "" {
			errs[k] = msg
			continue
		}
		out[k] = norm
	}
	for k, p := range rt.params {
		if p.optional || strings.HasSuffix(k, "[n]") {
			continue
		}
		if _, ok := raw[k]; !ok {
			errs[k] = "property is missing and it is not optional"
		}
	}
	if len(errs) > 0 {
		return nil, paramFail(errs)
	}
	if len(unsupported) > 0 {
		e := map[string]string{}
		for _, u := range unsupported {
			e[u] = "not supported by the simulator"
		}
		return nil, &apiError{status: http.StatusNotImplemented,
			msg: fmt.Sprintf("parameter '%s' is not supported by the simulator", strings.Join(sortedKeys(e), "', '")), errors: e}
	}
	return out, nil
}

// indexedName maps "usb3" to "usb[n]".
func indexedName(k string) string {
	i := len(k)
	for i > 0 && k[i-1] >= '0' && k[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(k) {
		return k
	}
	return k[:i] + "[n]"
}

// parseForm decodes a form body or query string. Unlike url.ParseQuery it
// keeps ';' inside values, which PVE property strings use.
func parseForm(s string) (url.Values, error) {
	out := url.Values{}
	for _, pair := range strings.Split(s, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		ku, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		vu, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out[ku] = append(out[ku], vu)
	}
	return out, nil
}
