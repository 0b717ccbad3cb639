//go:build !linux

package graphtest

import "time"

// sleepPrecisely is time.Sleep where nanosleep is not at hand.
func sleepPrecisely(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}
