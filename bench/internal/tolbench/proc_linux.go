package tolbench

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// peakRSS returns the process's peak resident set size (VmHWM in
// /proc/self/status) in bytes, or 0 if it cannot be read.
func peakRSS() uint64 { return statusKB("VmHWM:") }

// currentRSS returns the process's resident set size now (VmRSS in
// /proc/self/status) in bytes, or 0 if it cannot be read.
func currentRSS() uint64 { return statusKB("VmRSS:") }

// openFDs returns how many file descriptors the process has open (the
// entries of /proc/self/fd, less the one that reading it takes), or -1 if
// it cannot tell.
func openFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1
}

// statusKB returns the value of a field of /proc/self/status given in kB,
// in bytes, or 0 if it cannot be read.
func statusKB(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		v, ok := bytes.CutPrefix(line, []byte(field))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
		kb, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux 4.0 and later), so
// that each row reports its own peak. It reports whether that worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// settle writes all dirty pages back, so that one row's writeback does not
// land in the next row's time.
func settle() { syscall.Sync() }

// loadAverage returns the 1-minute load average, or 0 if it cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(string(f[0]), 64)
	return v
}

// childMaxRSS returns the peak RSS of an exited child, from its rusage.
func childMaxRSS(ps *os.ProcessState) uint64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return uint64(ru.Maxrss) << 10 // kilobytes on Linux
	}
	return 0
}

// setChildDeathSignal puts a server the benchmark starts (MinIO) in a
// process group of its own, so that a Ctrl-C at the terminal reaches only the
// benchmark, which then stops the server itself; and asks the kernel to
// SIGKILL the server if the benchmark dies without doing so (SIGKILL, a
// crash). The death signal is tied to the OS thread that started the child;
// Go keeps its threads for the life of the process unless a goroutine exits
// while locked to one, which the benchmark never does.
func setChildDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// processCPU returns the user+system CPU time process pid has used so far,
// from /proc/PID/stat, or 0 if it cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	// Clock ticks of USER_HZ, which is 100 on every Linux Go supports.
	return time.Duration(utime+stime) * (time.Second / 100)
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
