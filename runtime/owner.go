package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// Owner reads an owner argument as ParseOwner does, and also by name, as
// Ansible does: "www-data" (the user and its primary group), "user:group",
// or a name and a number mixed ("www-data:0"). Names resolve in the
// root's /etc/passwd and /etc/group, the site's own.
func Owner(thread *starlark.Thread, v starlark.Value) (uid, gid int, err error) {
	s, ok := v.(starlark.String)
	if !ok {
		return ParseOwner(v)
	}
	root := FromThread(thread).Root
	user, group, hasGroup := strings.Cut(string(s), ":")
	if user == "" || hasGroup && group == "" {
		return 0, 0, fmt.Errorf("owner: want \"user\", \"user:group\" or \"uid:gid\", got %q", string(s))
	}
	if n, err := strconv.Atoi(user); err == nil && n >= 0 {
		uid, gid = n, n
	} else if uid, gid, err = root.LookupUser(user); err != nil {
		return 0, 0, fmt.Errorf("owner %q: %w", string(s), err)
	}
	if !hasGroup {
		if _, err := strconv.Atoi(user); err == nil {
			return 0, 0, fmt.Errorf("owner: want \"uid:gid\", got %q", string(s))
		}
		return uid, gid, nil
	}
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return uid, n, nil
	}
	if gid, err = root.LookupGroup(group); err != nil {
		return 0, 0, fmt.Errorf("owner %q: %w", string(s), err)
	}
	return uid, gid, nil
}
