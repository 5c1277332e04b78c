//go:build unix

package report

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the test process has used so far (user
// and system, all threads), so a benchmark can say what a message costs
// on one core even on a busy machine.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
