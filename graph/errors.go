package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an answer from Graph other than 200: its HTTP status, Graph's
// error code and message, and the ids Microsoft support asks for.
type Error struct {
	StatusCode      int
	Code            string
	Message         string
	RequestID       string
	ClientRequestID string
	// RetryAfter is the wait Graph asked for; HasRetryAfter says whether it
	// asked at all (a 429 without Retry-After means: back off yourself).
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", Truncate(e.Message, 200))
	}
	if e.HasRetryAfter {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Throttled reports whether Graph throttled the request: a 429, or a 503
// with Retry-After (as SharePoint, behind the site operations, throttles).
func (e *Error) Throttled() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable && e.HasRetryAfter
}

// NotFound reports whether Graph answered 404.
func (e *Error) NotFound() bool { return e.StatusCode == http.StatusNotFound }

type wireError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// newError builds an Error from a non-200 answer: status, headers, body.
// A body that is not Graph's error JSON is fine: the status still tells.
func newError(status int, h http.Header, body []byte, clientRequestID string) *Error {
	e := &Error{StatusCode: status, RequestID: h.Get("request-id"), ClientRequestID: clientRequestID}
	var w wireError
	if json.Unmarshal(body, &w) == nil {
		e.Code = w.Error.Code
		e.Message = w.Error.Message
		if e.RequestID == "" {
			e.RequestID = w.Error.InnerError.RequestID
		}
	}
	e.RetryAfter, e.HasRetryAfter = ParseRetryAfter(h.Get("Retry-After"), time.Now())
	return e
}

// maxRetryAfter caps what a Retry-After may ask for, so a bogus header
// cannot silence an operation for days.
const maxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header: seconds, possibly fractional
// ("0.5"), or an HTTP date. The bool is false when the header is absent or
// unreadable, which means: back off exponentially.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs < 0 {
			return 0, false
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		if d > maxRetryAfter {
			d = maxRetryAfter
		}
		return d, true
	}
	return 0, false
}

// RequestError is a request to Graph that got no answer (DNS, connect,
// TLS, a reset, a timeout). The client logged it, once per interval for
// its host.
type RequestError struct{ err error }

func (e *RequestError) Error() string { return e.err.Error() }
func (e *RequestError) Unwrap() error { return e.err }

// AnswerError is a 200 answer that holds no readable operation (not JSON,
// empty, no status). The client logged it, once per interval for the
// tenant and scope.
type AnswerError struct{ err error }

func (e *AnswerError) Error() string { return e.err.Error() }
func (e *AnswerError) Unwrap() error { return e.err }

// Logged reports whether this package has logged err already, with what
// the reader needs (a Graph error with its request ids, a request that got
// no answer, an unreadable answer, a delegated
// sign-in failure with the command that mends it), so that whoever gets it
// per operation need log it only at debug level.
func Logged(err error) bool {
	var gerr *Error
	var terr *TokenError
	var rerr *RequestError
	var aerr *AnswerError
	return errors.As(err, &gerr) || errors.As(err, &rerr) || errors.As(err, &aerr) || errors.As(err, &terr) && terr.logged
}
