package lint

import "phoenix/internal/suggest"

// DidYouMean is `, did you mean "x"?` for the candidate closest to name,
// or "" when none is close enough to be a likely typo.
func DidYouMean(name string, candidates []string) string {
	if c := suggest.Closest(name, candidates); c != "" {
		return `, did you mean "` + c + `"?`
	}
	return ""
}
