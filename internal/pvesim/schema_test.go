package pvesim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"

	"phoenix/internal/testkit"
)

// The official PVE API schema is the oracle for the simulator's own table.
// It lives beside the repository as ../shared/pve/apidata.json.

type schemaProp struct {
	Type       string                 `json:"type"`
	Optional   json.RawMessage        `json:"optional"`
	Enum       []string               `json:"enum"`
	Minimum    json.RawMessage        `json:"minimum"`
	Maximum    json.RawMessage        `json:"maximum"`
	MinLength  *int                   `json:"minLength"`
	MaxLength  *int                   `json:"maxLength"`
	Pattern    string                 `json:"pattern"`
	Format     json.RawMessage        `json:"format"`
	Alias      string                 `json:"alias"`
	KeyAlias   string                 `json:"keyAlias"`
	DefaultKey json.RawMessage        `json:"default_key"`
	Items      *schemaProp            `json:"items"`
	Properties map[string]*schemaProp `json:"properties"`
}

func (p *schemaProp) optional() bool { return isTrue(p.Optional) }

func isTrue(r json.RawMessage) bool {
	s := strings.Trim(string(r), `"`)
	return s == "1" || s == "true"
}

// num reads minimum/maximum, which the schema writes as numbers or strings.
func num(r json.RawMessage) (float64, bool) {
	if len(r) == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.Trim(string(r), `"`), 64)
	return f, err == nil
}

// formatName is a named format; formatMap an inline property-string schema.
func (p *schemaProp) formatName() string {
	var s string
	json.Unmarshal(p.Format, &s)
	return s
}

func (p *schemaProp) formatMap() map[string]*schemaProp {
	var m map[string]*schemaProp
	if json.Unmarshal(p.Format, &m) != nil {
		return nil
	}
	return m
}

type schemaMethod struct {
	Parameters struct {
		Properties map[string]*schemaProp `json:"properties"`
	} `json:"parameters"`
	Returns *schemaProp `json:"returns"`
}

type schemaNode struct {
	Path     string                   `json:"path"`
	Info     map[string]*schemaMethod `json:"info"`
	Children []*schemaNode            `json:"children"`
}

