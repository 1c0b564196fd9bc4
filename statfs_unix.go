//go:build linux || darwin || freebsd

package treeoflife

import "syscall"

// statDisk reports the usage of the file system holding dir.
func statDisk(dir string) DiskUsage {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return DiskUsage{}
	}
	bsize := uint64(st.Bsize)
	total := uint64(st.Blocks) * bsize
	avail := uint64(st.Bavail) * bsize
	used := (uint64(st.Blocks) - uint64(st.Bfree)) * bsize
	d := DiskUsage{OK: true, TotalBytes: total, FreeBytes: avail}
	if used+avail > 0 {
		d.UsedRatio = float64(used) / float64(used+avail)
	}
	return d
}
