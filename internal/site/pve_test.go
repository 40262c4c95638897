package site

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"phoenix/internal/testkit"
)

type apiNode struct {
	Path     string                     `json:"path"`
	Children []apiNode                  `json:"children"`
	Info     map[string]json.RawMessage `json:"info"`
}

type apiParam struct {
	// Proxmox writes some bounds as strings ("0"), others as numbers.
	Minimum *apiInt         `json:"minimum"`
	Maximum *apiInt         `json:"maximum"`
	Format  json.RawMessage `json:"format"`
}

type apiInt int64

func (a *apiInt) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	*a = apiInt(n)
	return err
}

func (a *apiInt) String() string {
	if a == nil {
		return "none"
	}
	return strconv.FormatInt(int64(*a), 10)
}

func findAPI(nodes []apiNode, path string) *apiNode {
	for i := range nodes {
		if nodes[i].Path == path {
			return &nodes[i]
		}
		if n := findAPI(nodes[i].Children, path); n != nil {
			return n
		}
	}
	return nil
}

func apiParams(t *testing.T, tree []apiNode, path, method string) map[string]apiParam {
	t.Helper()
	n := findAPI(tree, path)
	if n == nil {
		t.Fatalf("apidata: no %s", path)
	}
	var m struct {
		Parameters struct {
			Properties map[string]apiParam `json:"properties"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(n.Info[method], &m); err != nil {
		t.Fatalf("apidata %s %s: %v", method, path, err)
	}
	return m.Parameters.Properties
}

func fieldOf(t *testing.T, v any, key string) *fieldInfo {
	t.Helper()
	f := infoOf(reflect.TypeOf(v)).byKey[key]
	if f == nil {
		t.Fatalf("%T has no key %s", v, key)
	}
	return f
}

// The ranges this package enforces are the ones Proxmox VE enforces, so a
// site that validates here is not refused by the API later.
func TestRangesMatchProxmox(t *testing.T) {
	data := testkit.Reference(t, "pve/apidata.json") // Proxmox VE's own API schema
	var tree []apiNode
	if err := json.Unmarshal(data, &tree); err != nil {
		t.Fatal(err)
	}
	lxcP := apiParams(t, tree, "/nodes/{node}/lxc", "POST")
	for _, c := range []struct {
		api     apiParam
		f       *fieldInfo
		name    string
		wantMax bool
	}{
		{lxcP["vmid"], fieldOf(t, CA{}, "vmid"), "vmid", true},
		{lxcP["vmid"], fieldOf(t, VM{}, "clone_from"), "vmid", true},
		{lxcP["memory"], fieldOf(t, LXC{}, "memory_mb"), "lxc memory", false},
		{lxcP["swap"], fieldOf(t, LXC{}, "swap_mb"), "lxc swap", false},
		{lxcP["cores"], fieldOf(t, LXC{}, "cores"), "lxc cores", true},
	} {
		if c.api.Minimum == nil || !c.f.hasMin || int64(*c.api.Minimum) != c.f.min {
			t.Errorf("%s: Proxmox minimum %v, ours %d (set %v)", c.name, c.api.Minimum, c.f.min, c.f.hasMin)
		}
		if c.wantMax && (c.api.Maximum == nil || !c.f.hasMax || int64(*c.api.Maximum) != c.f.max) {
			t.Errorf("%s: Proxmox maximum %v, ours %d (set %v)", c.name, c.api.Maximum, c.f.max, c.f.hasMax)
		}
	}
	// A VM's memory is a property string whose "current" has the minimum.
	vmP := apiParams(t, tree, "/nodes/{node}/qemu/{vmid}/config", "POST")
	var memFormat map[string]apiParam
	if err := json.Unmarshal(vmP["memory"].Format, &memFormat); err != nil {
		t.Fatalf("qemu memory format: %v", err)
	}
	if m := memFormat["current"].Minimum; m == nil || int64(*m) != fieldOf(t, VM{}, "memory_mb").min {
		t.Errorf("vm memory: Proxmox minimum %v, ours %d", m, fieldOf(t, VM{}, "memory_mb").min)
	}
	if m := vmP["cores"].Minimum; m == nil || int64(*m) != fieldOf(t, VM{}, "cores").min {
		t.Errorf("vm cores: Proxmox minimum %v, ours %d", m, fieldOf(t, VM{}, "cores").min)
	}
	// Our container features are exactly Proxmox's.
	var feat map[string]json.RawMessage
	if err := json.Unmarshal(lxcP["features"].Format, &feat); err != nil {
		t.Fatalf("lxc features format: %v", err)
	}
	var pve, ours []string
	for k := range feat {
		pve = append(pve, k)
	}
	ours = append(ours, infoOf(reflect.TypeOf(Features{})).keys...)
	sort.Strings(ours)
	sort.Strings(pve)
	if !reflect.DeepEqual(ours, pve) {
		t.Errorf("features: ours %v, Proxmox %v", ours, pve)
	}
}
