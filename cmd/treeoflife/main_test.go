package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/file"
)

// runCLI runs the command with args and returns its exit status, stdout
// and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut}
	code := c.run(context.Background(), args)
	return code, out.String(), errOut.String()
}

// writeLog writes n entries to a new log in dir, shipping them to the
// directory backup bdir when it is not empty, and returns its head.
func writeLog(t *testing.T, dir, bdir string, n int) treeoflife.Head {
	t.Helper()
	ctx := context.Background()
	var opts treeoflife.Options
	if bdir != "" {
		sink, err := file.New(ctx, file.Config{Dir: bdir})
		require.NoError(t, err)
		opts.Backup, opts.BackupBatchSize = sink, 10
	}
	l, err := treeoflife.Open(dir, opts)
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		_, err := l.Revenue("payment "+strconv.Itoa(i), treeoflife.Fields{"customer": "cus_" + strconv.Itoa(i%5)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return l.Head()
}

// flipByte changes one byte in the middle of the file at path.
func flipByte(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.Chmod(path, 0o644))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x20
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	head := writeLog(t, dir, "", 50)

	code, out, _ := runCLI(t, "verify", dir)
	require.Equal(t, 0, code)
	require.Contains(t, out, "OK, 50 records")
	require.Contains(t, out, head.Root.String())

	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	flipByte(t, segs[0])
	code, out, errOut := runCLI(t, "verify", dir)
	require.Equal(t, 1, code, "tampering is exit status 1")
	require.Empty(t, out, "the error goes to stderr only")
	require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	require.True(t, strings.HasPrefix(errOut, "TAMPERED: "+dir+": "), errOut)
	require.Contains(t, errOut, filepath.Base(segs[0]))

	code, _, errOut = runCLI(t, "verify", filepath.Join(dir, "missing"))
	require.Equal(t, 2, code, "an unreadable directory is not tampering")
	require.NotContains(t, errOut, "TAMPERED")
}

func TestStatsAndSearch(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, "", 50)
	code, out, _ := runCLI(t, "stats", dir)
	require.Equal(t, 0, code)
	require.Contains(t, out, "50 entries")
	require.Contains(t, out, "REVENUE  50")

	code, out, _ = runCLI(t, "search", "-n", "3", dir, "CUS_4")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "the newest 3 of the 10 matches")
	for _, want := range []string{`"payment 39"`, `"payment 44"`, `"payment 49"`} {
		require.Contains(t, out, want)
	}
}

func TestBackupCommands(t *testing.T) {
	dir, bdir := t.TempDir(), t.TempDir()
	head := writeLog(t, dir, bdir, 95)
	t.Setenv("BACKUP_PROVIDER", "file")
	t.Setenv("BACKUP_DIR", bdir)
	t.Setenv("BACKUP_PREFIX", "")

	code, out, errOut := runCLI(t, "verify-backup")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "OK, 95 records")
	require.Contains(t, out, head.Chain.String())

	restored := filepath.Join(t.TempDir(), "restored")
	code, out, errOut = runCLI(t, "restore", "-records", "40", restored)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "OK, 40 records")
	code, out, _ = runCLI(t, "verify", restored)
	require.Equal(t, 0, code)
	require.Contains(t, out, "OK, 40 records")

	batches, err := filepath.Glob(filepath.Join(bdir, "*", "_", "batches", "*"))
	require.NoError(t, err)
	require.Len(t, batches, 10)
	flipByte(t, batches[4])
	code, _, errOut = runCLI(t, "verify-backup")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "TAMPERED")
	require.Contains(t, errOut, filepath.Base(batches[4]))

	t.Setenv("BACKUP_PROVIDER", "")
	code, _, errOut = runCLI(t, "verify-backup")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "BACKUP_PROVIDER")
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCLI(t)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage:")
	for _, args := range [][]string{{"frobnicate"}, {"verify"}, {"search", "-n", "x", "d", "t"}, {"restore"}, {"verify-backup", "extra"}} {
		code, out, errOut := runCLI(t, args...)
		require.Equal(t, 2, code, "%q", args)
		require.Empty(t, out, "%q", args)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		require.Contains(t, errOut, "treeoflife: ", "%q", args)
	}
	code, out, _ := runCLI(t, "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "verify-backup")
}
