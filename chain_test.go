package treeoflife

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// frameLoc is where one record's frame sits on disk.
type frameLoc struct {
	seg  segmentFile
	off  int64
	size int
	seq  uint64
}

func frameLocs(t *testing.T, dir string) []frameLoc {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var locs []frameLoc
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			locs = append(locs, frameLoc{seg: sf, off: fr.Offset, size: frameHeaderSize + len(fr.Payload), seq: fr.Seq})
		}
		sr.Close()
	}
	return locs
}

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	require.NoError(t, os.Chmod(path, 0o644))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, edit(b), 0o644))
}

// rechain rewrites the frames of one segment from index from on so that
// their chain values and checksums are consistent again, as an attacker who
// knows the format would.
func rechain(t *testing.T, dir string, sf segmentFile, prev Hash) {
	t.Helper()
	editFile(t, filepath.Join(dir, sf.Name), func(b []byte) []byte {
		h, err := readSegmentHeader(bytes.NewReader(b))
		require.NoError(t, err)
		chain := prev
		if h.FirstSeq == 0 {
			chain = h.PrevChain
		}
		for off := int(h.size()); off < len(b); {
			n := int(binary.BigEndian.Uint32(b[off:]))
			fr := b[off : off+frameHeaderSize+n]
			leaf := leafHash(fr[frameHeaderSize:])
			chain = chainHash(&chain, &leaf)
			fillFrameHeader(fr, binary.BigEndian.Uint64(fr[4:12]), &chain)
			off += len(fr)
		}
		return b
	})
}

// tamperLog writes a closed log of 60 records in three or more segments.
func tamperLog(t *testing.T) string {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 8 << 10})
	for i := 0; i < 60; i++ {
		_, err := l.Revenue("payment received", Fields{"amount": 1000 + i, "currency": "USD", "pad": "................................................................................"})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(segs), 3)
	return dir
}

func TestVerifyDetectsTampering(t *testing.T) {
	type result struct {
		segment int // index into the segments; -1 for none
		seq     func(locs []frameLoc, segs []segmentFile) uint64
		reason  string
	}
	atRecord := func(i int) func([]frameLoc, []segmentFile) uint64 {
		return func(locs []frameLoc, _ []segmentFile) uint64 { return locs[i].seq }
	}
	atSegment := func(i int) func([]frameLoc, []segmentFile) uint64 {
		return func(_ []frameLoc, segs []segmentFile) uint64 { return segs[i].FirstSeq }
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile)
		want   result
	}{
		{"flipped byte in a record", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				b[locs[3].off+frameHeaderSize+20] ^= 0x01
				return b
			})
		}, result{0, atRecord(3), "frame checksum mismatch"}},
		{"record modified, checksum fixed", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				fr := b[locs[3].off : locs[3].off+int64(locs[3].size)]
				i := bytes.Index(fr, []byte(`"amount":1003`))
				require.Positive(t, i)
				fr[i+len(`"amount":`)] = '9'
				var chain Hash
				copy(chain[:], fr[12:44])
				fillFrameHeader(fr, locs[3].seq, &chain)
				return b
			})
		}, result{0, atRecord(3), "chain value mismatch"}},
		{"record modified, rest of segment rechained", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				i := bytes.Index(b, []byte(`"amount":1003`))
				b[i+len(`"amount":`)] = '9'
				return b
			})
			rechain(t, dir, segs[0], Hash{})
		}, result{1, atSegment(1), "starting chain value does not match"}},
		{"record deleted", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				return append(b[:locs[3].off:locs[3].off], b[locs[4].off:]...)
			})
		}, result{0, atRecord(3), "found seq 4 where seq 3 belongs"}},
		{"records reordered", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				r3 := append([]byte(nil), b[locs[3].off:locs[4].off]...)
				r4 := append([]byte(nil), b[locs[4].off:locs[5].off]...)
				out := append([]byte(nil), b[:locs[3].off]...)
				out = append(append(out, r4...), r3...)
				return append(out, b[locs[5].off:]...)
			})
		}, result{0, atRecord(3), "found seq 4 where seq 3 belongs"}},
		{"record inserted", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				dup := append([]byte(nil), b[locs[2].off:locs[3].off]...)
				out := append([]byte(nil), b[:locs[3].off]...)
				out = append(out, dup...)
				return append(out, b[locs[3].off:]...)
			})
		}, result{0, atRecord(3), "found seq 2 where seq 3 belongs"}},
		{"zeroed sector", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte {
				copy(b[1024:1536], make([]byte, 512))
				return b
			})
		}, result{0, func(locs []frameLoc, _ []segmentFile) uint64 {
			for _, l := range locs {
				if l.off+int64(l.size) > 1024 {
					return l.seq
				}
			}
			return 0
		}, "damaged frame"}},
		{"middle segment deleted", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			require.NoError(t, os.Remove(filepath.Join(dir, segs[1].Name)))
		}, result{2, atSegment(1), "are missing"}},
		{"segment renamed", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			require.NoError(t, os.Rename(filepath.Join(dir, segs[1].Name), filepath.Join(dir, segmentName(segs[1].FirstSeq+1))))
		}, result{-2, atSegment(1), "renamed segment"}},
		{"last segment deleted", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			require.NoError(t, os.Remove(filepath.Join(dir, segs[len(segs)-1].Name)))
		}, result{-1, func(_ []frameLoc, segs []segmentFile) uint64 { return segs[len(segs)-1].FirstSeq }, "cut off the tail"}},
		{"tail records cut", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			last := locs[len(locs)-2]
			require.NoError(t, os.Truncate(filepath.Join(dir, last.seg.Name), last.off))
		}, result{-1, func(locs []frameLoc, _ []segmentFile) uint64 { return locs[len(locs)-2].seq }, "cut off the tail"}},
		{"segment from another log", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			other := tamperLog(t)
			osegs, err := listSegments(other)
			require.NoError(t, err)
			require.Equal(t, segs[1].FirstSeq, osegs[1].FirstSeq)
			b, err := os.ReadFile(filepath.Join(other, osegs[1].Name))
			require.NoError(t, err)
			editFile(t, filepath.Join(dir, segs[1].Name), func([]byte) []byte { return b })
		}, result{1, atSegment(1), "another log"}},
		{"foreign file as a segment", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, segs[1].Name), func([]byte) []byte { return []byte("#!/bin/sh\necho hello\n") })
		}, result{1, atSegment(1), "not a segment file"}},
		{"checkpoint edited", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			editFile(t, filepath.Join(dir, checkpointFile), func(b []byte) []byte { return bytes.Replace(b, []byte("\n60\n"), []byte("\n61\n"), 1) })
		}, result{-1, func([]frameLoc, []segmentFile) uint64 { return 60 }, "cut off the tail"}},
		{"history rewritten below the checkpoint", func(t *testing.T, dir string, locs []frameLoc, segs []segmentFile) {
			// Rewrite the last segment consistently: only the checkpoint,
			// taken at Close, can tell.
			last := segs[len(segs)-1]
			editFile(t, filepath.Join(dir, last.Name), func(b []byte) []byte {
				i := bytes.LastIndex(b, []byte(`"amount":10`))
				b[i+len(`"amount":`)] = '9'
				return b
			})
			rechain(t, dir, last, readSegmentHeaderFile(t, dir, last).PrevChain)
		}, result{-3, func(locs []frameLoc, _ []segmentFile) uint64 { return locs[len(locs)-1].seq }, "differs from the checkpoint"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := tamperLog(t)
			_, err := VerifyDir(context.Background(), dir)
			require.NoError(t, err, "intact before tampering")
			locs := frameLocs(t, dir)
			segs, err := listSegments(dir)
			require.NoError(t, err)
			c.tamper(t, dir, locs, segs)

			_, err = VerifyDir(context.Background(), dir)
			require.ErrorIs(t, err, ErrTampered)
			var te *TamperError
			require.True(t, errors.As(err, &te), "%v", err)
			require.Contains(t, te.Reason, c.want.reason)
			require.Equal(t, c.want.seq(locs, segs), te.Seq, "%v", te)
			switch c.want.segment {
			case -1:
				require.Empty(t, te.Segment, "%v", te)
			case -2:
				require.Equal(t, segmentName(segs[1].FirstSeq+1), te.Segment)
			case -3:
				require.Equal(t, segs[len(segs)-1].Name, te.Segment)
			default:
				require.Equal(t, segs[c.want.segment].Name, te.Segment)
			}
		})
	}
}

