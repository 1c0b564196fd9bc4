package treeoflife

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func logRange(t *testing.T, l *ImmutableLogger, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, err := l.Info(fmt.Sprintf("record %d", i), Fields{"i": i})
		require.NoError(t, err)
	}
}

// TestVerifyIncremental: a pass reads from the segment that was active at
// the last one; a full pass re-reads the sealed segments.
func TestVerifyIncremental(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	defer l.Close()
	logRange(t, l, 0, 100)

	require.NoError(t, l.verifyPass(ctx, true))
	st := l.Metrics().LastVerify
	require.NoError(t, st.Err)
	assert.True(t, st.Full)
	assert.Equal(t, uint64(100), st.Records)
	first := l.obs.resume
	require.NotNil(t, first)
	assert.Equal(t, uint64(100), first.verified)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	assert.Equal(t, segs[len(segs)-1].FirstSeq, first.segSeq, "the next pass starts at the active segment")

	// Nothing new: the pass reads nothing.
	require.NoError(t, l.verifyPass(ctx, false))
	assert.Same(t, first, l.obs.resume)

	logRange(t, l, 100, 100)
	require.NoError(t, l.verifyPass(ctx, false))
	st = l.Metrics().LastVerify
	require.NoError(t, st.Err)
	assert.False(t, st.Full)
	assert.Equal(t, uint64(200), st.Records)
	assert.Greater(t, l.obs.resume.segSeq, first.segSeq)

	// Damage in a segment an incremental pass no longer reads is found by
	// the next full pass.
	flipByte(t, filepath.Join(dir, segs[0].Name), 300)
	logRange(t, l, 200, 10)
	require.NoError(t, l.verifyPass(ctx, false))
	err = l.verifyPass(ctx, true)
	require.ErrorIs(t, err, ErrTampered)
	require.ErrorIs(t, l.Metrics().LastVerify.Err, ErrTampered)
}

// TestVerifyIncrementalFindsNewDamage: damage among the records written
// since the last pass is found by the next incremental pass.
func TestVerifyIncrementalFindsNewDamage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	defer l.Close()
	logRange(t, l, 0, 50)
	require.NoError(t, l.verifyPass(ctx, true))
	from := l.obs.resume.segSeq
	logRange(t, l, 50, 100)
	require.NoError(t, l.Sync(ctx))
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var target string
	for _, s := range segs {
		if s.FirstSeq == from {
			target = s.Name
		}
	}
	require.NotEmpty(t, target)
	flipByte(t, filepath.Join(dir, target), 300)
	require.ErrorIs(t, l.verifyPass(ctx, false), ErrTampered)
}
