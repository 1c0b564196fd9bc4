package treeoflife

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife/backup/file"
)

// plantLinks puts a symbolic link to victim at every name the logger may
// create a temporary file under (and at HASHES) for records below upTo.
func plantLinks(t *testing.T, dir, victim string, upTo uint64) {
	t.Helper()
	names := []string{
		checkpointFile + ".tmp", headerFile + ".tmp", headerNextFile + ".tmp",
		headerNextFile, backupCursorFile + ".tmp", hashesFile, syncedFile, syncedFile + ".tmp",
	}
	for seq := range upTo {
		names = append(names,
			segmentName(seq)+".tmp",
			indexName(seq)+".tmp",
			indexNameToCompressed(seq)+".tmp")
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err == nil {
			continue // the logger's own file
		}
		require.NoError(t, os.Symlink(victim, p))
	}
}

func TestHostileSymlinksAtTempNames(t *testing.T) {
	ctx := context.Background()
	victim := filepath.Join(t.TempDir(), "victim")
	const content = "not the log's to write\n"
	require.NoError(t, os.WriteFile(victim, []byte(content), 0o644))
	dir := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.MkdirAll(dir, 0o750))
	// A new directory may hold a HEADER.tmp (a creation a crash interrupted).
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, headerFile+".tmp")))

	sink, err := file.New(ctx, file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	key := make([]byte, KeySize)
	rand.Read(key)
	opts := Options{SegmentSize: MinSegmentSize, Compress: true, EncryptionKey: key, Backup: sink, BackupBatchSize: 10}
	l, err := Open(dir, opts)
	require.NoError(t, err)
	plantLinks(t, dir, victim, 400)
	for i := range 300 {
		_, err := l.Info("event", Fields{"i": i, "pad": strings.Repeat("x", 40)})
		require.NoError(t, err)
	}
	_, err = l.Checkpoint(ctx)
	require.NoError(t, err)
	newKey := make([]byte, KeySize)
	rand.Read(newKey)
	require.NoError(t, l.RotateKey(ctx, newKey))
	require.NoError(t, l.SyncBackup(ctx))
	l.compressor.wait()
	require.NoError(t, l.Close())

	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, content, string(got), "a write followed a planted symbolic link")

	// And across a reopen, with the links planted while it was closed.
	plantLinks(t, dir, victim, 400)
	kr, err := NewKeyring(newKey, key)
	require.NoError(t, err)
	opts.EncryptionKey, opts.Keys = nil, kr
	l, err = Open(dir, opts)
	require.NoError(t, err)
	for i := range 100 {
		_, err := l.Info("more", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, verifyErr(l.Verify(ctx)))
	require.NoError(t, l.Close())
	got, err = os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, content, string(got), "a write followed a planted symbolic link")
	_, err = VerifyDir(ctx, dir)
	require.NoError(t, err)
}

func TestHostileSymlinkAtLockIsRefused(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.WriteFile(victim, []byte("v"), 0o644))
	dir := t.TempDir()
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, lockFile)))
	_, err := Open(dir, Options{})
	require.Error(t, err)
	got, _ := os.ReadFile(victim)
	require.True(t, bytes.Equal(got, []byte("v")))
}

func TestHostileForeignDirectoryLeftUntouched(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrNotLog)
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, des, 1, "Open left files in a directory it refused: %v", des)
}
