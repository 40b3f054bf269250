package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// MessageIDs issues queue message ids: 8 bytes of strictly increasing
// nanoseconds (the clock, bumped past the last id issued) and 8 random
// bytes, as 32 hex characters, so that ids sort by enqueue time. Every
// backend issues them the same way; ids of several instances interleave
// by their clocks. The zero value is ready to use.
type MessageIDs struct {
	mu   sync.Mutex
	last int64 // nanoseconds part of the last id issued or seen
}

// Next returns a fresh id for a message enqueued at now.
func (g *MessageIDs) Next(now time.Time) string {
	g.mu.Lock()
	n := now.UnixNano()
	if n <= g.last {
		n = g.last + 1
	}
	g.last = n
	g.mu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// Seen makes later ids sort after id, one issued before (a restart must
// not issue ids older than those it finds).
func (g *MessageIDs) Seen(id string) {
	n := messageIDNanos(id)
	g.mu.Lock()
	if n > g.last {
		g.last = n
	}
	g.mu.Unlock()
}

// IsMessageID reports whether id has the form MessageIDs issues.
func IsMessageID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func messageIDNanos(id string) int64 {
	if len(id) != 32 {
		return 0
	}
	b, err := hex.DecodeString(id[:16])
	if err != nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}
