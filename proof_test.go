package treeoflife

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// provedLog is a log written one record at a time, with the root of every
// prefix as the logger reported it and every record's stored bytes.
type provedLog struct {
	dir     string
	roots   []Hash // roots[n]: the root of the first n records (zero for 0)
	records [][]byte
}

// leaf returns the leaf hash of record seq.
func (p *provedLog) leaf(seq uint64) Hash { return leafHash(p.records[seq]) }

// writeProvedLog logs n records, syncing after each to note the root, and
// reads the stored bytes back from the segments. Small segments and padded
// entries make several segments.
func writeProvedLog(t testing.TB, l *ImmutableLogger, n int) *provedLog {
	t.Helper()
	ctx := context.Background()
	p := &provedLog{dir: l.Dir(), roots: []Hash{{}}}
	pad := strings.Repeat("x", 900)
	for i := 0; i < n; i++ {
		_, err := l.Info(fmt.Sprintf("event %d", i), Fields{"pad": pad})
		require.NoError(t, err)
		require.NoError(t, l.Sync(ctx))
		h := l.Head()
		require.EqualValues(t, i+1, h.Size)
		p.roots = append(p.roots, h.Root)
	}
	p.records = storedRecords(t, l.Dir())
	require.Len(t, p.records, n)
	return p
}

// storedRecords returns the stored bytes of every record on disk, in order.
func storedRecords(t testing.TB, dir string) [][]byte {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var out [][]byte
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.EqualValues(t, len(out), fr.Seq)
			out = append(out, bytes.Clone(fr.Payload))
		}
		require.NoError(t, sr.Close())
	}
	return out
}

// prover is what ImmutableLogger and Reader have in common.
type prover interface {
	ProveInclusion(ctx context.Context, seq, treeSize uint64) (tlog.RecordProof, error)
	ProveConsistency(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error)
}

// checkAllProofs proves and verifies every seq in every tree size, and
// every pair of sizes.
func checkAllProofs(t *testing.T, pr prover, p *provedLog) {
	t.Helper()
	ctx := context.Background()
	n := uint64(len(p.records))
	for size := uint64(1); size <= n; size++ {
		for seq := uint64(0); seq < size; seq++ {
			proof, err := pr.ProveInclusion(ctx, seq, size)
			require.NoError(t, err, "seq %d size %d", seq, size)
			require.NoError(t, VerifyInclusion(proof, seq, size, p.leaf(seq), p.roots[size]), "seq %d size %d", seq, size)
		}
	}
	for newSize := uint64(0); newSize <= n; newSize++ {
		for oldSize := uint64(0); oldSize <= newSize; oldSize++ {
			proof, err := pr.ProveConsistency(ctx, oldSize, newSize)
			require.NoError(t, err, "%d to %d", oldSize, newSize)
			if oldSize == 0 || oldSize == newSize {
				require.Empty(t, proof)
			}
			require.NoError(t, VerifyConsistency(proof, oldSize, newSize, p.roots[oldSize], p.roots[newSize]), "%d to %d", oldSize, newSize)
		}
	}
}

