package store

import (
	"github.com/stride-engine/stride/engine/store/record"
)

// Records are encoded with package record's binary format (a version byte,
// then uvarints, zig-zag varints and length-prefixed bytes), which the
// JetStream backend shares.

const recordVersion = 1

// record flags
const (
	flagSealed    = 1 << iota // the value (content) blob is AES-GCM sealed
	flagErrSealed             // a queue record's error blob is sealed
)

// encoder and decoder are the shared record encoding (engine/store/record).
type (
	encoder = record.Encoder
	decoder = record.Decoder
)
