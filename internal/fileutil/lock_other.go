//go:build !unix

package fileutil

import "os"

// On systems without flock the lock is not enforced; the log directory must not
// be opened by two writers at once.
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
