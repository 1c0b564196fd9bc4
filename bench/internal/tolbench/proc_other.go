//go:build !linux

package tolbench

import (
	"os"
	"os/exec"
	"time"
)

// Peak RSS comes from /proc; elsewhere it is reported as 0.

func peakRSS() uint64                        { return 0 }
func currentRSS() uint64                     { return 0 }
func openFDs() int                           { return -1 }
func resetPeakRSS() bool                     { return false }
func settle()                                {}
func loadAverage() float64                   { return 0 }
func childMaxRSS(ps *os.ProcessState) uint64 { return 0 }

// setChildDeathSignal does nothing here: the benchmark stops its servers
// itself, on return and on Ctrl-C.
func setChildDeathSignal(cmd *exec.Cmd) {}

// CPU time is reported as 0 here.
func processCPU(pid int) time.Duration { return 0 }
func selfCPU() time.Duration           { return 0 }
