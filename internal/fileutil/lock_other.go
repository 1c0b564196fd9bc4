//go:build !unix && !windows

package fileutil

import (
	"fmt"
	"os"
	"runtime"
)

// Without a file lock two writers could append to one log and break its
// chain: refuse rather than open unprotected.
func lockFile(*os.File) error {
	return fmt.Errorf("fileutil: no file locking on %s; refusing to open a log without its lock", runtime.GOOS)
}

func unlockFile(*os.File) error { return nil }
