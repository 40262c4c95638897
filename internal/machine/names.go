package machine

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LookupUser finds a user in the root's /etc/passwd, as the site's own
// tools would: its uid and primary gid.
func (r *Root) LookupUser(name string) (uid, gid int, err error) {
	f, err := r.colonFile("/etc/passwd", name, 3)
	if err != nil {
		return 0, 0, err
	}
	if f == nil {
		return 0, 0, fmt.Errorf("no user %q in %s", name, r.show("/etc/passwd"))
	}
	uid, err1 := strconv.Atoi(f[2])
	gid, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("%s: user %q has a malformed entry", r.show("/etc/passwd"), name)
	}
	return uid, gid, nil
}

// LookupGroup finds a group's gid in the root's /etc/group.
func (r *Root) LookupGroup(name string) (int, error) {
	f, err := r.colonFile("/etc/group", name, 2)
	if err != nil {
		return 0, err
	}
	if f == nil {
		return 0, fmt.Errorf("no group %q in %s", name, r.show("/etc/group"))
	}
	gid, err := strconv.Atoi(f[2])
	if err != nil || gid < 0 {
		return 0, fmt.Errorf("%s: group %q has a malformed entry", r.show("/etc/group"), name)
	}
	return gid, nil
}

// show names a site path as the operator sees it: with the root when it
// is not /.
func (r *Root) show(p string) string {
	if r.dir == "/" {
		return p
	}
	return p + " under " + r.dir
}

// colonFile returns the fields of name's line in a passwd-style file
// (nil when absent), needing at least min+1 fields.
func (r *Root) colonFile(p, name string, min int) ([]string, error) {
	host, err := r.Resolve(p)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(host)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) > min && f[0] == name {
			return f, nil
		}
	}
	return nil, sc.Err()
}
