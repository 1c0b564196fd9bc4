package treeoflife

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObserveMetrics(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	defer l.Close()
	for range 40 {
		_, err := l.Audit("audit record", Fields{"k": "v"})
		require.NoError(t, err)
	}
	for range 10 {
		_, err := l.Revenue("revenue record", nil)
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	m := l.Metrics()
	assert.Equal(t, uint64(50), m.Records)
	assert.Greater(t, m.Segments, 1)
	require.Len(t, m.Written, len(Levels()))
	var total uint64
	for _, w := range m.Written {
		switch w.Level {
		case LevelAudit:
			assert.Equal(t, uint64(40), w.Records)
			assert.Greater(t, w.Bytes, uint64(40*30))
		case LevelRevenue:
			assert.Equal(t, uint64(10), w.Records)
		default:
			assert.Zero(t, w.Records, w.Level)
		}
		total += w.Records
	}
	assert.Equal(t, uint64(50), total)
	// DurabilitySync: one fsync per group, at least one per call here.
	assert.GreaterOrEqual(t, m.FsyncSeconds.Count, uint64(50))
	assert.Equal(t, m.FsyncSeconds.Count, m.FsyncSeconds.Cumulative[len(m.FsyncSeconds.Cumulative)-1], "every fsync took under 10 s")
	assert.Positive(t, m.FsyncSeconds.Sum)
	assert.Equal(t, uint64(50), uint64(m.GroupCommitRecords.Sum))
	assert.Equal(t, m.GroupCommitRecords.Cumulative[0], m.GroupCommitRecords.Count, "one record per group, logged one at a time")
	assert.False(t, m.FailedClosed)
	assert.False(t, m.Backup.Enabled)
	assert.False(t, m.LastCheckpoint.IsZero(), "a new log starts with a checkpoint")
	assert.True(t, m.LastVerify.Time.IsZero())
	assert.True(t, m.Disk.OK)
	assert.Positive(t, m.Disk.TotalBytes)
}

func TestObserveHistogramBuckets(t *testing.T) {
	var h fixedHistogram
	bounds := []float64{1, 2, 4}
	for _, v := range []float64{0.5, 1, 1.5, 3, 100} {
		h.observe(bounds, v, uint64(v*10))
	}
	s := h.snapshot(bounds, 0.1)
	assert.Equal(t, []uint64{2, 3, 4}, s.Cumulative)
	assert.Equal(t, uint64(5), s.Count)
	assert.InDelta(t, 106, s.Sum, 0.5)
}
