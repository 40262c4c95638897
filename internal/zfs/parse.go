package zfs

import (
	"fmt"
	"strconv"
	"strings"
)

// Dataset is one row of
// `zfs list -H -p -o name,used,avail,refer,mountpoint -t filesystem`.
type Dataset struct {
	Name       string
	Used       uint64 // bytes
	Avail      uint64 // bytes
	Refer      uint64 // bytes
	Mountpoint string // a path, "none" or "legacy"; "" where zfs printed "-"
}

// ListColumns are the -o columns ParseList expects, in order.
const ListColumns = "name,used,avail,refer,mountpoint"

// ParseList parses the output of `zfs list -H -p -o name,used,avail,refer,mountpoint`.
// Fields are tab-separated; names and mountpoints may contain spaces.
func ParseList(out []byte) ([]Dataset, error) {
	var ds []Dataset
	for n, line := range lines(out) {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("zfs list output line %d: want 5 tab-separated fields, got %d: %q", n+1, len(f), line)
		}
		d := Dataset{Name: f[0], Mountpoint: dash(f[4])}
		var err error
		for i, p := range []*uint64{&d.Used, &d.Avail, &d.Refer} {
			if *p, err = parseNum(f[i+1]); err != nil {
				return nil, fmt.Errorf("zfs list output line %d: %s: %w", n+1, []string{"used", "avail", "refer"}[i], err)
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Mount is one row of `zfs list -H -p -o name,mountpoint -t filesystem`:
// what finding a filesystem and where it is mounted needs, without the
// space columns that zfs accounts for on every row it lists.
type Mount struct {
	Name       string
	Mountpoint string // a path, "none" or "legacy"; "" where zfs printed "-"
}

// MountColumns are the -o columns ParseMounts expects, in order.
const MountColumns = "name,mountpoint"

// ParseMounts parses the output of `zfs list -H -p -o name,mountpoint`.
func ParseMounts(out []byte) ([]Mount, error) {
	var ms []Mount
	for n, line := range lines(out) {
		name, mp, ok := strings.Cut(line, "\t")
		if !ok || strings.Contains(mp, "\t") {
			return nil, fmt.Errorf("zfs list output line %d: want 2 tab-separated fields: %q", n+1, line)
		}
		ms = append(ms, Mount{Name: name, Mountpoint: dash(mp)})
	}
	return ms, nil
}

// SourceKind is where a property's value comes from.
type SourceKind string

const (
	SourceLocal     SourceKind = "local"
	SourceDefault   SourceKind = "default"
	SourceInherited SourceKind = "inherited"
	SourceTemporary SourceKind = "temporary"
	SourceReceived  SourceKind = "received"
	SourceNone      SourceKind = "-" // read-only or not applicable
)

// Source is a property's source column: a kind, and for inherited values
// the dataset it is inherited from.
type Source struct {
	Kind SourceKind
	From string
}

func (s Source) String() string {
	if s.Kind == SourceInherited {
		return "inherited from " + s.From
	}
	return string(s.Kind)
}

// ParseSource parses one source column as zfs get prints it.
func ParseSource(s string) (Source, error) {
	switch SourceKind(s) {
	case SourceLocal, SourceDefault, SourceTemporary, SourceReceived, SourceNone:
		return Source{Kind: SourceKind(s)}, nil
	}
	if from, ok := strings.CutPrefix(s, "inherited from "); ok && from != "" {
		return Source{Kind: SourceInherited, From: from}, nil
	}
	return Source{}, fmt.Errorf("unknown property source %q", s)
}

// Property is one row of `zfs get -H -p -o name,property,value,source`.
type Property struct {
	Dataset string
	Name    string
	Value   string // literal (-p) form; "-" when there is none
	Source  Source
}

// None reports whether zfs printed no value at all (value and source "-").
func (p Property) None() bool { return p.Value == "-" && p.Source.Kind == SourceNone }

// ParseGet parses `zfs get -H -p -o name,property,value,source` output.
// A user property's value may itself contain tabs: name and property are
// the first two fields and source the last, so the value is what is left.
func ParseGet(out []byte) ([]Property, error) {
	var ps []Property
	for n, line := range lines(out) {
		name, rest, ok1 := strings.Cut(line, "\t")
		prop, rest, ok2 := strings.Cut(rest, "\t")
		i := strings.LastIndexByte(rest, '\t')
		if !ok1 || !ok2 || i < 0 {
			return nil, fmt.Errorf("zfs get output line %d: want 4 tab-separated fields: %q", n+1, line)
		}
		src, err := ParseSource(rest[i+1:])
		if err != nil {
			return nil, fmt.Errorf("zfs get output line %d: %w", n+1, err)
		}
		ps = append(ps, Property{Dataset: name, Name: prop, Value: rest[:i], Source: src})
	}
	return ps, nil
}

// Snapshot is one row of `zfs list -H -p -t snapshot -o name,creation`.
type Snapshot struct {
	Name     string // dataset@snap
	Dataset  string
	Snap     string
	Creation int64 // seconds since the epoch
}

// ParseSnapshots parses `zfs list -H -p -t snapshot -o name,creation`.
func ParseSnapshots(out []byte) ([]Snapshot, error) {
	var ss []Snapshot
	for n, line := range lines(out) {
		name, created, ok := strings.Cut(line, "\t")
		if !ok || strings.Contains(created, "\t") {
			return nil, fmt.Errorf("zfs list output line %d: want 2 tab-separated fields: %q", n+1, line)
		}
		ds, snap, ok := strings.Cut(name, "@")
		if !ok {
			return nil, fmt.Errorf("zfs list output line %d: %q is not a snapshot", n+1, name)
		}
		c, err := strconv.ParseInt(created, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("zfs list output line %d: creation: %w", n+1, err)
		}
		ss = append(ss, Snapshot{Name: name, Dataset: ds, Snap: snap, Creation: c})
	}
	return ss, nil
}

// lines splits output into lines without the final newline. Only a
// trailing empty line is dropped: an empty line elsewhere is malformed
// and the callers reject it.
func lines(out []byte) []string {
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parseNum reads a -p number; "-" (no value) reads as 0.
func parseNum(s string) (uint64, error) {
	if s == "-" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