// loadSchema reads Proxmox VE's API schema, pve/apidata.json, the oracle
// kept beside the repository.
func loadSchema(t *testing.T) map[string]*schemaMethod {
	t.Helper()
	data := testkit.Reference(t, "pve/apidata.json")
	var roots []*schemaNode
	if err := json.Unmarshal(data, &roots); err != nil {
		t.Fatalf("pve/apidata.json: %v", err)
	}
	out := map[string]*schemaMethod{}
	var walk func(n *schemaNode)
	walk = func(n *schemaNode) {
		for m, info := range n.Info {
			out[m+" "+n.Path] = info
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	for _, n := range roots {
		walk(n)
	}
	return out
}

// perlRE turns a schema pattern into Go syntax, anchored as PVE anchors it.
func perlRE(p string) (*regexp.Regexp, error) {
	p = strings.ReplaceAll(p, "(?^:", "(?:")
	p = strings.ReplaceAll(p, "{,", "{0,")
	return regexp.Compile(`^(?:` + p + `)$`)
}

func pathVars(pattern string) []string {
	var vars []string
	for _, s := range strings.Split(pattern, "/") {
		if strings.HasPrefix(s, "{") {
			vars = append(vars, s[1:len(s)-1])
		}
	}
	return vars
}

// compareParam reports how ours differs from the schema's definition.
func compareParam(t *testing.T, where string, ours *param, theirs *schemaProp) {
	t.Helper()
	if ours.alias != "" {
		if theirs.Alias != ours.alias {
			t.Errorf("%s: alias of %q, schema says %q", where, ours.alias, theirs.Alias)
		}
		return
	}
	if ours.kind.String() != theirs.Type {
		t.Errorf("%s: type %s, schema says %s", where, ours.kind, theirs.Type)
		return
	}
	if ours.optional != theirs.optional() {
		t.Errorf("%s: optional=%v, schema says %v", where, ours.optional, theirs.optional())
	}
	if theirs.Enum != nil || ours.enum != nil {
		set := map[string]bool{}
		for _, e := range theirs.Enum {
			set[e] = true
		}
		if len(ours.enum) != len(theirs.Enum) {
			t.Errorf("%s: enum %v, schema says %v", where, ours.enum, theirs.Enum)
		}
		for _, e := range ours.enum {
			if !set[e] {
				t.Errorf("%s: enum value %q not in the schema", where, e)
			}
		}
	}
	for _, b := range []struct {
		name   string
		ours   float64
		theirs json.RawMessage
	}{{"minimum", ours.min, theirs.Minimum}, {"maximum", ours.max, theirs.Maximum}} {
		v, ok := num(b.theirs)
		switch {
		case ok && math.IsNaN(b.ours):
			t.Errorf("%s: no %s, schema says %v", where, b.name, v)
		case !ok && !math.IsNaN(b.ours):
			t.Errorf("%s: %s %v not in the schema", where, b.name, b.ours)
		case ok && v != b.ours:
			t.Errorf("%s: %s %v, schema says %v", where, b.name, b.ours, v)
		}
	}
	for _, b := range []struct {
		name   string
		ours   int
		theirs *int
	}{{"minLength", ours.minLen, theirs.MinLength}, {"maxLength", ours.maxLen, theirs.MaxLength}} {
		if b.theirs == nil && b.ours != 0 || b.theirs != nil && *b.theirs != b.ours {
			t.Errorf("%s: %s %d, schema says %v", where, b.name, b.ours, b.theirs)
		}
	}
	if theirs.Pattern != "" && ours.pattern == nil {
		t.Errorf("%s: no pattern, schema has %q", where, theirs.Pattern)
	}
	if ours.pattern != nil && theirs.Pattern == "" && theirs.formatName() == "" {
		t.Errorf("%s: pattern not in the schema", where)
	}
	if fm := theirs.formatMap(); fm != nil {
		if ours.prop == nil {
			t.Errorf("%s: schema has a property string, the table a plain value", where)
			return
		}
		compareProp(t, where, ours.prop, fm)
		return
	}
	name := theirs.formatName()
	switch {
	case ours.prop != nil && ours.prop.name != name:
		t.Errorf("%s: property string for format %q, schema says %q", where, ours.prop.name, name)
	case ours.format != "" && ours.format != name:
		t.Errorf("%s: format %q, schema says %q", where, ours.format, name)
	case name != "" && ours.format == "" && ours.prop == nil && ours.pattern == nil && ours.enum == nil:
		t.Errorf("%s: schema format %q is not checked", where, name)
	}
	if ours.format != "" {
		if _, ok := formats[ours.format]; !ok {
			t.Errorf("%s: format %q has no checker", where, ours.format)
		}
	}
}

func compareProp(t *testing.T, where string, ours *propFormat, theirs map[string]*schemaProp) {
	t.Helper()
	def := ""
	for k, p := range theirs {
		if isTrue(p.DefaultKey) {
			def = k
		}
		if p.Alias == "" && !p.optional() {
			if _, ok := ours.keys[k]; !ok {
				t.Errorf("%s.%s: required by the schema, missing from the table", where, k)
			}
		}
	}
	if ours.defaultKey != def {
		t.Errorf("%s: default key %q, schema says %q", where, ours.defaultKey, def)
	}
	for k, p := range ours.keys {
		sp, ok := theirs[k]
		if !ok {
			t.Errorf("%s.%s: not in the schema", where, k)
			continue
		}
		compareParam(t, where+"."+k, p, sp)
	}
	for k := range ours.keyAlias {
		sp, ok := theirs[k]
		if !ok || sp.KeyAlias != ours.defaultKey || sp.Alias != ours.valueKey {
			t.Errorf("%s.%s: key alias not in the schema as %s=%s", where, k, ours.defaultKey, ours.valueKey)
		}
	}
}

// TestTableAgainstSchema: every parameter the simulator accepts exists in
// PVE's schema with a compatible definition, and every schema parameter of
// a served method is either accepted or listed as unsupported.
func TestTableAgainstSchema(t *testing.T) {
	schema := loadSchema(t)
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		m := schema[key]
		if m == nil {
			t.Errorf("%s: not in the PVE schema", key)
			continue
		}
		props := m.Parameters.Properties
		seen := map[string]bool{}
		for _, v := range pathVars(rt.pattern) {
			seen[v] = true
			sp, ok := props[v]
			if !ok {
				t.Errorf("%s: path variable %s not a schema parameter", key, v)
				continue
			}
			compareParam(t, key+" "+v, pathParams[v], sp)
		}
		for name, p := range rt.params {
			seen[name] = true
			sp, ok := props[name]
			if !ok {
				t.Errorf("%s: parameter %s not in the schema", key, name)
				continue
			}
			compareParam(t, key+" "+name, p, sp)
			if base, isIdx := strings.CutSuffix(name, "[n]"); isIdx && rt.limits[base] == 0 {
				t.Errorf("%s: %s has no index limit", key, name)
			}
		}
		for name := range rt.unsupported {
			if seen[name] {
				t.Errorf("%s: %s is both accepted and unsupported", key, name)
			}
			seen[name] = true
			if _, ok := props[name]; !ok {
				t.Errorf("%s: unsupported parameter %s not in the schema", key, name)
			}
		}
		for name := range props {
			if !seen[name] {
				t.Errorf("%s: schema parameter %s is neither accepted nor listed as unsupported", key, name)
			}
		}
	}
}

// corpusBase is a valid request for every route that takes parameters;
// the invalid corpus mutates it.
var corpusBase = map[string]struct {
	path string
	base map[string]string
}{
	"GET /cluster/resources":                         {"/cluster/resources", nil},
	"GET /cluster/nextid":                            {"/cluster/nextid", nil},
	"POST /access/ticket":                            {"/access/ticket", map[string]string{"username": "root@pam", "password": "x"}},
	"POST /nodes/{node}/lxc":                         {"/nodes/pve/lxc", map[string]string{"vmid": "300", "ostemplate": testTemplate, "rootfs": "local-zfs:1"}},
	"DELETE /nodes/{node}/lxc/{vmid}":                {"/nodes/pve/lxc/100", nil},
	"GET /nodes/{node}/lxc/{vmid}/config":            {"/nodes/pve/lxc/100/config", nil},
	"PUT /nodes/{node}/lxc/{vmid}/config":            {"/nodes/pve/lxc/100/config", map[string]string{"description": "x"}},
	"POST /nodes/{node}/lxc/{vmid}/clone":            {"/nodes/pve/lxc/100/clone", map[string]string{"newid": "301"}},
	"POST /nodes/{node}/lxc/{vmid}/status/start":     {"/nodes/pve/lxc/100/status/start", nil},
	"POST /nodes/{node}/lxc/{vmid}/status/stop":      {"/nodes/pve/lxc/100/status/stop", nil},
	"POST /nodes/{node}/lxc/{vmid}/status/shutdown":  {"/nodes/pve/lxc/100/status/shutdown", nil},
	"POST /nodes/{node}/lxc/{vmid}/status/reboot":    {"/nodes/pve/lxc/100/status/reboot", nil},
	"GET /nodes/{node}/qemu":                         {"/nodes/pve/qemu", nil},
	"POST /nodes/{node}/qemu":                        {"/nodes/pve/qemu", map[string]string{"vmid": "302"}},
	"DELETE /nodes/{node}/qemu/{vmid}":               {"/nodes/pve/qemu/200", nil},
	"GET /nodes/{node}/qemu/{vmid}/config":           {"/nodes/pve/qemu/200/config", nil},
	"PUT /nodes/{node}/qemu/{vmid}/config":           {"/nodes/pve/qemu/200/config", map[string]string{"description": "x"}},
	"POST /nodes/{node}/qemu/{vmid}/config":          {"/nodes/pve/qemu/200/config", map[string]string{"description": "x"}},
	"POST /nodes/{node}/qemu/{vmid}/clone":           {"/nodes/pve/qemu/200/clone", map[string]string{"newid": "303"}},
	"POST /nodes/{node}/qemu/{vmid}/status/start":    {"/nodes/pve/qemu/200/status/start", nil},
	"POST /nodes/{node}/qemu/{vmid}/status/stop":     {"/nodes/pve/qemu/200/status/stop", nil},
	"POST /nodes/{node}/qemu/{vmid}/status/shutdown": {"/nodes/pve/qemu/200/status/shutdown", nil},
	"POST /nodes/{node}/qemu/{vmid}/status/reboot":   {"/nodes/pve/qemu/200/status/reboot", nil},
	"GET /nodes/{node}/storage":                      {"/nodes/pve/storage", nil},
	"GET /nodes/{node}/storage/{storage}/content":    {"/nodes/pve/storage/local/content", nil},
	"POST /nodes/{node}/aplinfo":                     {"/nodes/pve/aplinfo", map[string]string{"storage": "local", "template": seedTemplate}},
	"GET /nodes/{node}/tasks/{upid}/log":             {"/nodes/pve/tasks/UPID:pve:00001000:00000001:00000001:x:1:root@pam:/log", nil},
	"GET /pools":                                     {"/pools", nil},
	"GET /access/permissions":                        {"/access/permissions", nil},
	"POST /pools":                                    {"/pools", map[string]string{"poolid": "p1"}},
	"GET /pools/{poolid}":                            {"/pools/p1", nil},
	"PUT /pools/{poolid}":                            {"/pools/p1", map[string]string{"comment": "x"}},
	"POST /nodes/{node}/qemu/{vmid}/template":        {"/nodes/pve/qemu/200/template", nil},
}

// propBaseline is a valid value of each property-string parameter.
var propBaseline = map[string]string{
	"mp[n]":       "local-zfs:1,mp=/srv",
	"rootfs":      "local-zfs:1",
	"net[n]":      "name=eth0,bridge=vmbr0",
	"features":    "nesting=1",
	"dev[n]":      "/dev/null",
	"unused[n]":   "local-zfs:vm-1-disk-0",
	"ide[n]":      "local-zfs:1",
	"sata[n]":     "local-zfs:1",
	"scsi[n]":     "local-zfs:1",
	"virtio[n]":   "local-zfs:1",
	"agent":       "1",
	"vga":         "std",
	"memory":      "512",
	"machine":     "q35",
	"ipconfig[n]": "ip=dhcp",
	"cpu":         "host",
	"boot":        "order=scsi0",
}

// qemuNetBaseline differs from the container's.
const qemuNetBaseline = "virtio,bridge=vmbr0"

// invalidValues derives values PVE's schema rejects for a parameter.
func invalidValues(sp *schemaProp) []string {
	var out []string
	switch sp.Type {
	case "integer":
		out = append(out, "abc", "1.5")
	case "number":
		out = append(out, "abc", "1.2.3")
	case "boolean":
		out = append(out, "maybe", "2")
	}
	if sp.Enum != nil {
		out = append(out, "not-in-the-enum")
	}
	if v, ok := num(sp.Minimum); ok {
		out = append(out, strconv.FormatFloat(v-1, 'f', -1, 64))
	}
	if v, ok := num(sp.Maximum); ok {
		out = append(out, strconv.FormatFloat(v+1, 'f', -1, 64))
	}
	if sp.MaxLength != nil {
		out = append(out, strings.Repeat("a", *sp.MaxLength+1))
	}
	if sp.MinLength != nil && *sp.MinLength > 1 {
		out = append(out, strings.Repeat("a", *sp.MinLength-1))
	}
	if sp.Pattern != "" {
		if re, err := perlRE(sp.Pattern); err == nil {
			for _, cand := range []string{"", "!", "bad value!", "-", "\x01", "x y"} {
				if !re.MatchString(cand) {
					out = append(out, cand)
					break
				}
			}
		}
	}
	return out
}

type corpusCase struct {
	name  string // what was mutated
	param string // the parameter the answer must name
	vals  map[string]string
}

// corpus derives invalid requests from the schema for one method.
func corpus(t *testing.T, key string, rt *route, props map[string]*schemaProp, base map[string]string) []corpusCase {
	var out []corpusCase
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for bk, bv := range base {
			m[bk] = bv
		}
		m[k] = v
		return m
	}
	vars := map[string]bool{}
	for _, v := range pathVars(rt.pattern) {
		vars[v] = true
	}
	for name, sp := range props {
		if vars[name] {
			continue
		}
		concrete := strings.Replace(name, "[n]", "0", 1)
		// Unknown names next to every real one.
		bogus := strings.Replace(name, "[n]", "x0", 1) + "_bogus"
		out = append(out, corpusCase{"unknown " + bogus, bogus, with(bogus, "1")})
		if !sp.optional() {
			m := with("", "")
			delete(m, "")
			delete(m, name)
			out = append(out, corpusCase{"missing " + name, name, m})
		}
		if _, ok := rt.params[name]; !ok {
			// Unsupported names are refused as such (501).
			out = append(out, corpusCase{"unsupported " + name, concrete, with(concrete, "1")})
			continue
		}
		for _, v := range invalidValues(sp) {
			out = append(out, corpusCase{name + "=" + strconv.Quote(v), concrete, with(concrete, v)})
		}
		fm := sp.formatMap()
		if fm == nil {
			continue
		}
		bl := propBaseline[name]
		if name == "net[n]" && strings.Contains(key, "qemu") {
			bl = qemuNetBaseline
		}
		if bl == "" {
			t.Errorf("%s: no baseline value for property string %s", key, name)
			continue
		}
		if _, msg := checkValue(concrete, rt.params[name], bl); msg != "" {
			t.Errorf("%s: baseline %s=%q invalid: %s", key, name, bl, msg)
			continue
		}
		out = append(out, corpusCase{name + " unknown sub-key", concrete, with(concrete, bl+",bogus_sub=1")})
		for sub, ssp := range fm {
			if ssp.Alias != "" {
				continue
			}
			if !ssp.optional() {
				out = append(out, corpusCase{name + " without " + sub, concrete, with(concrete, withoutSubKey(bl, sub, isTrue(ssp.DefaultKey)))})
			}
			for _, v := range invalidValues(ssp) {
				if v == "" || strings.ContainsAny(v, ",=") {
					continue
				}
				out = append(out, corpusCase{name + "." + sub + "=" + strconv.Quote(v), concrete,
					with(concrete, withoutSubKey(bl, sub, isTrue(ssp.DefaultKey))+","+sub+"="+v)})
			}
		}
	}
	return out
}

