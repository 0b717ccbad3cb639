package graph

import "time"

// SetTokenClock gives an app-only token source a clock and a back-off
// jitter (0: the shortest wait, 1: the longest), for tests of its memory
// of failures without waiting.
func SetTokenClock(ts TokenSource, now func() time.Time, jitter func() float64) {
	s := ts.(*msalSource)
	s.lock <- struct{}{}
	s.memo.now, s.jitter = now, jitter
	<-s.lock
}

// Backoff is backoff, for its test.
var Backoff = backoff

// CutAndScrub and SecretForms are for the scrubbing tests.
var (
	CutAndScrub = cutAndScrub
	SecretForms = secretForms
)
