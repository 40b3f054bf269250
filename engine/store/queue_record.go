package store

import (
	"bytes"
	"time"
)

// This file holds the badger encoding of queued messages: keys, records
// and their sealed content and error blobs.

var queueArea = []byte("q/")

// queueKey is q/<queue>\x00<kind>/<id>, kind 'm' (live) or 'd' (dead).
func queueKey(queue string, kind byte, id string) []byte {
	k := make([]byte, 0, len(queueArea)+len(queue)+3+len(id))
	k = append(k, queueArea...)
	k = append(k, queue...)
	k = append(k, 0, kind, '/')
	return append(k, id...)
}

func queueKindPrefix(queue string, kind byte) []byte { return queueKey(queue, kind, "") }

// Sealed parts of a message are bound to its id and role, so neither a body
// nor an error text opens under another message or in the other role.
func bodyAAD(id string) []byte  { return []byte(id + "\x00body") }
func errorAAD(id string) []byte { return []byte(id + "\x00error") }

// qrec is a decoded queue record. The content (content type, headers, meta,
// body) and the error text are blobs, sealed when flagSealed: state changes
// (lease, retry, dead letter) rewrite the plain header and copy the content
// blob as it is, without decrypting it.
type qrec struct {
	flags      byte
	key        string
	attempts   int
	deliveries int
	enqueued   time.Time
	notBefore  time.Time
	leaseUntil time.Time
	content    []byte
	errBlob    []byte
	// prior counts the attempts before the last replays (appended to the
	// record only when not 0; older records end before it).
	prior int
}

func (r *qrec) encode() []byte {
	e := encoder{B: make([]byte, 0, 48+len(r.key)+len(r.content)+len(r.errBlob))}
	e.Byte(recordVersion)
	e.Byte(r.flags)
	e.String(r.key)
	e.Uvarint(uint64(r.attempts))
	e.Uvarint(uint64(r.deliveries))
	e.Time(r.enqueued)
	e.Time(r.notBefore)
	e.Time(r.leaseUntil)
	e.Bytes(r.content)
	e.Bytes(r.errBlob)
	if r.prior > 0 {
		e.Uvarint(uint64(r.prior))
	}
	return e.B
}

// decodeQrec decodes rec; the blobs alias rec.
func decodeQrec(rec []byte) (qrec, error) {
	d := decoder{B: rec}
	var r qrec
	if d.Byte() != recordVersion {
		return r, ErrCorrupt
	}
	r.flags = d.Byte()
	r.key = d.String()
	r.attempts = d.Int()
	r.deliveries = d.Int()
	r.enqueued = d.Time()
	r.notBefore = d.Time()
	r.leaseUntil = d.Time()
	r.content = d.Bytes()
	r.errBlob = d.Bytes()
	if d.Err == nil && len(d.B) > 0 {
		r.prior = d.Int()
	}
	if d.Err != nil {
		return qrec{}, d.Err
	}
	return r, nil
}

func encodeContent(m *Message) []byte {
	e := encoder{B: make([]byte, 0, 16+len(m.ContentType)+len(m.Body))}
	e.String(m.ContentType)
	e.StrMap(m.Headers)
	e.StrMap(m.Meta)
	e.Bytes(m.Body)
	return e.B
}

func decodeContent(b []byte, m *Message) error {
	d := decoder{B: b}
	m.ContentType = d.String()
	m.Headers = d.StrMap()
	m.Meta = d.StrMap()
	m.Body = bytes.Clone(d.Bytes())
	return d.Err
}

// message decodes r into a Message, opening its blobs.
func (s *queueStore) message(id string, r *qrec) (Message, error) {
	m := Message{
		ID: id, Key: r.key, Attempts: r.attempts, PriorAttempts: r.prior, Deliveries: r.deliveries,
		Enqueued: r.enqueued, NotBefore: r.notBefore, LeaseUntil: r.leaseUntil,
	}
	if len(r.errBlob) > 0 {
		e, err := s.db.openBlob(r.errBlob, r.flags&flagErrSealed != 0, errorAAD(id))
		if err != nil {
			return m, err
		}
		m.LastError = string(e)
	}
	c, err := s.db.openBlob(r.content, r.flags&flagSealed != 0, bodyAAD(id))
	if err != nil {
		return m, err
	}
	if err := decodeContent(c, &m); err != nil {
		return m, err
	}
	return m, nil
}

// setError stores text as r's error blob, sealed when the DB has a key.
func (s *queueStore) setError(r *qrec, id, text string) {
	r.flags &^= flagErrSealed
	r.errBlob = nil
	if text == "" {
		return
	}
	b, sealed := s.db.sealBlob([]byte(text), errorAAD(id))
	r.errBlob = b
	if sealed {
		r.flags |= flagErrSealed
	}
}
