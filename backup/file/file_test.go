package file_test

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup"
	"github.com/treeoflife/treeoflife/backup/backuptest"
	"github.com/treeoflife/treeoflife/backup/file"
)

func newSink(t *testing.T) *file.Sink {
	t.Helper()
	s, err := file.New(t.Context(), file.Config{Dir: filepath.Join(t.TempDir(), "backup")})
	require.NoError(t, err)
	return s
}

func TestSink(t *testing.T) {
	backuptest.RunSinkTests(t, func(t *testing.T) backup.Sink { return newSink(t) })
}

func TestNewRequiresDir(t *testing.T) {
	_, err := file.New(t.Context(), file.Config{})
	require.ErrorContains(t, err, "Config.Dir")
}

func TestLayout(t *testing.T) {
	s := newSink(t)
	body := []byte("hello")
	require.NoError(t, s.Put(t.Context(), "a/b/c", body, sha256.Sum256(body), backup.PutOptions{}))

	fi, err := os.Stat(filepath.Join(s.Dir(), "a", "b", "c"))
	require.NoError(t, err)
	require.Equal(t, file.DefaultFilePerm, fi.Mode().Perm(), "objects are read-only")
	require.Zero(t, fi.Mode().Perm()&0o007, "objects are not for other users")
	for _, d := range []string{"a", filepath.Join("a", "b")} {
		di, err := os.Stat(filepath.Join(s.Dir(), d))
		require.NoError(t, err)
		require.Zero(t, di.Mode().Perm()&0o027, "%s: directories are the owner's and its group's only", d)
	}

	entries, err := os.ReadDir(filepath.Join(s.Dir(), "a", "b"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

func TestTemporaryFilesAreNotListed(t *testing.T) {
	s := newSink(t)
	body := []byte("x")
	require.NoError(t, s.Put(t.Context(), "d/obj", body, sha256.Sum256(body), backup.PutOptions{}))
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "d", ".tmp-123"), []byte("partial"), 0o600))
	var keys []string
	for info, err := range s.List(t.Context(), "") {
		require.NoError(t, err)
		keys = append(keys, info.Key)
	}
	require.Equal(t, []string{"d/obj"}, keys)
}

// TestCorruption damages object files behind the sink's back: each kind of
// damage must be reported, never served as good data.
func TestCorruption(t *testing.T) {
	body := []byte("a body long enough to damage in the middle")
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		statErr bool // detected by Stat (header), else only by reading
	}{
		{"flipped body byte", func(t *testing.T, p string) { flip(t, p, -5) }, false},
		{"truncated", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, size(t, p)-1)) }, true},
		{"extended", func(t *testing.T, p string) { appendTo(t, p, []byte("x")) }, true},
		{"bad magic", func(t *testing.T, p string) { flip(t, p, 0) }, true},
		{"huge header length", func(t *testing.T, p string) { flip(t, p, 8) }, true},
		{"empty file", func(t *testing.T, p string) { require.NoError(t, os.Truncate(p, 0)) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t)
			require.NoError(t, s.Put(t.Context(), "obj", body, sha256.Sum256(body), backup.PutOptions{}))
			p := filepath.Join(s.Dir(), "obj")
			require.NoError(t, os.Chmod(p, 0o644))
			tc.damage(t, p)

			_, err := s.Stat(t.Context(), "obj")
			if tc.statErr {
				require.ErrorContains(t, err, "corrupt object file")
				require.NotErrorIs(t, err, backup.ErrNotExist)
				return
			}
			require.NoError(t, err)
			rc, _, err := s.Get(t.Context(), "obj")
			require.NoError(t, err)
			defer rc.Close()
			_, err = io.ReadAll(rc)
			require.ErrorIs(t, err, backup.ErrChecksum)
		})
	}
}

func size(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Size()
}

func flip(t *testing.T, p string, off int64) {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x80
	require.NoError(t, os.WriteFile(p, b, 0o644))
}

func appendTo(t *testing.T, p string, extra []byte) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(extra)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestFileAndDirectoryConflict(t *testing.T) {
	s := newSink(t)
	body := []byte("x")
	sum := sha256.Sum256(body)
	require.NoError(t, s.Put(t.Context(), "a/b", body, sum, backup.PutOptions{}))
	require.Error(t, s.Put(t.Context(), "a/b/c", body, sum, backup.PutOptions{}))
	_, err := s.Stat(t.Context(), "a/b/c")
	require.ErrorIs(t, err, backup.ErrNotExist)

	require.NoError(t, s.Put(t.Context(), "x/y/z", body, sum, backup.PutOptions{}))
	err = s.Put(t.Context(), "x/y", body, sum, backup.PutOptions{IfNotExists: true})
	require.Error(t, err)
	require.NotErrorIs(t, err, backup.ErrExist)
}

func TestOpenFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BACKUP_DIR", dir)
	s, err := backup.Open(t.Context(), file.Type)
	require.NoError(t, err)
	require.Equal(t, dir, s.(*file.Sink).Dir())

	t.Setenv("BACKUP_DIR", "")
	_, err = backup.Open(t.Context(), file.Type)
	require.ErrorContains(t, err, "BACKUP_DIR")
}