// withoutSubKey drops one sub-key (or the bare default value) from a
// property string.
func withoutSubKey(v, sub string, isDefault bool) string {
	var keep []string
	for _, part := range strings.Split(v, ",") {
		k, _, hasEq := strings.Cut(part, "=")
		if (!hasEq && isDefault) || (hasEq && k == sub) {
			continue
		}
		keep = append(keep, part)
	}
	return strings.Join(keep, ",")
}

// TestSchemaInvalidCorpus sends requests the schema says are invalid and
// checks the simulator refuses each one, naming the parameter.
func TestSchemaInvalidCorpus(t *testing.T) {
	schema := loadSchema(t)
	srv, err := New(Options{Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	seed := func(method, path string, vals map[string]string) {
		t.Helper()
		if r := serveDirect(srv, method, path, vals, false); r.Code != 200 {
			t.Fatalf("seed %s %s: %d %s", method, path, r.Code, r.Body)
		}
	}
	seed("POST", "/nodes/pve/lxc", map[string]string{"vmid": "100", "ostemplate": testTemplate, "rootfs": "local-zfs:1"})
	seed("POST", "/nodes/pve/qemu", map[string]string{"vmid": "200"})
	before, _ := json.Marshal(srv.w.Guests)

	total := 0
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		props := schema[key].Parameters.Properties
		hasParams := false
		for name := range props {
			hasParams = hasParams || !slices.Contains(pathVars(rt.pattern), name)
		}
		if !hasParams {
			continue
		}
		cb, ok := corpusBase[key]
		if !ok {
			t.Errorf("%s: no corpus base request", key)
			continue
		}
		if _, aerr := rt.validate(cb.base, varsOf(rt, cb.path)); aerr != nil {
			t.Errorf("%s: base request invalid: %v %v", key, aerr, aerr.errors)
			continue
		}
		for i, cc := range corpus(t, key, rt, props, cb.base) {
			total++
			rec := serveDirect(srv, rt.method, cb.path, cc.vals, i%2 == 1)
			var body struct {
				Errors map[string]string `json:"errors"`
			}
			json.Unmarshal(rec.Body.Bytes(), &body)
			want := http.StatusBadRequest
			if strings.HasPrefix(cc.name, "unsupported ") {
				want = http.StatusNotImplemented
			}
			if rec.Code != want || body.Errors[cc.param] == "" {
				t.Errorf("%s: %s: got %d %s, want %d naming %s", key, cc.name, rec.Code, strings.TrimSpace(rec.Body.String()), want, cc.param)
			}
		}
	}
	after, _ := json.Marshal(srv.w.Guests)
	if string(before) != string(after) {
		t.Errorf("refused requests changed the guests")
	}
	if total < 500 {
		t.Errorf("corpus has only %d requests", total)
	}
	t.Logf("%d invalid requests refused", total)
}

func varsOf(rt *route, path string) map[string]string {
	_, vars := matchRoute(rt.method, path)
	return vars
}

// serveDirect runs one request through the handler without TLS, as a
// token user, form-encoded or (asJSON) JSON.
func serveDirect(srv *Server, method, path string, vals map[string]string, asJSON bool) *httptest.ResponseRecorder {
	var req *http.Request
	target := apiPrefix + path
	if method == "GET" || method == "DELETE" {
		q := url.Values{}
		for k, v := range vals {
			q.Set(k, v)
		}
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		req = httptest.NewRequest(method, target, nil)
	} else if asJSON {
		b, _ := json.Marshal(vals)
		req = httptest.NewRequest(method, target, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		q := url.Values{}
		for k, v := range vals {
			q.Set(k, v)
		}
		req = httptest.NewRequest(method, target, strings.NewReader(q.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "PVEAPIToken="+testToken)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// checkShape compares an answer with the schema's "returns".
func checkShape(where string, v any, sp *schemaProp, errs *[]string) {
	if sp == nil {
		return
	}
	bad := func(format string, args ...any) {
		*errs = append(*errs, where+": "+strings.TrimSpace(sprintf(format, args...)))
	}
	switch sp.Type {
	case "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			bad("want integer, got %T %v", v, v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			bad("want number, got %T %v", v, v)
		}
	case "boolean":
		if f, ok := v.(float64); !ok || (f != 0 && f != 1) {
			bad("want boolean 0/1, got %T %v", v, v)
		}
	case "string":
		if _, ok := v.(string); !ok {
			bad("want string, got %T %v", v, v)
		}
	case "null":
		if v != nil {
			bad("want null, got %v", v)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("want array, got %T", v)
			return
		}
		for i, x := range a {
			checkShape(where+"["+strconv.Itoa(i)+"]", x, sp.Items, errs)
		}
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("want object, got %T", v)
			return
		}
		for name, p := range sp.Properties {
			x, present := m[name]
			if !present {
				if !p.optional() {
					bad("missing %s", name)
				}
				continue
			}
			checkShape(where+"."+name, x, p, errs)
		}
		// Config answers: indexed keys ("mp0") follow "mp[n]".
		for name, x := range m {
			if _, ok := sp.Properties[name]; ok {
				continue
			}
			if p, ok := sp.Properties[indexedName(name)]; ok {
				checkShape(where+"."+name, x, p, errs)
			}
		}
	}
}

func sprintf(format string, args ...any) string {
	return strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
}

// TestAnswersAgainstSchema checks the shape and JSON types of every GET
// answer against the schema: numbers where PVE gives numbers.
func TestAnswersAgainstSchema(t *testing.T) {
	schema := loadSchema(t)
	s := startSim(t, Options{Nodes: 2, TaskDuration: time.Millisecond})
	c := s.rootClient()
	createCT(t, c, 100, optsFor("mp1", "/srv/bind,mp=/bind", "net1", "name=eth1,bridge=vmbr1,tag=5,mtu=1400")...)
	s.raw(t, "POST", "/pools", nil, map[string]any{"poolid": "prod", "comment": "production"}, s.rootAuth(t))
	s.raw(t, "PUT", "/pools/prod", nil, map[string]any{"vms": "100"}, s.rootAuth(t))
	for _, p := range []string{"/nodes/pve/qemu"} {
		s.raw(t, "POST", p, nil, map[string]any{"vmid": 200, "name": "vm", "memory": "1024", "scsi0": "local-zfs:4",
			"net0": "virtio,bridge=vmbr0", "agent": "1", "onboot": true, "cores": 2}, tokenAuth)
	}
	s.waitUPID(t, s.raw(t, "POST", "/nodes/pve/lxc/100/status/start", nil, nil, tokenAuth).data().(string))
	if r := s.raw(t, "PUT", "/nodes/pve/lxc/100/config", nil, map[string]any{"mp2": "local-zfs:1,mp=/new", "delete": "mp1"}, s.rootAuth(t)); r.status != 200 {
		t.Fatalf("config: %d %s", r.status, r.reason)
	}
	upid := s.raw(t, "POST", "/nodes/pve/lxc/100/status/reboot", nil, nil, tokenAuth).data().(string)
	s.waitUPID(t, upid)
	s.raw(t, "PUT", "/nodes/pve/lxc/100/config", nil, map[string]any{"mp3": "local-zfs:1,mp=/new3"}, tokenAuth)

	// Known, deliberate departures from the schema, as PVE itself answers.
	exempt := map[string]string{
		"GET /cluster/nextid":                   "PVE answers a string; go-proxmox decodes a string",
		"GET /nodes/{node}/lxc/{vmid}/pending":  "PVE answers values with their config types",
		"GET /nodes/{node}/qemu/{vmid}/pending": "PVE answers values with their config types",
	}
	paths := map[string]string{
		"GET /version": "/version", "GET /cluster/status": "/cluster/status", "GET /cluster/resources": "/cluster/resources",
		"GET /nodes": "/nodes", "GET /nodes/{node}/status": "/nodes/pve/status",
		"GET /nodes/{node}/lxc": "/nodes/pve/lxc", "GET /nodes/{node}/lxc/{vmid}/config": "/nodes/pve/lxc/100/config",
		"GET /nodes/{node}/lxc/{vmid}/status/current": "/nodes/pve/lxc/100/status/current",
		"GET /nodes/{node}/qemu":                      "/nodes/pve/qemu", "GET /nodes/{node}/qemu/{vmid}/config": "/nodes/pve/qemu/200/config",
		"GET /nodes/{node}/qemu/{vmid}/status/current": "/nodes/pve/qemu/200/status/current",
		"GET /nodes/{node}/storage":                    "/nodes/pve/storage", "GET /nodes/{node}/storage/{storage}/status": "/nodes/pve/storage/local-zfs/status",
		"GET /nodes/{node}/storage/{storage}/content": "/nodes/pve/storage/local-zfs/content",
		"GET /nodes/{node}/aplinfo":                   "/nodes/pve/aplinfo",
		"GET /pools":                                  "/pools",
		"GET /access/permissions":                     "/access/permissions",
		"GET /pools/{poolid}":                         "/pools/prod",
		"GET /nodes/{node}/tasks/{upid}/status":       "/nodes/pve/tasks/" + upid + "/status",
		"GET /nodes/{node}/tasks/{upid}/log":          "/nodes/pve/tasks/" + upid + "/log",
	}
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		if rt.method != "GET" || exempt[key] != "" {
			continue
		}
		p, ok := paths[key]
		if !ok {
			t.Errorf("%s: no request in this test", key)
			continue
		}
		r := s.get(t, p)
		if r.status != 200 {
			t.Errorf("%s: %d %s", key, r.status, r.reason)
			continue
		}
		var errs []string
		checkShape(key, r.data(), schema[key].Returns, &errs)
		sort.Strings(errs)
		for _, e := range errs {
			t.Error(e)
		}
	}
}

func optsFor(kv ...string) []proxmox.ContainerOption {
	var out []proxmox.ContainerOption
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, proxmox.ContainerOption{Name: kv[i], Value: kv[i+1]})
	}
	return out
}
