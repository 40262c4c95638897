package zfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The simulated subcommands. Each follows the corresponding zfs_do_* of
// OpenZFS 2.x: its option letters, the order of its checks and the text
// of its messages.

var usageText = map[string]string{
	"create":   "\tcreate [-Pnpuv] [-o property=value] ... <filesystem>\n\tcreate [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>\n",
	"destroy":  "\tdestroy [-fnpRrv] <filesystem|volume>\n\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]\n\tdestroy <filesystem|volume>#<bookmark>\n",
	"get":      "\tget [-rHp] [-d max] [-o \"all\" | field[,...]]\n\t    [-t type[,...]] [-s source[,...]]\n\t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...\n",
	"list":     "\tlist [-Hp] [-r|-d max] [-o property[,...]] [-s property]...\n\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...\n",
	"rollback": "\trollback [-rRf] <snapshot>\n",
	"set":      "\tset <property=value> ... <filesystem|volume|snapshot> ...\n",
	"snapshot": "\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...\n",
}

// notSimulated are real subcommands the simulator does not model.
var notSimulated = map[string]bool{
	"version": true, "clone": true, "promote": true, "rename": true, "bookmark": true,
	"program": true, "inherit": true, "upgrade": true, "userspace": true, "groupspace": true,
	"projectspace": true, "project": true, "mount": true, "unmount": true, "umount": true,
	"share": true, "unshare": true, "send": true, "receive": true, "recv": true, "allow": true,
	"unallow": true, "hold": true, "holds": true, "release": true, "diff": true,
	"load-key": true, "unload-key": true, "change-key": true, "redact": true, "wait": true,
}

func (p *proc) main(args []string) int {
	if len(args) == 0 {
		p.errb.WriteString("usage: zfs command args ...\n")
		return 2
	}
	cmd := args[0]
	switch cmd {
	case "list":
		return p.list(args[1:])
	case "get":
		return p.get(args[1:])
	case "set":
		return p.set(args[1:])
	case "create":
		return p.createCmd(args[1:])
	case "destroy":
		return p.destroy(args[1:])
	case "snapshot", "snap":
		return p.snapshot(args[1:])
	case "rollback":
		return p.rollback(args[1:])
	}
	if notSimulated[cmd] {
		return p.unsupported("command '" + cmd + "'")
	}
	p.errf("unrecognized command '%s'", cmd)
	p.errb.WriteString("usage: zfs command args ...\n")
	return 2
}

func (p *proc) usage(cmd string) int {
	p.errb.WriteString("usage:\n" + usageText[cmd])
	p.errb.WriteString("\nFor the property list, run: zfs set|get\n")
	p.errb.WriteString("\nFor the delegated permission list, run: zfs allow|unallow\n")
	return 2
}

func (p *proc) unsupported(what string) int {
	p.errf("zfs (simulator): %s is not simulated", what)
	return 2
}

func (p *proc) badOpt(cmd string, err error) int {
	p.errf("%s", err)
	return p.usage(cmd)
}

// wrongOperands reports n operands to a subcommand that takes one name.
func (p *proc) wrongOperands(cmd, kind string, n int) int {
	if n == 0 {
		p.errf("missing %s argument", kind)
	} else {
		p.errf("too many arguments")
	}
	return p.usage(cmd)
}

// open is zfs_open: the name must be valid, exist and be of types.
func (p *proc) open(name string, types int) bool {
	if err := validateName(name, types, false); err != nil {
		p.errf("cannot open '%s': %s", name, err)
		return false
	}
	if p.ds(name) == nil {
		p.errf("cannot open '%s': dataset does not exist", name)
		return false
	}
	if typeOf(name)&types == 0 {
		p.errf("cannot open '%s': operation not applicable to datasets of this type", name)
		return false
	}
	return true
}

