package sim

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user+system) of the whole process,
// including GC workers, so that benchmarks can report throughput per
// CPU-second on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
