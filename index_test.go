package treeoflife

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIndexesAndStats(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	l := openT(t, dir, Options{SegmentSize: 64 << 10, Compress: true, Clock: clock})
	levels := []Level{LevelInfo, LevelRevenue, LevelRevenue, LevelError}
	const n = 2000
	var first, last time.Time
	for i := 0; i < n; i++ {
		rec, err := l.Log(context.Background(), levels[i%len(levels)], "event", Fields{"i": i})
		require.NoError(t, err)
		if i == 0 {
			first = rec.Time
		}
		last = rec.Time
	}
	require.Equal(t, (n-1)*time.Second, last.Sub(first))
	require.NoError(t, l.Sync(context.Background()))
	l.compressor.wait()

	st, err := l.Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(n), st.TotalEntries)
	require.Equal(t, map[Level]uint64{LevelInfo: n / 4, LevelRevenue: n / 2, LevelError: n / 4}, st.Levels)
	require.Equal(t, first, st.Oldest)
	require.Equal(t, last, st.Newest)
	require.Equal(t, l.Head(), st.Head)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Equal(t, len(segs), st.Segments)
	require.Greater(t, st.Segments, 3)
	require.Positive(t, st.Bytes)

	// Every block of every segment, compressed or not, can be read from its
	// indexed position, and its records match the block's summary.
	v, _, err := l.view()
	require.NoError(t, err)
	require.Equal(t, uint64(n), v.Size)
	var total uint64
	for _, x := range v.Indexes {
		sf := v.segmentFile(x)
		if x.FirstSeq != v.ActiveSeq {
			require.NotNil(t, x.src, "a sealed segment's index is kept as its summary")
			require.Nil(t, x.Blocks)
			x, err = x.loaded()
			require.NoError(t, err)
			require.True(t, sf.Compressed, sf.Name)
			_, err := os.Stat(filepath.Join(dir, indexName(x.FirstSeq)))
			require.NoError(t, err, "sealed segments have an index file")
		}
		for bi, b := range x.Blocks {
			if sf.Compressed && bi > 0 {
				require.Positive(t, b.ZOffset, "gzip member offset recorded")
			}
			sr, err := openSegmentAt(dir, sf, b.Offset, b.ZOffset, v.limit(x))
			require.NoError(t, err)
			var mask uint16
			prev := b.Prev
			for i := uint32(0); i < b.Count; i++ {
				fr, err := sr.Next()
				require.NoError(t, err)
				leaf := leafHash(fr.Payload)
				require.Equal(t, chainHash(&prev, &leaf), fr.Chain, "block's Prev starts the chain")
				prev = fr.Chain
				require.Equal(t, b.FirstSeq+uint64(i), fr.Seq)
				lv, ts := entryLevelTime(fr.Payload)
				require.GreaterOrEqual(t, ts, b.MinTime)
				require.LessOrEqual(t, ts, b.MaxTime)
				mask |= 1 << lv
			}
			require.Equal(t, b.Levels, mask)
			require.NoError(t, sr.Close())
			total += uint64(b.Count)
		}
	}
	require.Equal(t, uint64(n), total)
	require.NoError(t, l.Close())

	// Indexes survive a reopen, and a missing or damaged one is rebuilt.
	require.NoError(t, os.Remove(filepath.Join(dir, indexName(segs[0].FirstSeq))))
	p := filepath.Join(dir, indexName(segs[1].FirstSeq))
	require.NoError(t, os.Chmod(p, 0o644))
	require.NoError(t, os.WriteFile(p, []byte("TOLIDX01 garbage"), 0o644))
	l = openT(t, dir, Options{})
	st2, err := l.Stats(context.Background())
	require.NoError(t, err)
	st.Bytes, st2.Bytes = 0, 0
	require.Equal(t, st, st2)
	require.NoError(t, l.Close())
}

func TestIndexRoundTrip(t *testing.T) {
	x := newSegmentIndex(1000, 100)
	for i := 0; i < 1000; i++ {
		x.add(uint64(1000+i), int64(100+i*300), 300, levels[i%len(levels)], int64(i*7), &Hash{byte(i)})
	}
	x.Blocks[2].ZOffset = 12345
	y, err := unmarshalIndex(x.marshal())
	require.NoError(t, err)
	require.Equal(t, x, y)
	b := x.marshal()
	b[len(b)/2] ^= 1
	_, err = unmarshalIndex(b)
	require.ErrorIs(t, err, errBadIndex)
}

// TestCheckpointIndexesOnlySealedOnDisk: an appender starts the next
// segment's index when it decides to rotate, before the writer seals the
// segment's file. A checkpoint taken in between (the signer's ticker, at a
// durable size on the boundary) must not commit to the segment as sealed:
// killed before the cut, the log would open with it still active, and Open
// would refuse the checkpoint (TestCrashSigned found this).
func TestCheckpointIndexesOnlySealedOnDisk(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered, FlushInterval: time.Hour})
	ctx := context.Background()
	// Hold the writer off, as if it were slow to reach the cut.
	l.wmu.Lock()
	for {
		_, err := l.Log(ctx, LevelInfo, "filling", Fields{"pad": strings.Repeat("x", 200)})
		require.NoError(t, err)
		l.mu.Lock()
		rotated := len(l.indexes) > 1
		l.mu.Unlock()
		if rotated {
			break
		}
	}
	d := l.sealedIndexDigest(l.Head().Size)
	l.wmu.Unlock()
	require.Zero(t, d.Segments, "the first segment is not sealed on disk yet")
	require.NoError(t, l.Sync(ctx))
	require.Equal(t, 1, l.sealedIndexDigest(l.Head().Size).Segments, "once the writer has cut it")
}
