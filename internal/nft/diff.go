package nft

import (
	"fmt"
	"strings"
)

// maxDiffLines bounds a plan's detail; render(rs) shows all of it.
const maxDiffLines = 200

// Diff shows how the live table (nil: none) differs from the wanted one,
// in nft syntax: the lines of each that the other lacks, "-" and "+" in
// the order they appear, under the chain or set they belong to.
func Diff(live, want *Ruleset) string {
	a, b := strings.Split(RenderTable(live), "\n"), strings.Split(RenderTable(want), "\n")
	count := func(lines []string) map[string]int {
		m := map[string]int{}
		for _, l := range lines {
			m[l]++
		}
		return m
	}
	inA, inB := count(a), count(b)
	var out []string
	section := ""
	emit := func(sign, l string, sec string) {
		if sec != section {
			section = sec
			out = append(out, "  "+strings.TrimSpace(sec))
		}
		out = append(out, sign+" "+strings.TrimSpace(l))
	}
	walk := func(lines []string, other map[string]int, sign string) {
		seen := map[string]int{}
		sec := ""
		for _, l := range lines {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "chain ") || strings.HasPrefix(t, "set ") || strings.HasPrefix(t, "table ") {
				sec = l
			}
			seen[l]++
			if t == "" || t == "}" || seen[l] <= other[l] {
				continue
			}
			if l == sec {
				section = sec // a new chain or set: its own line says where
			}
			emit(sign, l, sec)
		}
	}
	walk(a, inB, "-")
	section = ""
	walk(b, inA, "+")
	if len(out) > maxDiffLines {
		out = append(out[:maxDiffLines], fmt.Sprintf("... %d more lines", len(out)-maxDiffLines))
	}
	if len(out) == 0 {
		return "the same rules in another order"
	}
	if live == nil {
		return fmt.Sprintf("new table %s %s: %d rules\n%s", Family, Table, want.Rules(), strings.Join(out, "\n"))
	}
	return strings.Join(out, "\n")
}