// openArg is open, but also takes a path (starting with "/" or "./") and
// finds the mounted filesystem holding it, as zfs list and get do.
func (p *proc) openArg(arg string, types int) (string, bool) {
	if !strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, "./") {
		return arg, p.open(arg, types)
	}
	h, err := p.s.root.Resolve(arg)
	if err == nil {
		_, err = os.Stat(h)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			p.errf("%s: No such file or directory", arg)
		} else {
			p.errf("%s: %v", arg, err)
		}
		return "", false
	}
	best, name := "", ""
	for dir, n := range p.mountDirs() {
		if n != "" && (h == dir || strings.HasPrefix(h, dir+string(filepath.Separator))) && len(dir) > len(best) {
			best, name = dir, n
		}
	}
	if name == "" {
		p.errf("'%s': not a ZFS filesystem", arg)
		return "", false
	}
	return name, p.open(name, types)
}

// iter is zfs_for_each's selection.
type iter struct {
	types     int
	recurse   bool
	depth     int  // 0: unlimited
	listSnaps bool // snapshots only when asked for by type (zfs list)
	paths     bool
}

// option applies -r, -d or -t, the selection options list and get share.
func (it *iter) option(o opt) (err error) {
	switch o.c {
	case 'r':
		it.recurse = true
	case 'd':
		it.depth, err = parseDepth(o.arg)
		it.recurse = true
	case 't':
		it.types, err = parseTypes(o.arg)
	}
	return err
}

// snapOperands: with -t snapshot alone, a named filesystem stands for its
// own snapshots (depth 1).
func (it *iter) snapOperands(operands []string) {
	if it.types == typeSnap && len(operands) > 0 && !it.recurse {
		it.recurse, it.depth = true, 1
	}
}

// forEach selects datasets as zfs_for_each does, sorted; ok is false if
// an argument could not be opened.
func (p *proc) forEach(args []string, it iter) (names []string, ok bool) {
	seen := map[string]bool{}
	includeSnaps := it.types&typeSnap != 0
	var visit func(name string, depth int)
	visit = func(name string, depth int) {
		if typeOf(name)&it.types != 0 && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		if !it.recurse || it.depth > 0 && depth >= it.depth || typeOf(name) != typeFS {
			return
		}
		for _, c := range p.children(name) {
			visit(c, depth+1)
		}
		if includeSnaps && !it.listSnaps {
			for _, s := range p.snapshots(name) {
				visit(s, depth+1)
			}
		}
	}
	ok = true
	if len(args) == 0 {
		it.recurse = true
		for _, n := range p.sortedNames() {
			if parentName(n) == "" && typeOf(n) == typeFS {
				visit(n, 0)
			}
		}
	}
	argTypes := it.types
	if it.recurse {
		argTypes |= typeFS
	}
	for _, a := range args {
		name := a
		var opened bool
		if it.paths {
			name, opened = p.openArg(a, argTypes)
		} else {
			opened = p.open(a, argTypes)
		}
		if !opened {
			ok = false
			continue
		}
		visit(name, 0)
	}
	sort.SliceStable(names, func(i, j int) bool { return p.compare(names[i], names[j]) < 0 })
	return names, ok
}

func parseTypes(s string) (int, error) {
	t := 0
	for _, w := range strings.Split(s, ",") {
		switch w {
		case "filesystem":
			t |= typeFS
		case "snapshot", "snap":
			t |= typeSnap
		case "all":
			t |= typeFS | typeSnap
		case "volume", "bookmark":
			// Neither exists in the simulator; asking for them selects nothing.
			t |= 0
		default:
			return 0, fmt.Errorf("invalid type '%s'", w)
		}
	}
	return t, nil
}

func parseDepth(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("Depth can not be negative.")
	}
	return n, nil
}

// propList is zprop_get_list: canonical names, "name" allowed where
// allowName.
func propList(s string, allowName bool) ([]string, error) {
	var out []string
	for _, w := range strings.Split(s, ",") {
		switch {
		case w == "name" && allowName:
			out = append(out, w)
		case lookupProp(w) != nil:
			out = append(out, lookupProp(w).name)
		case isUserProp(w):
			out = append(out, w)
		default:
			return nil, fmt.Errorf("bad property list: invalid property '%s'", w)
		}
	}
	return out, nil
}

