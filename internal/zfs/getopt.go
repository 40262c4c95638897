package zfs

import (
	"fmt"
	"strings"
)

// opt is one parsed option.
type opt struct {
	c   byte
	arg string
}

// getopt parses args like glibc getopt(3), which zfs uses on Linux: spec
// is "ab:c" (b takes an argument), options may be grouped (-Hp), an
// argument may be attached (-oname) or follow, options and operands may
// be mixed (glibc permutes), and "--" ends options.
func getopt(args []string, spec string) (opts []opt, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, append(operands, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(spec, c)
			if k < 0 || c == ':' {
				return nil, nil, fmt.Errorf("invalid option '%c'", c)
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				switch {
				case j+1 < len(a):
					opts = append(opts, opt{c, a[j+1:]})
				case i+1 < len(args):
					i++
					opts = append(opts, opt{c, args[i]})
				default:
					return nil, nil, fmt.Errorf("missing argument for '%c' option", c)
				}
				break
			}
			opts = append(opts, opt{c: c})
		}
	}
	return opts, operands, nil
}
