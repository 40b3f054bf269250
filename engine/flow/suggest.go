package flow

import "fmt"

// suggest returns the candidate nearest to word, or "" when none is close
// enough to be a plausible typo.
func suggest(word string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	if bestDist > limit || bestDist >= len(best) {
		return ""
	}
	return best
}

// DidYouMean formats a suggestion for an error message, e.g.
// `; did you mean "route"?`, or "" when no candidate is close. Every
// "unknown X" message in Stride uses it, so suggestions read alike.
func DidYouMean(word string, candidates []string) string { return didYouMean(word, candidates) }

// didYouMean formats a suggestion for an error message.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes; keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
