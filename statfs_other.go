//go:build !(linux || darwin || freebsd)

package treeoflife

// statDisk reports the usage of the file system holding dir: not known on
// this platform.
func statDisk(dir string) DiskUsage { return DiskUsage{} }