func TestProofsEverySizeAndSeq(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{SegmentSize: MinSegmentSize, Compress: compress})
			p := writeProvedLog(t, l, 40)
			if compress {
				l.compressor.wait()
				gz, err := filepath.Glob(filepath.Join(dir, "*.seg.gz"))
				require.NoError(t, err)
				require.GreaterOrEqual(t, len(gz), 3, "several compressed segments")
			} else {
				segs, err := listSegments(dir)
				require.NoError(t, err)
				require.GreaterOrEqual(t, len(segs), 4, "several segments")
			}
			checkAllProofs(t, l, p)
			require.NoError(t, l.Close())

			st, err := os.Stat(filepath.Join(dir, hashesFile))
			require.NoError(t, err)
			require.EqualValues(t, 32*tlog.StoredHashCount(40), st.Size(), "HASHES holds every durable record's stored hashes")

			r, err := OpenReader(dir)
			require.NoError(t, err)
			checkAllProofs(t, r, p)
			require.NoError(t, r.Close())
			_, err = r.ProveInclusion(context.Background(), 0, 1)
			require.ErrorIs(t, err, ErrClosed)

			// A Reader without HASHES keeps the hashes in memory and
			// writes nothing.
			require.NoError(t, os.Remove(filepath.Join(dir, hashesFile)))
			r, err = OpenReader(dir)
			require.NoError(t, err)
			checkAllProofs(t, r, p)
			require.NoError(t, r.Close())
			_, err = os.Stat(filepath.Join(dir, hashesFile))
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func TestProofRejections(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
	defer l.Close()
	p := writeProvedLog(t, l, 21)
	ctx := context.Background()
	other := Hash(tlog.RecordHash([]byte("another record")))
	for _, tc := range []struct{ seq, size uint64 }{{0, 1}, {0, 2}, {3, 8}, {7, 8}, {5, 13}, {20, 21}, {16, 21}} {
		proof, err := l.ProveInclusion(ctx, tc.seq, tc.size)
		require.NoError(t, err)
		leaf, root := p.leaf(tc.seq), p.roots[tc.size]
		require.NoError(t, VerifyInclusion(proof, tc.seq, tc.size, leaf, root))
		bad := map[string]error{
			"wrong leaf": VerifyInclusion(proof, tc.seq, tc.size, other, root),
			"wrong root": VerifyInclusion(proof, tc.seq, tc.size, leaf, p.roots[tc.size-1]),
			"seq beyond": VerifyInclusion(proof, tc.size, tc.size, leaf, root),
			"extended":   VerifyInclusion(append(proof[:len(proof):len(proof)], tlog.Hash(other)), tc.seq, tc.size, leaf, root),
		}
		if tc.size < 21 {
			bad["bigger"] = VerifyInclusion(proof, tc.seq, tc.size+1, leaf, p.roots[tc.size+1])
		}
		if tc.seq > 0 {
			bad["wrong seq"] = VerifyInclusion(proof, tc.seq-1, tc.size, leaf, root)
			bad["other leaf's seq"] = VerifyInclusion(proof, tc.seq-1, tc.size, p.leaf(tc.seq-1), root)
		}
		if tc.size > 1 {
			bad["smaller"] = VerifyInclusion(proof, tc.seq%(tc.size-1), tc.size-1, leaf, p.roots[tc.size-1])
		}
		if len(proof) > 0 {
			bad["truncated"] = VerifyInclusion(proof[:len(proof)-1], tc.seq, tc.size, leaf, root)
			flipped := append(tlog.RecordProof(nil), proof...)
			flipped[0][0] ^= 1
			bad["flipped"] = VerifyInclusion(flipped, tc.seq, tc.size, leaf, root)
		}
		for name, err := range bad {
			require.ErrorIs(t, err, ErrProof, "%s: seq %d size %d", name, tc.seq, tc.size)
		}
	}
	for _, tc := range []struct{ old, new uint64 }{{1, 2}, {3, 8}, {8, 16}, {5, 21}, {16, 21}, {20, 21}} {
		proof, err := l.ProveConsistency(ctx, tc.old, tc.new)
		require.NoError(t, err)
		oldRoot, newRoot := p.roots[tc.old], p.roots[tc.new]
		require.NoError(t, VerifyConsistency(proof, tc.old, tc.new, oldRoot, newRoot))
		bad := map[string]error{
			"wrong old root": VerifyConsistency(proof, tc.old, tc.new, p.roots[tc.old-1], newRoot),
			"wrong new root": VerifyConsistency(proof, tc.old, tc.new, oldRoot, p.roots[tc.new-1]),
			"swapped":        VerifyConsistency(proof, tc.new, tc.old, newRoot, oldRoot),
			"wrong old size": VerifyConsistency(proof, tc.old-1, tc.new, p.roots[tc.old-1], newRoot),
			"extended":       VerifyConsistency(append(proof[:len(proof):len(proof)], tlog.Hash(other)), tc.old, tc.new, oldRoot, newRoot),
			"truncated":      VerifyConsistency(proof[:len(proof)-1], tc.old, tc.new, oldRoot, newRoot),
			"empty":          VerifyConsistency(nil, tc.old, tc.new, oldRoot, newRoot),
		}
		if tc.new < 21 {
			bad["wrong new size"] = VerifyConsistency(proof, tc.old, tc.new+1, oldRoot, p.roots[tc.new+1])
		}
		for name, err := range bad {
			require.ErrorIs(t, err, ErrProof, "%s: %d to %d", name, tc.old, tc.new)
		}
	}
	// The empty tree: either root form, and nothing else.
	require.NoError(t, VerifyConsistency(nil, 0, 5, EmptyRoot, p.roots[5]))
	require.NoError(t, VerifyConsistency(nil, 0, 0, Hash{}, EmptyRoot))
	require.ErrorIs(t, VerifyConsistency(nil, 0, 5, other, p.roots[5]), ErrProof)
	require.ErrorIs(t, VerifyConsistency(tlog.TreeProof{tlog.Hash(other)}, 0, 5, EmptyRoot, p.roots[5]), ErrProof)
	require.ErrorIs(t, VerifyConsistency(nil, 4, 4, p.roots[4], p.roots[5]), ErrProof)
	require.ErrorIs(t, VerifyInclusion(nil, 0, 0, other, EmptyRoot), ErrProof)
}

