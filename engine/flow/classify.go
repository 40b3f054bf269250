package flow

import (
	"context"
	"errors"
	"slices"
)

// Error classes say whether running a message again can fix its failure.
// A queue consumer retries a transient failure with back-off and moves a
// permanent one to the dead letters at once, so that a message that can
// never succeed (a poison message) does not hold its key's later messages.
const (
	// ClassTransient is a failure that may pass: a timeout, a 5xx, 408,
	// 425 or 429, a refused connection, a lock not acquired, a 401 (the
	// flow's on_error refreshes the token).
	ClassTransient = "transient"
	// ClassRefused is a 4xx answer other than those: the other side
	// refuses the request as it is (a malformed date gets 404 or 400).
	ClassRefused = "refused"
	// ClassContent is an expression that fails on the message's content:
	// a type error, a field that is not there.
	ClassContent = "content"
	// ClassPayload is a payload that does not parse or convert, or a
	// result that violates its schema.
	ClassPayload = "payload"
	// ClassPermanent is a failure the flow declared permanent with
	// `fail: {retry: false}`.
	ClassPermanent = "permanent"
)

// ContentError is an expression that failed on the values it was given.
type ContentError struct{ Err error }

func (e *ContentError) Error() string { return e.Err.Error() }
func (e *ContentError) Unwrap() error { return e.Err }

// PayloadError is a payload that does not parse or convert, or a result
// that violates its schema.
type PayloadError struct{ Err error }

func (e *PayloadError) Error() string { return e.Err.Error() }
func (e *PayloadError) Unwrap() error { return e.Err }

// TransientError is a failure the flow declared worth retrying with
// `fail: {retry: true}`, whatever its status.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// StatusClasses overrides the class of HTTP statuses: a queue trigger's
// retry.permanent_status and retry.transient_status.
type StatusClasses struct {
	Permanent []int
	Transient []int
}

// transientStatuses are the 4xx answers that may pass on their own.
var transientStatuses = [...]int{401, 408, 425, 429}

// Classify says whether trying err's message again can fix it: its class,
// and whether the class is permanent. A cancelled or timed-out run is
// always transient.
func Classify(err error, sc StatusClasses) (class string, permanent bool) {
	var te *TransientError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		return ClassTransient, false
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status != 0 {
		switch {
		case slices.Contains(sc.Permanent, se.Status):
			return ClassRefused, true
		case slices.Contains(sc.Transient, se.Status):
			return ClassTransient, false
		}
	}
	var pe *PermanentError
	var ce *ContentError
	var nv *NoValueError
	var pl *PayloadError
	switch {
	case errors.As(err, &pe):
		return ClassPermanent, true
	case errors.As(err, &pl):
		return ClassPayload, true
	case errors.As(err, &ce), errors.As(err, &nv):
		return ClassContent, true
	case se != nil && se.Status >= 400 && se.Status < 500 && !slices.Contains(transientStatuses[:], se.Status):
		return ClassRefused, true
	}
	return ClassTransient, false
}
