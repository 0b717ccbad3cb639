package graphtest

import (
	"syscall"
	"time"
)

// sleepPrecisely blocks the thread for d with nanosleep, which Linux ends
// within tens of microseconds (the goroutine may then wait for a core),
// where a Go timer of an idle process ends within a millisecond.
func sleepPrecisely(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		// a signal: sleep the rest, which nanosleep left in ts
	}
}
