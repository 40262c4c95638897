package nft

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"phoenix/internal/machine"
)

// Backend reads and replaces phoenix's table and the sysctls the
// firewall depends on, in one network namespace.
type Backend interface {
	// Current is phoenix's live table, nil when there is none.
	Current() (*Ruleset, error)
	// Apply replaces phoenix's table with rs (nil deletes it), atomically.
	Apply(rs *Ruleset) error
	Sysctl(key string) (string, error)
	SetSysctl(key, value string) error
}

// BridgeSysctls make bridged traffic cross the inet forward chain
// (br_netfilter); without them the forward chain filters nothing between
// guests on one bridge.
var BridgeSysctls = []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"}

// SimFile is where the simulated host keeps its table, under --root.
const SimFile = "/var/lib/phoenix-sim/nft.json"

// Sim is the simulated backend: the table and sysctls of a host that
// exists only in a file under the run's root. It checks what the kernel
// would refuse that phoenix can write (a rule naming a missing set).
type Sim struct {
	path string
	mu   sync.Mutex
}

var _ Backend = (*Sim)(nil)

type simState struct {
	Table   *Ruleset          `json:"table"`
	Sysctls map[string]string `json:"sysctls"`
}

// NewSim keeps its state in root's SimFile.
func NewSim(root *machine.Root) (*Sim, error) {
	p, err := root.Resolve(SimFile)
	if err != nil {
		return nil, err
	}
	return &Sim{path: p}, nil
}

func (s *Sim) load() (simState, error) {
	st := simState{Sysctls: map[string]string{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		// A fresh host: br_netfilter loaded, not yet asked to filter.
		for _, k := range BridgeSysctls {
			st.Sysctls[k] = "0"
		}
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", s.path, err)
	}
	if st.Sysctls == nil {
		st.Sysctls = map[string]string{}
	}
	return st, nil
}

func (s *Sim) save(st simState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	// The table as an operator reviews it, first: the state is what the
	// next run reads, so a kill between the two leaves a state that run
	// applies again, writing both.
	if err := machine.WriteFileAtomic(strings.TrimSuffix(s.path, ".json")+".rules", []byte(RenderTable(st.Table)), 0o644, -1, -1); err != nil {
		return err
	}
	return machine.WriteFileAtomic(s.path, append(b, '\n'), 0o644, -1, -1)
}

func (s *Sim) Current() (*Ruleset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	return st.Table, err
}

func (s *Sim) Apply(rs *Ruleset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := Check(rs); err != nil {
		return err
	}
	st, err := s.load()
	if err != nil {
		return err
	}
	st.Table = rs
	return s.save(st)
}

func (s *Sim) Sysctl(key string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return "", err
	}
	v, ok := st.Sysctls[key]
	if !ok {
		return "", fmt.Errorf("sysctl %s: %w", key, fs.ErrNotExist)
	}
	return v, nil
}

func (s *Sim) SetSysctl(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := st.Sysctls[key]; !ok {
		return fmt.Errorf("sysctl %s: %w", key, fs.ErrNotExist)
	}
	st.Sysctls[key] = value
	return s.save(st)
}

// Check refuses what the kernel would refuse of phoenix's vocabulary: a
// rule naming a set the table does not define, an element of the wrong
// shape, an unknown verdict or hook.
func Check(rs *Ruleset) error {
	if rs == nil {
		return nil
	}
	sets := map[string]Set{}
	for _, s := range rs.Sets {
		for _, e := range s.Elements {
			if _, err := elementKey(s.Type, e.Key); err != nil {
				return fmt.Errorf("set %s: %w", s.Name, err)
			}
		}
		sets[s.Name] = s
	}
	for _, c := range rs.Chains {
		if _, ok := hooks[c.Hook]; !ok {
			return fmt.Errorf("chain %s: unknown hook %q", c.Name, c.Hook)
		}
		for i, r := range c.Rules {
			for _, name := range []string{r.Saddr.Set, r.Daddr.Set, r.DPort.Set, r.Concat} {
				if _, ok := sets[name]; name != "" && !ok {
					return fmt.Errorf("chain %s rule %d: set %s does not exist", c.Name, i+1, name)
				}
			}
			if r.Verdict != "accept" && r.Verdict != "drop" {
				return fmt.Errorf("chain %s rule %d: unknown verdict %q", c.Name, i+1, r.Verdict)
			}
		}
	}
	return nil
}
