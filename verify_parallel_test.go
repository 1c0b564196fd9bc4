package treeoflife

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

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
		comparePins(t, name, dir, logID, pins)
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

// verifyBatchSizes are the read buffer sizes the parallel verification is
// compared at: a frame larger than the buffer (1 byte: it grows), a few
// frames per batch, many segments' worth.
var verifyBatchSizes = []int{1, 700, 4096, verifyBatchBytes}

// comparePins checks that verifying dir with 2, 3 and 8 workers, at every
// batch size, reports what verifying it in order does: the head and the
// error, to the letter.
func comparePins(t *testing.T, name, dir string, logID [16]byte, pins []pin) {
	t.Helper()
	ctx := context.Background()
	h1, err1 := verifyDirWorkers(ctx, dir, logID, pins, nil, 1)
	for _, workers := range []int{2, 3, 8} {
		for _, batch := range verifyBatchSizes {
			h, err := verifyDirBatch(ctx, dir, logID, pins, nil, workers, batch)
			require.Equal(t, h1, h, "%s: head with %d workers, %d-byte batches", name, workers, batch)
			require.Equal(t, fmt.Sprint(err1), fmt.Sprint(err), "%s: error with %d workers, %d-byte batches", name, workers, batch)
		}
	}
}

// logHeads returns the head of dir's log after each number of records,
// computed record by record from its frames.
func logHeads(t *testing.T, dir string, logID [16]byte) []Head {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	heads := []Head{{Chain: genesisChain(logID)}}
	var f frontier
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			f.append(leafHash(fr.Payload))
			heads = append(heads, Head{Size: f.n, Chain: fr.Chain, Root: f.root()})
		}
		require.NoError(t, sr.Close())
	}
	return heads
}

// TestParallelVerifyPins: pins that fall inside a batch, at its end and
// between segments are compared at their size, as in order: the right
// heads pass, a wrong chain value or root fails at the same record with the
// same head as in order.
func TestParallelVerifyPins(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	l := openT(t, src, Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered})
	for i := 0; i < 700; i++ {
		_, err := l.Log(ctx, LevelInfo, "event", Fields{"i": i, "pad": strings.Repeat("y", i%97)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	_, logID, err := readHeader(src)
	require.NoError(t, err)
	heads := logHeads(t, src, logID)
	require.Len(t, heads, 701)
	segs, err := listSegments(src)
	require.NoError(t, err)
	require.Greater(t, len(segs), 3, "several segments")

	at := func(n uint64, source string) pin {
		h := heads[n]
		return pin{size: n, chain: &h.Chain, root: h.Root, source: source}
	}
	sizes := []uint64{0, 1, 2, 63, 64, 65, 255, 256, 333, segs[1].FirstSeq, segs[2].FirstSeq + 1, 699, 700}
	var good []pin
	for _, n := range sizes {
		good = append(good, at(n, fmt.Sprintf("pin %d", n)))
	}
	h, err := verifyDirBatch(ctx, src, logID, good, nil, 2, 700)
	require.NoError(t, err)
	require.Equal(t, heads[700], h)
	comparePins(t, "right pins", src, logID, good)

	for _, n := range sizes[1:] {
		wrongRoot := at(n, "a wrong root")
		wrongRoot.root[3] ^= 1
		comparePins(t, fmt.Sprintf("wrong root at %d", n), src, logID, append(slices.Clone(good), wrongRoot))
		_, err := verifyDirBatch(ctx, src, logID, []pin{wrongRoot}, nil, 2, 4096)
		var te *TamperError
		require.ErrorAs(t, err, &te, "wrong root at %d", n)
		require.Equal(t, n-1, te.Seq, "wrong root at %d", n)

		wrongChain := at(n, "a wrong chain")
		c := *wrongChain.chain
		c[0] ^= 1
		wrongChain.chain = &c
		comparePins(t, fmt.Sprintf("wrong chain at %d", n), src, logID, []pin{wrongChain})
	}
	comparePins(t, "pin beyond the log", src, logID, []pin{{size: 701, root: heads[700].Root, source: "a later checkpoint"}})
}

// TestParallelVerifyCompressed: gzipped segments, intact and damaged
// (in the compressed bytes: a broken stream, a wrong checksum of gzip's
// own), are reported in parallel as in order.
func TestParallelVerifyCompressed(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	l := openT(t, src, Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered})
	for i := 0; i < 400; i++ {
		_, err := l.Log(ctx, LevelInfo, "event", Fields{"i": i, "pad": strings.Repeat("z", 40)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	_, logID, err := readHeader(src)
	require.NoError(t, err)
	segs, err := listSegments(src)
	require.NoError(t, err)
	require.Greater(t, len(segs), 3, "several segments")
	for _, sf := range segs[:len(segs)-1] {
		p := filepath.Join(src, sf.Name)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		_, err = zw.Write(b)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
		require.NoError(t, os.WriteFile(filepath.Join(src, indexNameToCompressed(sf.FirstSeq)), z.Bytes(), 0o644))
		require.NoError(t, os.Remove(p))
	}
	segs, err = listSegments(src)
	require.NoError(t, err)
	require.True(t, segs[0].Compressed)
	h, err := verifyDirWorkers(ctx, src, logID, nil, nil, 2)
	require.NoError(t, err)
	require.Equal(t, uint64(400), h.Size)
	comparePins(t, "compressed", src, logID, nil)

	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 12; i++ {
		sf := segs[rng.IntN(len(segs)-1)]
		dir := t.TempDir()
		copyDir(t, src, dir)
		p := filepath.Join(dir, sf.Name)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		comparePins(t, fmt.Sprintf("flip %d in %s", i, sf.Name), dir, logID, nil)
	}
	dir := t.TempDir()
	copyDir(t, src, dir)
	p := filepath.Join(dir, segs[1].Name)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(p, fi.Size()*2/3))
	comparePins(t, "compressed segment cut short", dir, logID, nil)
}

// TestParallelVerifyCancelled: a verification whose context is cancelled,
// before it starts or once it has begun, reports the cancellation, never
// records it did not hash as tampering, and leaves no goroutine behind.
func TestParallelVerifyCancelled(t *testing.T) {
	src := t.TempDir()
	l := openT(t, src, Options{SegmentSize: MinSegmentSize, Durability: DurabilityBuffered})
	for i := 0; i < 300; i++ {
		_, err := l.Log(context.Background(), LevelInfo, "event", Fields{"i": i, "pad": strings.Repeat("c", 50)})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	_, logID, err := readHeader(src)
	require.NoError(t, err)
	before := runtime.NumGoroutine()
	for i := 0; i < 30; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := verifyDirBatch(ctx, src, logID, nil, nil, 2+i%3, verifyBatchSizes[i%len(verifyBatchSizes)])
		require.ErrorIs(t, err, context.Canceled, "run %d", i)
	}
	// Cancelled while it runs: it finishes first, or reports the
	// cancellation.
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range i {
				runtime.Gosched()
			}
			cancel()
		}()
		h, err := verifyDirBatch(ctx, src, logID, nil, nil, 2+i%3, verifyBatchSizes[i%len(verifyBatchSizes)])
		<-done
		if err == nil {
			require.Equal(t, uint64(300), h.Size, "run %d", i)
		} else {
			require.ErrorIs(t, err, context.Canceled, "run %d", i)
		}
	}
	// The pipeline has waited for its goroutines; they may still be
	// exiting.
	for start := time.Now(); runtime.NumGoroutine() > before && time.Since(start) < 10*time.Second; {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}
