//go:build !linux

package sim

import "time"

// processCPU is unavailable off Linux; per-CPU-second figures then read 0.
func processCPU() time.Duration { return 0 }
