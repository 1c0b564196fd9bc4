//go:build unix

package dashboard

import (
	"golang.org/x/sys/unix"

	"github.com/treeoflife/treeoflife"
)

// diskUsage is the usage of the file system holding dir, as df reports it.
func diskUsage(dir string) (treeoflife.DiskUsage, bool) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return treeoflife.DiskUsage{}, false
	}
	bs := uint64(s.Bsize)
	total, free, avail := uint64(s.Blocks)*bs, uint64(s.Bfree)*bs, uint64(s.Bavail)*bs
	du := treeoflife.DiskUsage{OK: true, TotalBytes: total, FreeBytes: avail}
	if used := total - free; used+avail > 0 {
		du.UsedRatio = float64(used) / float64(used+avail)
	}
	return du, true
}