func TestProofOutOfRange(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	proof, err := l.ProveConsistency(ctx, 0, 0)
	require.NoError(t, err)
	require.Empty(t, proof)
	_, err = l.ProveInclusion(ctx, 0, 0)
	require.ErrorIs(t, err, ErrOutOfRange)
	for i := 0; i < 5; i++ {
		_, err := l.Info("event", nil)
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	for _, tc := range []struct{ seq, size uint64 }{{5, 5}, {0, 6}, {6, 5}, {1 << 63, 1<<64 - 1}} {
		_, err := l.ProveInclusion(ctx, tc.seq, tc.size)
		require.ErrorIs(t, err, ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("record %d in a tree of %d records", tc.seq, tc.size))
	}
	for _, tc := range []struct{ old, new uint64 }{{3, 2}, {0, 6}, {5, 6}, {6, 6}} {
		_, err := l.ProveConsistency(ctx, tc.old, tc.new)
		require.ErrorIs(t, err, ErrOutOfRange)
		require.ErrorContains(t, err, fmt.Sprintf("from %d to %d records", tc.old, tc.new))
	}
	_, err = os.Stat(filepath.Join(l.Dir(), hashesFile))
	require.ErrorIs(t, err, os.ErrNotExist, "arguments out of range build no cache")
}

// TestProofDamagedHashes damages HASHES in every way a cache can be, with
// the logger closed and open, and checks that every proof made still
// verifies: the damage is found and the cache rebuilt.
func TestProofDamagedHashes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
	p := writeProvedLog(t, l, 37)
	_, err := l.ProveConsistency(ctx, 1, 37)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	path := filepath.Join(dir, hashesFile)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, good, 32*int(tlog.StoredHashCount(37)))

	damage := map[string]func(b []byte) []byte{
		"flip first":        func(b []byte) []byte { b[0] ^= 1; return b },
		"flip middle":       func(b []byte) []byte { b[len(b)/2] ^= 0x80; return b },
		"flip last":         func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":         func(b []byte) []byte { return b[:len(b)/2] },
		"truncated in hash": func(b []byte) []byte { return b[:len(b)-17] },
		"empty":             func(b []byte) []byte { return nil },
		"zeroed":            func(b []byte) []byte { return make([]byte, len(b)) },
		"extended":          func(b []byte) []byte { return append(b, bytes.Repeat([]byte{7}, 32*9)...) },
		"another log's":     func(b []byte) []byte { return bytes.Repeat([]byte{0xab}, len(b)) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			write := func() { require.NoError(t, os.WriteFile(path, fn(bytes.Clone(good)), 0o644)) }

			write()
			r, err := OpenReader(dir)
			require.NoError(t, err)
			checkAllProofs(t, r, p)
			require.NoError(t, r.Close())

			write()
			l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
			checkAllProofs(t, l, p)
			// Damage under the open logger too.
			write()
			checkAllProofs(t, l, p)
			require.NoError(t, l.Close())
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			if name == "extended" {
				// Bytes appended under the open logger lie beyond what
				// it holds; the next extension writes over them.
				got = got[:min(len(got), len(good))]
			}
			require.True(t, bytes.Equal(good, got), "HASHES rebuilt")
		})
	}
}