func readSegmentHeaderFile(t *testing.T, dir string, sf segmentFile) segmentHeader {
	sr, err := openSegment(dir, sf, -1)
	require.NoError(t, err)
	defer sr.Close()
	return sr.Header
}

// TestVerifyLiveLogger edits the files under an open logger: Verify reads
// the disk, not memory, and compares it with what the logger committed.
func TestVerifyLiveLogger(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	defer l.Close()
	for i := 0; i < 20; i++ {
		_, err := l.Security("token issued", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	locs := frameLocs(t, dir)
	last := locs[len(locs)-1]
	require.NoError(t, os.Truncate(filepath.Join(dir, last.seg.Name), last.off))
	_, err := l.Verify(context.Background())
	var te *TamperError
	require.ErrorAs(t, err, &te)
	require.Equal(t, uint64(19), te.Seq)
	require.Contains(t, te.Reason, "cut off the tail")
}

// TestFrontierMatchesTlog checks the logger's O(log n) Merkle state against
// golang.org/x/mod/sumdb/tlog's own tree hashing for every size up to 300.
func TestFrontierMatchesTlog(t *testing.T) {
	var f frontier
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for n := int64(0); n < 300; n++ {
		data := []byte{byte(n), byte(n >> 8), 'r'}
		hs, err := tlog.StoredHashes(n, data, reader)
		require.NoError(t, err)
		stored = append(stored, hs...)
		f.append(leafHash(data))
		want, err := tlog.TreeHash(n+1, reader)
		require.NoError(t, err)
		require.Equal(t, Hash(want), f.root(), "size %d", n+1)
	}
}

// TestFrontierAppendAll: appending leaves in batches of every size from
// frontiers of every size gives the frontier of appending them one by one.
func TestFrontierAppendAll(t *testing.T) {
	leaves := make([]Hash, 300)
	for i := range leaves {
		leaves[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	}
	var scratch frontierScratch
	for start := 0; start <= 70; start++ {
		for k := 0; k <= 70; k++ {
			var one, all frontier
			for _, h := range leaves[:start] {
				one.append(h)
				all.append(h)
			}
			for _, h := range leaves[start : start+k] {
				one.append(h)
			}
			all.appendAll(leaves[start:start+k], &scratch)
			if all.n != one.n || !slices.Equal(all.hashes, one.hashes) {
				t.Fatalf("%d leaves after %d: appendAll gives %d hashes, append %d", k, start, len(all.hashes), len(one.hashes))
			}
		}
	}
	// Many batches in a row, of random sizes, against the root.
	r := rand.New(rand.NewPCG(3, 4))
	var one, all frontier
	for i := 0; i < len(leaves); {
		k := min(r.IntN(40), len(leaves)-i)
		all.appendAll(leaves[i:i+k], &scratch)
		for _, h := range leaves[i : i+k] {
			one.append(h)
		}
		i += k
		require.Equal(t, one.root(), all.root(), "after %d leaves", i)
	}
}
