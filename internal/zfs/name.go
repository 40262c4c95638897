package zfs

import (
	"fmt"
	"strings"
)

// maxNameLen is ZFS_MAX_DATASET_NAME_LEN: names must be shorter.
const maxNameLen = 256

// maxNesting is zfs_max_dataset_nesting's default.
const maxNesting = 50

// nameError is why a dataset name is invalid, worded as libzfs words it.
type nameError string

func (e nameError) Error() string { return string(e) }

// validateName is libzfs's zfs_validate_name for filesystems and
// snapshots: types says which are acceptable, modifying refuses '%'
// (allowed when only opening, for zfs's internal temporary names).
func validateName(path string, types int, modifying bool) error {
	switch {
	case types&typeSnap == 0 && strings.Contains(path, "@"):
		return nameError("snapshot delimiter '@' is not expected here")
	case types == typeSnap && !strings.Contains(path, "@"):
		return nameError("missing '@' delimiter in snapshot name")
	case strings.Contains(path, "#"):
		return nameError("bookmark delimiter '#' is not expected here")
	case modifying && strings.Contains(path, "%"):
		return nameError("invalid character % in name")
	}
	return entityCheck(path)
}

// entityCheck is zfs_namecheck.c's entity_namecheck.
func entityCheck(path string) error {
	switch {
	case len(path) >= maxNameLen:
		return nameError("name is too long")
	case strings.HasPrefix(path, "/"):
		return nameError("leading slash in name")
	case path == "":
		return nameError("empty component or misplaced '@' or '#' delimiter in name")
	}
	start, delim := 0, false
	for {
		end := start
		for end < len(path) && !strings.ContainsRune("/@#", rune(path[end])) {
			end++
		}
		if end == len(path) && path[end-1] == '/' {
			return nameError("trailing slash in name")
		}
		for _, c := range path[start:end] {
			if !validNameChar(c) && c != '%' {
				return nameError(fmt.Sprintf("invalid character '%c' in name", c))
			}
		}
		if end == len(path) || path[end] == '/' {
			switch path[start:end] {
			case ".":
				return nameError("self reference, '.' is found in name")
			case "..":
				return nameError("parent reference, '..' is found in name")
			}
		}
		if end < len(path) && (path[end] == '@' || path[end] == '#') {
			if delim {
				return nameError("multiple '@' and/or '#' delimiters in name")
			}
			delim = true
		}
		if start == end {
			return nameError("empty component or misplaced '@' or '#' delimiter in name")
		}
		if end == len(path) {
			return nil
		}
		if path[end] == '/' && delim {
			return nameError("trailing slash in name")
		}
		start = end + 1
	}
}

// nestingOK is dataset_nestcheck: fewer than 50 levels below the pool.
func nestingOK(path string) bool {
	ds, _, _ := strings.Cut(path, "@")
	return strings.Count(ds, "/") < maxNesting
}

// validNameChar: ZFS allows alphanumerics, '-', '_', '.', ':' and space.
func validNameChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-_.: ", r)
}

// parentName is the name one level up, "" for a pool.
func parentName(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// poolName is the first component.
func poolName(name string) string {
	if i := strings.IndexAny(name, "/@"); i >= 0 {
		return name[:i]
	}
	return name
}

// CheckName reports whether name is a valid filesystem name, or with
// snap, also a valid snapshot name, and whether its pool part is a pool
// name (starts with a letter). Callers check before building argv, so a
// name never reaches zfs as an option ("-r") or with a newline.
func CheckName(name string, snap bool) error {
	types := typeFS
	if snap {
		types |= typeSnap
	}
	err := validateName(name, types, true)
	if err == nil && !(name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z') {
		err = nameError("pool doesn't begin with a letter")
	}
	if err != nil {
		return fmt.Errorf("invalid dataset name %q: %w", name, err)
	}
	return nil
}

// CheckSnapName validates the part after '@'.
func CheckSnapName(snap string) error {
	if snap == "" || strings.ContainsAny(snap, "@/#%") {
		return fmt.Errorf("invalid snapshot name %q", snap)
	}
	if err := entityCheck(snap); err != nil {
		return fmt.Errorf("invalid snapshot name %q: %w", snap, err)
	}
	return nil
}