// TestProofRecordsDamaged checks that a log whose records no longer hash to
// the logger's head yields no proof, only an error.
func TestProofRecordsDamaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
	defer l.Close()
	writeProvedLog(t, l, 12)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	// Rewrite a record's payload and its frame's CRC, as an attacker with
	// the file would: the frame decodes, the leaf differs.
	seg := filepath.Join(dir, segs[0].Name)
	require.NoError(t, os.Chmod(seg, 0o644))
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	sr, err := openSegment(dir, segs[0], -1)
	require.NoError(t, err)
	fr, err := sr.Next()
	require.NoError(t, err)
	sr.Close()
	pl := fr.Offset + frameHeaderSize
	i := bytes.Index(b[pl:], []byte("event 0"))
	require.GreaterOrEqual(t, i, 0)
	b[pl+int64(i)+6] = '9'
	finishFrame(b[fr.Offset:])
	require.NoError(t, os.WriteFile(seg, b, 0o644))
	_, err = l.ProveInclusion(ctx, 0, 12)
	require.ErrorIs(t, err, ErrProof)
	require.ErrorContains(t, err, "run Verify")
	_, err = l.ProveConsistency(ctx, 3, 12)
	require.ErrorIs(t, err, ErrProof)
}

// TestProofReadsLogarithmic checks that a proof from a complete cache reads
// O(log n) stored hashes, not the log.
func TestProofReadsLogarithmic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	defer l.Close()
	for i := 0; i < 3000; i++ {
		_, err := l.Info("event", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	_, err := l.ProveInclusion(ctx, 0, 3000)
	require.NoError(t, err)
	for _, tc := range []struct{ seq, size uint64 }{{1234, 3000}, {2999, 3000}, {7, 2049}} {
		before := l.hashes.reads
		_, err = l.ProveInclusion(ctx, tc.seq, tc.size)
		require.NoError(t, err)
		require.LessOrEqual(t, l.hashes.reads-before, 100, "stored hashes read for one proof")
	}
	before := l.hashes.reads
	_, err = l.ProveConsistency(ctx, 1000, 2500)
	require.NoError(t, err)
	require.LessOrEqual(t, l.hashes.reads-before, 100)
}

// TestProofBackgroundExtension checks that once HASHES exists, sealing a
// segment extends it without a proof being asked for.
func TestProofBackgroundExtension(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
	defer l.Close()
	writeProvedLog(t, l, 3)
	_, err := l.ProveInclusion(ctx, 0, 3)
	require.NoError(t, err)
	pad := strings.Repeat("y", 900)
	for i := 0; i < 30; i++ {
		_, err := l.Info("more", Fields{"pad": pad})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	require.Eventually(t, func() bool {
		l.hashes.mu.Lock()
		defer l.hashes.mu.Unlock()
		return l.hashes.n >= 20
	}, 5e9, 1e7)
}

// TestProofsConcurrent proves and makes receipts while records are logged.
func TestProofsConcurrent(t *testing.T) {
	ctx := context.Background()
	signer, verifiers := testSigner(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize, Signer: signer, Compress: true})
	defer l.Close()
	pad := strings.Repeat("z", 300)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 400; i++ {
			if _, err := l.Info("event", Fields{"i": i, "pad": pad}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev *Checkpoint
			for k := 0; k < 25; k++ {
				size := l.Head().Size
				if size == 0 {
					continue
				}
				rc, err := l.Receipt(ctx, uint64(k*7)%size)
				if err != nil {
					errs <- err
					return
				}
				cp, err := rc.Verify(verifiers)
				if err != nil {
					errs <- err
					return
				}
				if prev != nil && prev.Size <= cp.Size {
					proof, err := l.ProveConsistency(ctx, prev.Size, cp.Size)
					if err == nil {
						err = VerifyConsistency(proof, prev.Size, cp.Size, prev.Root, cp.Root)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				prev = cp
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.False(t, errors.Is(verifyErr(l.Verify(ctx)), ErrTampered))
}
