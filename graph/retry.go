package graph

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// RetryPolicy is the one rule for a failed request to Graph, the same for
// a single GET and for a $batch (its inner answers and the batch as a
// whole), and for the waits of later scrapes:
//
//   - Within a call, an answer worth another try (Retryable: a 429, a 424,
//     a 5xx but 501 and 507) is sent again once, after its Retry-After, or
//     Wait when Graph gave none, if that wait fits the call (no longer than
//     request_timeout, and before the call's deadline). Graph's throttling
//     guidance: wait the Retry-After, then retry; without one, back off;
//     a $batch's failed requests may go again together after the longest
//     Retry-After. A request that got no answer is not sent again within
//     the call: the guidance says nothing of it, a timed-out one has spent
//     its timeout already, and Go's transport retries a reused connection
//     that failed before any answer; the next scrape asks again.
//   - For later scrapes, a throttled answer holds the operation (the
//     collector's cache) or the tenant (a tenant-wide 429) off for its
//     Retry-After, or else for a back-off that starts at MinBackoff and
//     doubles to MaxBackoff (HoldOff).
//
// A zero field takes DefaultRetry's value.
type RetryPolicy struct {
	// Wait is the wait before another try within the call when Graph did
	// not say how long to wait.
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the back-off of throttled answers
	// without Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// Sleep waits d, or until ctx ends (and then returns its error). Nil
	// means a timer; tests give one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the policy of the exporter: a second's wait within a
// call when Graph gives no Retry-After, and a back-off of 1 s doubling to
// 5 min for later scrapes.
var DefaultRetry = RetryPolicy{Wait: time.Second, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute}

// RetryPolicy is the client's policy, its zero fields filled in: the one
// the collector's cache holds operations off by.
func (c *Client) RetryPolicy() RetryPolicy { return c.retry }

// orDefault is p with DefaultRetry's value in each zero field.
func (p RetryPolicy) orDefault() RetryPolicy {
	d := DefaultRetry
	if p.Wait <= 0 {
		p.Wait = d.Wait
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = d.MinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = d.MaxBackoff
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// notSent is the Code of the error a request gets when it was not sent
// because the tenant is held off.
const notSent = "NotSent"

// Retryable reports whether err is an answer from Graph worth another try
// within the call, and how long to wait before it: a 429 (throttled), a
// 424 (a $batch's failed dependency, which Graph's batching guidance gives
// with a throttled request) or a 5xx (Graph's error page: "You may repeat
// the request after a delay"), but a 501 (Not Implemented) or a 507
// (a storage quota), which no wait mends. Not a request that got no
// answer, nor one not sent while the tenant is held off: the hold says
// how long to wait, for the next scrape.
func (p RetryPolicy) Retryable(err error) (time.Duration, bool) {
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Code == notSent {
		return 0, false
	}
	switch s := gerr.StatusCode; {
	case s == http.StatusNotImplemented, s == http.StatusInsufficientStorage:
		return 0, false
	case s == http.StatusTooManyRequests, s == http.StatusFailedDependency, s >= 500:
	default:
		return 0, false
	}
	if gerr.HasRetryAfter {
		return gerr.RetryAfter, true
	}
	return p.orDefault().Wait, true
}

// fits reports whether another try after d is worth waiting for within a
// call whose requests each take up to timeout: d is no longer than a
// request may take (a longer wait is for the next scrape, through the
// error), and leaves time before ctx's deadline for the request.
func (p RetryPolicy) fits(ctx context.Context, d, timeout time.Duration) bool {
	if d > timeout {
		return false
	}
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d+100*time.Millisecond
}

// HoldOff is how long no request may go out after err, for the scrapes
// to come, given the back-off of the throttled answers before it (0 if
// none): the Retry-After of a throttled answer (a 429, or a 503 with
// Retry-After), or else the next step of the back-off, MinBackoff
// doubling to MaxBackoff. next is the back-off to remember; ok is false,
// and nothing is held, when err is not throttling.
func (p RetryPolicy) HoldOff(err error, backoff time.Duration) (wait, next time.Duration, ok bool) {
	var gerr *Error
	if !errors.As(err, &gerr) || !gerr.Throttled() {
		return 0, backoff, false
	}
	if gerr.HasRetryAfter {
		return gerr.RetryAfter, backoff, true
	}
	p = p.orDefault()
	next = min(max(backoff*2, p.MinBackoff), p.MaxBackoff)
	return next, next, true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
