//go:build !unix

package dashboard

import "github.com/treeoflife/treeoflife"

// diskUsage is not known on this platform.
func diskUsage(string) (treeoflife.DiskUsage, bool) { return treeoflife.DiskUsage{}, false }
