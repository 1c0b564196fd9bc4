//go:build !linux

package fileutil

import "os"

// StartWriteback does nothing on this system, which has no
// sync_file_range; on Linux it starts writing f's bytes [off, off+n) to
// the device without waiting for it. It is a hint either way.
func StartWriteback(f *os.File, off, n int64) error { return nil }
