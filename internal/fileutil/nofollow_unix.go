//go:build unix

package fileutil

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
