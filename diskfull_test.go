package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// smallFS mounts a tmpfs of size bytes for the test and returns its path.
// It needs root (CAP_SYS_ADMIN); without it the test is skipped, since it
// cannot fill a real file system without filling the machine's.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("disk-full tests mount a small tmpfs, which needs root on Linux; run them as root (e.g. in a container) to check ENOSPC handling")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): the disk-full tests need CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return
		}
	}
}

func TestDiskFullResumesWithoutReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"sync", Options{SegmentSize: 64 << 10}},
		{"sync-small-segments", Options{SegmentSize: MinSegmentSize}},
		{"buffered", Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered}},
	} {
		t.Run(tc.name, func(t *testing.T) { testDiskFull(t, tc.opts) })
	}
}

func testDiskFull(t *testing.T, opts Options) {
	ctx := context.Background()
	mnt := smallFS(t, 2<<20)
	dir := filepath.Join(mnt, "log")
	l, err := Open(dir, opts)
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close()
		}
	})
	msgs := map[uint64]string{} // every record the logger took a seq for
	logOne := func(i int) (Record, error) {
		msg := fmt.Sprintf("event %d", i)
		rec, err := l.Info(msg, Fields{"i": i, "pad": "0123456789abcdef0123456789abcdef"})
		if err == nil || errors.Is(err, ErrDiskFull) && rec.ID != "" {
			_, dup := msgs[rec.Seq]
			require.False(t, dup, "seq %d given twice", rec.Seq)
			msgs[rec.Seq] = msg
		}
		return rec, err
	}
	i := 0
	for ; i < 50; i++ {
		_, err := logOne(i)
		require.NoError(t, err)
	}

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	var full error
	for ; i < 100000 && full == nil; i++ {
		if _, err := logOne(i); err != nil {
			full = err
		}
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // let a Buffered writer meet the full disk
		}
	}
	require.Error(t, full, "logging never met the full disk")
	require.ErrorIs(t, full, ErrDiskFull)
	require.ErrorIs(t, full, syscall.ENOSPC)
	if !strings.Contains(full.Error(), "create segment") {
		require.NotContains(t, full.Error(), ".seg.tmp", "the error names the segment as it exists")
	}
	// While the disk stays full, records are refused, at once.
	start := time.Now()
	_, err = logOne(i)
	i++
	require.ErrorIs(t, err, ErrDiskFull)
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, l.Sync(ctx), ErrDiskFull)
	time.Sleep(3 * diskFullRetry) // a few failed retries
	_, err = logOne(i)
	i++
	require.ErrorIs(t, err, ErrDiskFull)

	// Space comes back: logging resumes by itself.
	require.NoError(t, os.Remove(filler))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := logOne(i)
		i++
		if err == nil {
			break
		}
		require.ErrorIs(t, err, ErrDiskFull)
		require.True(t, time.Now().Before(deadline), "logging did not resume after space came back: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
	for range 200 {
		_, err := logOne(i)
		i++
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	require.NoError(t, verifyErr(l.Verify(ctx)))

	// Every record that was given a seq is there, in order, once.
	var n uint64
	for e, err := range l.Entries(ctx, Filter{}) {
		require.NoError(t, err)
		require.Equal(t, n, e.Seq)
		require.Equal(t, msgs[e.Seq], e.Message, "seq %d", e.Seq)
		n++
	}
	require.Equal(t, uint64(len(msgs)), n)
	require.Equal(t, n, l.Head().Size)
	closed = true
	require.NoError(t, l.Close())
	head, err := VerifyDir(ctx, dir)
	require.NoError(t, err)
	require.Equal(t, n, head.Head.Size)
}

// A logger closed while the disk is still full reports it; what it had
// written is intact and opens again.
func TestDiskFullClose(t *testing.T) {
	ctx := context.Background()
	mnt := smallFS(t, 1<<20)
	dir := filepath.Join(mnt, "log")
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	var acked uint64
	for i := range 100 {
		_, err := l.Info("before", Fields{"i": i})
		require.NoError(t, err)
		acked++
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	for {
		_, err := l.Info("during", nil)
		if err != nil {
			require.ErrorIs(t, err, ErrDiskFull)
			break
		}
		acked++
	}
	require.ErrorIs(t, l.Close(), ErrDiskFull)

	// Open on the full disk, with the segment indexes gone: they are only
	// a cache, rebuilt in memory when they cannot be written.
	idx, err := filepath.Glob(filepath.Join(dir, "*"+indexExt))
	require.NoError(t, err)
	require.NotEmpty(t, idx)
	for _, p := range idx {
		require.NoError(t, os.Remove(p))
	}
	fill(t, filler)
	l, err = Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.GreaterOrEqual(t, l.Head().Size, acked)
	require.NoError(t, verifyErr(l.Verify(ctx)))
	require.NoError(t, os.Remove(filler))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = l.Info("after", nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		require.ErrorIs(t, err, ErrDiskFull) // the next segment is not created yet
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = VerifyDir(ctx, dir)
	require.NoError(t, err)
}
