package treeoflife

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParallelVerifyMatchesInOrder: verifying the segments in parallel
// reports exactly what verifying them in order does, the head and the
// first failure (segment, seq, offset, reason), for an intact log and for
// every kind of damage: a byte changed anywhere in any segment, a segment
// removed, renamed, cut short or swapped with another.
func TestParallelVerifyMatchesInOrder(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	l := openT(t, src, Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered})
	for i := 0; i < 600; i++ {
		_, err := l.Log(ctx, Levels()[i%len(Levels())], "event", Fields{"i": i, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs, err := listSegments(src)
	require.NoError(t, err)
	require.Greater(t, len(segs), 5, "several segments")
	_, logID, err := readHeader(src)
	require.NoError(t, err)
	cp, err := readCheckpoint(src, logID)
	require.NoError(t, err)
	pins := []pin{cp.pin("the checkpoint in CHECKPOINT")}

	compare := func(t *testing.T, name, dir string) {
		t.Helper()
		h1, err1 := verifyDirWorkers(ctx, dir, logID, pins, nil, 1)
		for _, workers := range []int{2, 3, 8} {
			h, err := verifyDirWorkers(ctx, dir, logID, pins, nil, workers)
			require.Equal(t, h1, h, "%s: head with %d workers", name, workers)
			require.Equal(t, fmt.Sprint(err1), fmt.Sprint(err), "%s: error with %d workers", name, workers)
		}
	}
	compare(t, "intact", src)
	h, err := verifyDirWorkers(ctx, src, logID, pins, nil, 4)
	require.NoError(t, err)
	require.Equal(t, uint64(600), h.Size)

	rng := rand.New(rand.NewPCG(1, 2))
	mutate := func(name string, fn func(dir string)) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		fn(dir)
		compare(t, name, dir)
	}
	for i := 0; i < 60; i++ {
		sf := segs[rng.IntN(len(segs))]
		mutate(fmt.Sprintf("flip %d in %s", i, sf.Name), func(dir string) {
			p := filepath.Join(dir, sf.Name)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			require.NoError(t, os.Chmod(p, 0o644))
			require.NoError(t, os.WriteFile(p, b, 0o644))
		})
	}
	mid := segs[len(segs)/2]
	mutate("segment removed", func(dir string) { require.NoError(t, os.Remove(filepath.Join(dir, mid.Name))) })
	mutate("segment cut short", func(dir string) {
		p := filepath.Join(dir, mid.Name)
		require.NoError(t, os.Chmod(p, 0o644))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(p, fi.Size()/2))
	})
	mutate("segments swapped", func(dir string) {
		a, b := filepath.Join(dir, segs[1].Name), filepath.Join(dir, segs[2].Name)
		require.NoError(t, os.Rename(a, a+".tmp"))
		require.NoError(t, os.Rename(b, a))
		require.NoError(t, os.Rename(a+".tmp", b))
	})
	mutate("segment renamed", func(dir string) {
		require.NoError(t, os.Rename(filepath.Join(dir, mid.Name), filepath.Join(dir, segmentName(mid.FirstSeq+1))))
	})
	mutate("last segment removed", func(dir string) {
		require.NoError(t, os.Remove(filepath.Join(dir, segs[len(segs)-1].Name)))
	})
}
