//go:build !unix

package fileutil

// Elsewhere a temporary file is still created with O_EXCL (see CreateTemp),
// which no link redirects.
const oNoFollow = 0
