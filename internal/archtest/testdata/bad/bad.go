package bad

import (
	"regexp"
	"sync"
)

var cache = map[string]int{}
var mu sync.Mutex
var counter = &struct{ n int }{}
var guarded struct {
	sync.Mutex
	n int
}

// Not state: an immutable table and a compiled pattern.
var names = []string{"a", "b"}
var pattern = regexp.MustCompile("^a$")
