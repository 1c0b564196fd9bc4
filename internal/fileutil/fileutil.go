// Package fileutil holds the small durable-file operations the log is built from:
// fsync of directories, atomic replacement of small state files, the
// per-directory lock, and the hint that starts a file's writeback early.
package fileutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir so that entries created, renamed or removed
// in it survive a crash. Creating a file and fsyncing the file is not enough:
// the directory entry lives in the directory.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return d.Close()
}

// WriteFileAtomic replaces path with data durably: it writes a temporary file
// beside it (see CreateTemp), fsyncs it, renames it over path and fsyncs the
// directory. A crash at any point leaves either the old or the new content,
// never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := CreateTemp(tmp, os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// CreateTemp creates the temporary file path, which is only ever the
// caller's own, so that nothing planted there can redirect the write: a
// stale file, or a symbolic link, of that name is unlinked (the link itself,
// never its target), and the file is then created with O_CREATE|O_EXCL
// relative to its directory (os.Root), which fails rather than follow a
// link someone put there in between. flag adds the access mode and
// O_APPEND if wanted; perm is the new file's mode.
func CreateTemp(path string, flag int, perm os.FileMode) (*os.File, error) {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := filepath.Base(path)
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale %s: %w", path, err)
	}
	f, err := root.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFileNoFollow is os.OpenFile that refuses (with an error) to follow a
// symbolic link at path itself, where the platform can tell (O_NOFOLLOW).
// It is for the log's own files that are opened for writing in place.
func OpenFileNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|oNoFollow, perm)
}

// ErrLocked is returned by Lock when another process (or another open handle
// in this process) holds the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is an exclusive advisory lock on a file, held until Unlock.
type Lock struct {
	f *os.File
}

// Unlock releases the lock and closes its file.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// LockFile creates path if needed and takes an exclusive, non-blocking lock on
// it. It returns ErrLocked (wrapped) when the lock is held elsewhere.
func LockFile(path string) (*Lock, error) {
	f, err := OpenFileNoFollow(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}