// value is a column as zfs prints it: literal with -p, human otherwise.
func (p *proc) value(name, prop string, literal bool) (string, Source) {
	if prop == "name" {
		return name, Source{Kind: SourceNone}
	}
	v, src, ok := p.prop(name, prop)
	if !ok {
		return "-", Source{Kind: SourceNone}
	}
	if literal {
		return v, src
	}
	def := lookupProp(prop)
	switch {
	case def == nil:
	case def.name == "creation":
		t := time.Unix(parseInt(v), 0).UTC()
		v = fmt.Sprintf("%s %2d %2d:%02d %d", t.Format("Mon Jan"), t.Day(), t.Hour(), t.Minute(), t.Year())
	case def.name == "compressratio" || def.name == "refcompressratio":
		v += "x"
	case def.bytes:
		n := parseU(v)
		if n == 0 && def.none0 {
			v = "none"
		} else {
			v = niceBytes(n)
		}
	}
	return v, src
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// table prints rows: tab-separated with -H, else under a header with
// columns padded by two spaces, numbers right-aligned.
func (p *proc) table(scripted bool, header []string, right []bool, rows [][]string) {
	if scripted {
		for _, r := range rows {
			p.out.WriteString(strings.Join(r, "\t") + "\n")
		}
		return
	}
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len(h)
		for _, r := range rows {
			w[i] = max(w[i], len(r[i]))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			switch {
			case right[i]:
				fmt.Fprintf(&b, "%*s", w[i], c)
			case i < len(r)-1:
				fmt.Fprintf(&b, "%-*s", w[i], c)
			default:
				b.WriteString(c)
			}
		}
		p.out.WriteString(b.String() + "\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

func (p *proc) list(args []string) int {
	opts, operands, err := getopt(args, "HS:d:o:prs:t:")
	if err != nil {
		return p.badOpt("list", err)
	}
	scripted, literal := false, false
	fields := "name,used,available,referenced,mountpoint"
	it := iter{types: typeFS | typeSnap, listSnaps: true, paths: true}
	typesGiven := false
	type sortCol struct {
		prop    string
		reverse bool
	}
	var sorts []sortCol
	for _, o := range opts {
		switch o.c {
		case 'H':
			scripted = true
		case 'p':
			literal = true
		case 'r', 'd', 't':
			if err := it.option(o); err != nil {
				return p.badOpt("list", err)
			}
			if o.c == 't' {
				typesGiven, it.listSnaps = true, false
			}
		case 'o':
			fields = o.arg
		case 's', 'S':
			l, err := propList(o.arg, true)
			if err != nil || len(l) != 1 {
				return p.badOpt("list", fmt.Errorf("invalid property '%s'", o.arg))
			}
			sorts = append(sorts, sortCol{l[0], o.c == 'S'})
		}
	}
	if fields == "space" {
		fields = "name,available,used,usedbysnapshots,usedbydataset,usedbyrefreservation,usedbychildren"
		if !typesGiven {
			it.types = typeFS
		}
	}
	cols, err := propList(fields, true)
	if err != nil {
		return p.badOpt("list", err)
	}
	it.snapOperands(operands)
	names, ok := p.forEach(operands, it)
	if len(sorts) > 0 {
		sort.SliceStable(names, func(i, j int) bool {
			for _, s := range sorts {
				a, _ := p.value(names[i], s.prop, true)
				b, _ := p.value(names[j], s.prop, true)
				c := compareValues(a, b)
				if s.reverse {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return p.compare(names[i], names[j]) < 0
		})
	}
	header := make([]string, len(cols))
	right := make([]bool, len(cols))
	for i, c := range cols {
		header[i] = columnName(c)
		if d := lookupProp(c); d != nil && (d.bytes || numericRO[d.name]) {
			right[i] = true
		}
	}
	var rows [][]string
	for _, n := range names {
		r := make([]string, len(cols))
		for i, c := range cols {
			r[i], _ = p.value(n, c, literal)
		}
		rows = append(rows, r)
	}
	if len(rows) > 0 {
		p.table(scripted, header, right, rows)
	} else if ok && !scripted {
		p.errf("no datasets available")
	}
	if !ok {
		return 1
	}
	return 0
}

// numericRO are the read-only numbers zfs right-aligns.
var numericRO = map[string]bool{"creation": true, "createtxg": true, "guid": true, "objsetid": true, "userrefs": true}

// columnName is a property's list header: its short name where it has
// one (AVAIL, REFER), else its name in capitals.
func columnName(prop string) string {
	for short, full := range propAliases {
		if full == prop {
			return strings.ToUpper(short)
		}
	}
	return strings.ToUpper(prop)
}

// compareValues orders numbers numerically, anything else as strings;
// "-" sorts last.
func compareValues(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "-":
		return 1
	case b == "-":
		return -1
	}
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 == nil && err2 == nil {
		if x < y {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func (p *proc) get(args []string) int {
	opts, operands, err := getopt(args, "d:o:s:rt:Hp")
	if err != nil {
		return p.badOpt("get", err)
	}
	scripted, literal := false, false
	cols := []string{"name", "property", "value", "source"}
	var sources map[SourceKind]bool
	it := iter{types: typeFS | typeSnap}
	for _, o := range opts {
		switch o.c {
		case 'H':
			scripted = true
		case 'p':
			literal = true
		case 'r', 'd', 't':
			if err := it.option(o); err != nil {
				return p.badOpt("get", err)
			}
		case 'o':
			cols = nil
			for _, c := range strings.Split(o.arg, ",") {
				switch c {
				case "name", "property", "value", "received", "source":
					cols = append(cols, c)
				case "all":
					cols = []string{"name", "property", "value", "received", "source"}
				default:
					return p.badOpt("get", fmt.Errorf("invalid column name '%s'", c))
				}
			}
		case 's':
			sources = map[SourceKind]bool{}
			for _, w := range strings.Split(o.arg, ",") {
				switch w {
				case "local", "default", "inherited", "received", "temporary":
					sources[SourceKind(w)] = true
				case "none":
					sources[SourceNone] = true
				default:
					return p.badOpt("get", fmt.Errorf("invalid source '%s'", w))
				}
			}
		}
	}
	if len(operands) < 1 {
		p.errf("missing property argument")
		return p.usage("get")
	}
	var props []string
	all := operands[0] == "all"
	if !all {
		if props, err = propList(operands[0], true); err != nil {
			return p.badOpt("get", err)
		}
	}
	operands = operands[1:]
	it.snapOperands(operands)
	it.paths = true
	names, ok := p.forEach(operands, it)
	var rows [][]string
	for _, n := range names {
		ps := props
		if all {
			ps = p.allProps(n)
		}
		for _, prop := range ps {
			v, src := p.value(n, prop, literal)
			if sources != nil && !sources[src.Kind] {
				continue
			}
			var r []string
			for _, c := range cols {
				switch c {
				case "name":
					r = append(r, n)
				case "property":
					r = append(r, prop)
				case "value":
					r = append(r, v)
				case "received":
					r = append(r, "-")
				case "source":
					r = append(r, src.String())
				}
			}
			rows = append(rows, r)
		}
	}
	if len(rows) > 0 {
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = strings.ToUpper(c)
		}
		p.table(scripted, header, make([]bool, len(cols)), rows)
	}
	if !ok {
		return 1
	}
	return 0
}

// allProps is what "all" expands to for a dataset: the native properties
// it has, then its user properties (local or inherited) by name.
func (p *proc) allProps(name string) []string {
	var out []string
	for _, d := range propTable {
		if d.hidden {
			continue
		}
		if _, _, ok := p.prop(name, d.name); ok {
			out = append(out, d.name)
		}
	}
	user := map[string]bool{}
	fsName, _, _ := strings.Cut(name, "@")
	for _, a := range append([]string{name}, ancestors(fsName)...) {
		if d := p.ds(a); d != nil {
			for k := range d.Props {
				if isUserProp(k) {
					user[k] = true
				}
			}
		}
	}
	return append(out, slices.Sorted(maps.Keys(user))...)
}

// ancestors lists name and the filesystems above it.
func ancestors(name string) []string {
	var out []string
	for a := name; a != ""; a = parentName(a) {
		out = append(out, a)
	}
	return out
}

// propArg is one property=value from the command line, in order.
type propArg struct{ k, v string }

// parseProp is parseprop: it rejects a repeated name.
func parseProp(list []propArg, s string) ([]propArg, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return nil, fmt.Errorf("missing '=' for property=value argument")
	}
	for _, e := range list {
		if e.k == k {
			return nil, fmt.Errorf("property '%s' specified multiple times", k)
		}
	}
	return append(list, propArg{k, v}), nil
}

// validProps is zfs_valid_proplist: canonical names and literal values,
// or libzfs's reason.
func validProps(list []propArg, t int) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range list {
		def := lookupProp(e.k)
		if def == nil {
			if !isUserProp(e.k) {
				return nil, fmt.Errorf("invalid property '%s'", e.k)
			}
			if len(e.v) >= 8192 {
				return nil, fmt.Errorf("property value '%s' is too long", e.v)
			}
			out[e.k] = e.v
			continue
		}
		if t == typeSnap {
			return nil, fmt.Errorf("this property can not be modified for snapshots")
		}
		if !def.fs {
			return nil, fmt.Errorf("'%s' does not apply to datasets of this type", e.k)
		}
		v, err := parseValue(def, e.v)
		if err != nil {
			return nil, err
		}
		out[def.name] = v
	}
	return out, nil
}

func (p *proc) createCmd(args []string) int {
	opts, operands, err := getopt(args, "PV:b:nso:puv")
	if err != nil {
		return p.badOpt("create", err)
	}
	parents, dryrun := false, false
	var props []propArg
	for _, o := range opts {
		switch o.c {
		case 'p':
			parents = true
		case 'n':
			dryrun = true
		case 'o':
			if props, err = parseProp(props, o.arg); err != nil {
				p.errf("%s", err)
				return 1
			}
		case 'V', 'b', 's':
			return p.unsupported("creating volumes")
		case 'u', 'v', 'P':
			return p.unsupported(fmt.Sprintf("option '-%c' of create", o.c))
		}
	}
	if len(operands) != 1 {
		return p.wrongOperands("create", "filesystem", len(operands))
	}
	name := operands[0]
	if parents && validateName(name, typeFS, false) == nil {
		if p.ds(name) != nil {
			return 0
		}
		if !nestingOK(name) {
			p.errf("cannot create '%s': maximum name nesting depth exceeded", name)
			return 1
		}
		if !p.checkParents(name, true, dryrun) {
			return 1
		}
	}
	if dryrun {
		// -n only checks names and properties.
		if err := validateName(name, typeFS, true); err != nil {
			p.errf("cannot create '%s': %s", name, err)
			return 1
		}
		if _, err := validProps(props, typeFS); err != nil {
			p.errf("cannot verify '%s': %s", name, err)
			return 1
		}
		return 0
	}
	if err := validateName(name, typeFS, true); err != nil {
		p.errf("cannot create '%s': %s", name, err)
		return 1
	}
	if !nestingOK(name) {
		p.errf("cannot create '%s': maximum name nesting depth exceeded", name)
		return 1
	}
	if !p.checkParents(name, false, false) {
		return 1
	}
	if p.ds(name) != nil {
		p.errf("cannot create '%s': dataset already exists", name)
		return 1
	}
	lit, err := validProps(props, typeFS)
	if err != nil {
		p.errf("cannot create '%s': %s", name, err)
		return 1
	}
	p.create(name, lit)
	return p.mountNew(name)
}

// mountNew mounts a created filesystem as zfs_mount_and_share reports it.
func (p *proc) mountNew(name string) int {
	if err := p.mount(name); err != nil {
		mp, _ := p.mountPath(name)
		p.errf("cannot mount '%s': failed to create mountpoint: %s", mp, unwrapPathErr(err))
		p.errf("filesystem successfully created, but not mounted")
		return 1
	}
	return 0
}

func unwrapPathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		s := pe.Err.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// checkParents is libzfs's check_parents; with ancestors it also creates
// the missing ones (zfs create -p), unless dryrun.
func (p *proc) checkParents(name string, ancestors, dryrun bool) bool {
	parent := parentName(name)
	if parent == "" {
		p.errf("cannot create '%s': missing dataset name", name)
		return false
	}
	pool := poolName(name)
	if p.ds(pool) == nil {
		p.errf("cannot create '%s': no such pool '%s'", name, pool)
		return false
	}
	if p.ds(parent) != nil {
		return true
	}
	if !ancestors {
		p.errf("cannot create '%s': parent does not exist", name)
		return false
	}
	if dryrun {
		return true
	}
	var missing []string
	for a := parent; p.ds(a) == nil; a = parentName(a) {
		missing = append([]string{a}, missing...)
	}
	for _, a := range missing {
		p.create(a, nil)
		if err := p.mount(a); err != nil {
			p.errf("cannot create '%s': failed to mount ancestor '%s'", name, a)
			return false
		}
	}
	return true
}

func (p *proc) set(args []string) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		p.errf("invalid option '%c'", args[0][1])
		return p.usage("set")
	}
	if len(args) < 1 {
		p.errf("missing arguments")
		return p.usage("set")
	}
	if len(args) < 2 {
		if !strings.Contains(args[0], "=") {
			p.errf("missing property=value argument(s)")
		} else {
			p.errf("missing dataset name(s)")
		}
		return p.usage("set")
	}
	dsStart := -1
	for i, a := range args {
		if strings.Contains(a, "=") {
			if dsStart >= 0 {
				p.errf("invalid argument order")
				return p.usage("set")
			}
		} else if dsStart < 0 {
			dsStart = i
		}
	}
	if dsStart < 0 {
		p.errf("missing dataset name(s)")
		return p.usage("set")
	}
	var props []propArg
	for _, a := range args[:dsStart] {
		var err error
		if props, err = parseProp(props, a); err != nil {
			p.errf("%s", err)
			return 255 // zfs_do_set returns -1
		}
	}
	ret := 0
	for _, name := range args[dsStart:] {
		if !p.open(name, typeFS|typeSnap) {
			ret = 1
			continue
		}
		if !p.setOne(name, props) {
			ret = 1
		}
	}
	return ret
}

func (p *proc) setOne(name string, props []propArg) bool {
	lit, err := validProps(props, typeOf(name))
	if err == nil {
		err = p.checkSpace(name, lit)
	}
	if err != nil {
		p.errf("cannot set property for '%s': %s", name, err)
		return false
	}
	if err := p.setProps(name, lit); err != nil {
		p.errf("cannot mount '%s': %s", name, unwrapPathErr(err))
		p.errf("property may be set but unable to remount filesystem")
		return false
	}
	return true
}

// checkSpace refuses quotas below what is already used.
func (p *proc) checkSpace(name string, lit map[string]string) error {
	if q, ok := lit["quota"]; ok && q != "0" && parseU(q) < p.usedOf(name) {
		return fmt.Errorf("size is less than current used or reserved space")
	}
	if q, ok := lit["refquota"]; ok && q != "0" && parseU(q) < p.refer(name) {
		return fmt.Errorf("size is less than current used or reserved space")
	}
	return nil
}

func (p *proc) snapshot(args []string) int {
	opts, operands, err := getopt(args, "ro:")
	if err != nil {
		return p.badOpt("snapshot", err)
	}
	recursive := false
	var props []propArg
	for _, o := range opts {
		switch o.c {
		case 'r':
			recursive = true
		case 'o':
			if props, err = parseProp(props, o.arg); err != nil {
				p.errf("%s", err)
				return 1
			}
		}
	}
	if len(operands) < 1 {
		p.errf("missing snapshot argument")
		return p.usage("snapshot")
	}
	multiple := recursive || len(operands) > 1
	var names []string
	for _, a := range operands {
		fsName, snap, ok := strings.Cut(a, "@")
		if !ok {
			return p.usage("snapshot")
		}
		if !p.open(fsName, typeFS) {
			return p.usage("snapshot")
		}
		names = append(names, a)
		if recursive {
			for _, d := range p.descendants(fsName) {
				names = append(names, d+"@"+snap)
			}
		}
	}
	for _, n := range names {
		if err := validateName(n, typeSnap, true); err != nil {
			p.errf("cannot create snapshot '%s': %s", n, err)
			return 1
		}
	}
	lit, err := validProps(props, typeSnap)
	if err != nil {
		p.errf("cannot create snapshots : %s", err)
		return 1
	}
	failed := false
	seen := map[string]bool{}
	for _, n := range names {
		if p.ds(n) != nil || seen[n] {
			p.errf("cannot create snapshot '%s': dataset already exists", n)
			failed = true
		}
		seen[n] = true
	}
	if !failed {
		if err := p.takeSnapshots(names, lit); err != nil {
			p.errf("zfs (simulator): %s", err)
			failed = true
		}
	}
	if failed {
		if multiple {
			p.errf("no snapshots were created")
		}
		return 1
	}
	return 0
}

func (p *proc) rollback(args []string) int {
	opts, operands, err := getopt(args, "rRf")
	if err != nil {
		return p.badOpt("rollback", err)
	}
	recurse := false
	for _, o := range opts {
		if o.c == 'r' || o.c == 'R' {
			recurse = true
		}
	}
	if len(operands) != 1 {
		return p.wrongOperands("rollback", "dataset", len(operands))
	}
	target := operands[0]
	if !p.open(target, typeSnap) {
		return 1
	}
	fsName, _, _ := strings.Cut(target, "@")
	txg := p.ds(target).CreateTXG
	var younger []string
	for _, s := range p.snapshots(fsName) {
		if p.ds(s).CreateTXG > txg {
			younger = append(younger, s)
		}
	}
	if len(younger) > 0 && !recurse {
		p.errf("cannot rollback to '%s': more recent snapshots or bookmarks exist", target)
		p.errf("use '-r' to force deletion of the following snapshots and bookmarks:")
		for i, s := range younger {
			if i == 32 {
				p.errf("Output limited to 32 snapshots/bookmarks")
				break
			}
			p.errf("%s", s)
		}
		return 1
	}
	if rc := p.destroyAll(younger); rc != 0 {
		return rc
	}
	if err := p.rollbackTo(target); err != nil {
		p.errf("cannot rollback '%s': %s", fsName, err)
		return 1
	}
	return 0
}

func (p *proc) destroy(args []string) int {
	opts, operands, err := getopt(args, "vpndfrR")
	if err != nil {
		return p.badOpt("destroy", err)
	}
	recurse := false
	for _, o := range opts {
		switch o.c {
		case 'r', 'R':
			recurse = true
		case 'v', 'p', 'n', 'd':
			return p.unsupported(fmt.Sprintf("option '-%c' of destroy", o.c))
		}
	}
	if len(operands) != 1 {
		return p.wrongOperands("destroy", "dataset", len(operands))
	}
	name := operands[0]
	if strings.Contains(name, "#") {
		return p.unsupported("destroying bookmarks")
	}
	if fsName, snap, ok := strings.Cut(name, "@"); ok {
		return p.destroySnaps(fsName, snap, recurse)
	}
	if !p.open(name, typeFS) {
		return 1
	}
	if !recurse && parentName(name) == "" {
		p.errf("cannot destroy '%s': operation does not apply to pools", name)
		p.errf("use 'zfs destroy -r %s' to destroy all datasets in the pool", name)
		p.errf("use 'zpool destroy %s' to destroy the pool itself", name)
		return 1
	}
	deps := p.dependents(name)
	if len(deps) > 0 && !recurse {
		p.errf("cannot destroy '%s': filesystem has children", name)
		p.errf("use '-r' to destroy the following datasets:")
		for _, d := range deps {
			p.errf("%s", d)
		}
		return 1
	}
	if parentName(name) != "" {
		deps = append(deps, name)
	}
	return p.destroyAll(deps)
}

// destroyAll destroys names in order and stops at the first failure.
func (p *proc) destroyAll(names []string) int {
	for _, n := range names {
		if err := p.destroyOne(n); err != nil {
			p.errf("cannot destroy '%s': %s", n, err)
			return 1
		}
	}
	return 0
}

func (p *proc) destroySnaps(fsName, snap string, recurse bool) int {
	if !p.open(fsName, typeFS) {
		return 1
	}
	if strings.ContainsAny(snap, "%,") {
		return p.unsupported("destroying snapshot ranges and lists")
	}
	var names []string
	for _, f := range append([]string{fsName}, p.descendants(fsName)...) {
		if p.ds(f+"@"+snap) != nil {
			names = append(names, f+"@"+snap)
		}
		if !recurse {
			break
		}
	}
	if len(names) == 0 {
		p.errf("could not find any snapshots to destroy; check snapshot names.")
		return 1
	}
	return p.destroyAll(names)
}
