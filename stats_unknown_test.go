package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A Reader has no key: on an encrypted log it cannot see the level and time
// of records no index file covers, and reports them as Unknown instead of
// dating them 1970.
func TestReaderStatsEncryptedUnknown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{EncryptionKey: make([]byte, KeySize), SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	for i := 0; i < 100; i++ {
		_, err := l.Info("hello", Fields{"i": i})
		require.NoError(t, err)
	}
	want, err := l.Stats(ctx)
	require.NoError(t, err)
	require.Zero(t, want.Unknown)
	require.NoError(t, l.Close())
	require.Greater(t, want.Segments, 1, "some segments sealed, with index files")

	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	st, err := r.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(100), st.TotalEntries)
	require.NotZero(t, st.Unknown, "the active segment's records are not indexed on disk")
	require.Equal(t, st.TotalEntries, st.Levels[LevelInfo]+st.Unknown)
	require.Equal(t, want.Oldest, st.Oldest, "the oldest is known from the sealed segments' indexes")
	require.False(t, st.Newest.Before(st.Oldest))
	require.False(t, st.Newest.After(want.Newest))
	require.Greater(t, st.Oldest.Year(), 2000)

	// Every record unknown: no time at all, not 1970.
	dir = t.TempDir()
	l, err = Open(dir, Options{EncryptionKey: make([]byte, KeySize)})
	require.NoError(t, err)
	_, err = l.Info("hello", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	r2, err := OpenReader(dir)
	require.NoError(t, err)
	defer r2.Close()
	st, err = r2.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.TotalEntries)
	require.Equal(t, uint64(1), st.Unknown)
	require.True(t, st.Oldest.IsZero())
	require.True(t, st.Newest.IsZero())
}
