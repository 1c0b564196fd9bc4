package fileutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// StartWriteback asks the kernel to start writing f's bytes [off, off+n)
// to the device, without waiting for it to finish (sync_file_range with
// SYNC_FILE_RANGE_WRITE), so that a later fsync of f has less left to
// write. It makes nothing durable: it is a hint, and a caller can ignore
// its error.
func StartWriteback(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		werr = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	if werr != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: werr}
	}
	return nil
}
