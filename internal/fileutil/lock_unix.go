//go:build unix

package fileutil

import (
	"errors"
	"os"
	"syscall"
)

func lockFile(f *os.File) error {
	// flock locks belong to the open file description, so a second Open of the
	// same directory in this process is refused just like one in another process.
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}

func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
