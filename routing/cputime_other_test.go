//go:build !linux

package routing

import "time"

// threadCPU is unavailable off Linux; CPU percentiles then read 0.
func threadCPU() time.Duration { return 0 }

// processCPU is unavailable off Linux.
func processCPU() time.Duration { return 0 }
