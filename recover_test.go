package treeoflife

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// diskRecord is one record as read back from the segment files, bypassing
// the logger.
type diskRecord struct {
	Seq     uint64
	Chain   Hash
	Payload []byte
	Offset  int64
	Segment string
	ID      string
	Message string
}

// readDiskRecords reads every record of the log in dir with the segment
// reader and decodes each payload. Any framing error fails the test.
func readDiskRecords(t testing.TB, dir string) []diskRecord {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var recs []diskRecord
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err, "segment %s", sf.Name)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "segment %s", sf.Name)
			var e struct {
				ID      string `json:"id"`
				Message string `json:"message"`
				Seq     uint64 `json:"seq"`
			}
			require.NoError(t, json.Unmarshal(fr.Payload, &e), "record %d in %s", fr.Seq, sf.Name)
			require.Equal(t, fr.Seq, e.Seq, "the frame's seq and the payload's seq differ")
			recs = append(recs, diskRecord{
				Seq: fr.Seq, Chain: fr.Chain, Payload: append([]byte(nil), fr.Payload...),
				Offset: fr.Offset, Segment: sf.Name, ID: e.ID, Message: e.Message,
			})
		}
		require.NoError(t, sr.Close())
	}
	return recs
}

// frameSpan locates one frame in a segment file.
type frameSpan struct {
	Seq    uint64
	Offset int64 // of the frame header
	Len    int64 // header and payload
}

// segmentFrames returns the header size and the frames of the plain segment
// file name in dir.
func segmentFrames(t testing.TB, dir, name string) (int64, []frameSpan) {
	t.Helper()
	seq, compressed, ok := parseSegmentName(name)
	require.True(t, ok && !compressed, name)
	sr, err := openSegment(dir, segmentFile{FirstSeq: seq, Name: name}, -1)
	require.NoError(t, err)
	defer sr.Close()
	var spans []frameSpan
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		spans = append(spans, frameSpan{Seq: fr.Seq, Offset: fr.Offset, Len: int64(frameHeaderSize + len(fr.Payload))})
	}
	return sr.Header.size(), spans
}

// snapshotDir returns the contents and modes of every file under dir except
// the lock file, so a test can assert that a failed Open changed nothing.
func snapshotDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	snap := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == lockFile {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			snap[rel] = fi.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		snap[rel] = fi.Mode().String() + " " + string(b)
		return nil
	})
	require.NoError(t, err)
	return snap
}

// rewriteFile applies edit to the bytes of path, keeping its mode (the file
// may be a read-only sealed segment).
func rewriteFile(t testing.TB, path string, edit func([]byte) []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b = edit(b)
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, os.WriteFile(path, b, 0o644))
	require.NoError(t, os.Chmod(path, fi.Mode().Perm()))
}

// recoverRecordCount is how many records the test logs build: with
// MinSegmentSize segments they fill one sealed segment and part of a second.
const recoverRecordCount = 14

// buildCrashedLog writes a log of n records in two segments and leaves the
// directory as a killed process would: every record written and fsynced, but
// CHECKPOINT still as the last rotation wrote it, not as Close rewrote it. It
// returns the records and the name of the last (active) segment.
func buildCrashedLog(t testing.TB, n int) (dir string, recs []Record, last string) {
	t.Helper()
	dir = buildClosedLog(t, n, &recs)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Len(t, segs, 2, "the test log should span two segments")
	rewindCheckpoint(t, dir)
	return dir, recs, segs[1].Name
}

// rewindCheckpoint sets CHECKPOINT back to what the last rotation wrote: the
// state of the log at the start of the last segment. A killed process leaves
// it so; Close would have moved it to the end.
func rewindCheckpoint(t testing.TB, dir string) {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	sr, err := openSegment(dir, segs[len(segs)-1], -1)
	require.NoError(t, err)
	defer sr.Close()
	_, id, err := readHeader(dir)
	require.NoError(t, err)
	h := &sr.Header
	f := frontier{n: h.FirstSeq, hashes: h.Frontier}
	cp := formatCheckpoint(id, Head{Size: h.FirstSeq, Chain: h.PrevChain, Root: f.root()})
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), cp, 0o644))
}

// buildClosedLog writes n records and closes the log cleanly.
func buildClosedLog(t testing.TB, n int, recs *[]Record) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		rec, err := l.Log(context.Background(), levels[i%len(levels)], fmt.Sprintf("record %d", i),
			Fields{"i": i, "pad": strings.Repeat("x", 200+i)})
		require.NoError(t, err)
		require.Equal(t, uint64(i), rec.Seq)
		*recs = append(*recs, rec)
	}
	require.NoError(t, l.Close())
	return dir
}

// requireRecordsMatch checks that the log in dir holds exactly want, in order,
// with the chain values the logger returned.
func requireRecordsMatch(t testing.TB, dir string, want []Record) []diskRecord {
	t.Helper()
	got := readDiskRecords(t, dir)
	require.Len(t, got, len(want))
	for i, r := range want {
		require.Equal(t, r.Seq, got[i].Seq)
		require.Equal(t, r.ID, got[i].ID, "record %d", i)
		require.Equal(t, r.Hash, got[i].Chain, "record %d", i)
	}
	return got
}

// repairFiles lists dir/repair, or nil if it does not exist.
func repairFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, repairDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	files := make(map[string][]byte)
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, repairDir, de.Name()))
		require.NoError(t, err)
		files[de.Name()] = b
	}
	return files
}

// TestRecoverTornTail damages the end of the active segment the ways a crash
// can (a write cut short anywhere, a zeroed or garbage sector after the last
// frame) and checks that Open cuts off exactly the damaged bytes, keeps a copy
// of them, and continues the chain.
func TestRecoverTornTail(t *testing.T) {
	garbage := make([]byte, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	// Each case edits the active segment given its frames and reports how
	// many of its frames survive (keep) and where the file must be cut (at);
	// at == len(file) means nothing needs repair.
	tests := []struct {
		name string
		edit func(b []byte, fr []frameSpan) (nb []byte, keep int, at int64)
	}{
		{"cut in the last frame's payload", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset+frameHeaderSize+(lf.Len-frameHeaderSize)/2], len(fr) - 1, lf.Offset
		}},
		{"cut one byte short of the end", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			return b[:len(b)-1], len(fr) - 1, fr[len(fr)-1].Offset
		}},
		{"cut in the last frame's header", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset+20], len(fr) - 1, lf.Offset
		}},
		{"cut after the last frame's first byte", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset+1], len(fr) - 1, lf.Offset
		}},
		{"cut exactly at a frame boundary", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset], len(fr) - 1, lf.Offset
		}},
		{"intact", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			return b, len(fr), int64(len(b))
		}},
		{"zeroed sector after the last frame", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			return append(b, make([]byte, 512)...), len(fr), int64(len(b))
		}},
		{"a few zero bytes after the last frame", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			return append(b, make([]byte, 7)...), len(fr), int64(len(b))
		}},
		{"garbage after the last frame", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			return append(b, garbage...), len(fr), int64(len(b))
		}},
		{"last frame's end zeroed", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			clear(b[lf.Offset+frameHeaderSize+10:])
			return b, len(fr) - 1, lf.Offset
		}},
		{"last frame zeroed and followed by zeros", func(b []byte, fr []frameSpan) ([]byte, int, int64) {
			lf := fr[len(fr)-1]
			clear(b[lf.Offset:])
			return append(b, make([]byte, 4096)...), len(fr) - 1, lf.Offset
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir, recs, last := buildCrashedLog(t, recoverRecordCount)
			path := filepath.Join(dir, last)
			_, frames := segmentFrames(t, dir, last)
			require.GreaterOrEqual(t, len(frames), 4)
			orig, err := os.ReadFile(path)
			require.NoError(t, err)
			damaged, keep, at := tt.edit(append([]byte(nil), orig...), frames)
			require.NoError(t, os.WriteFile(path, damaged, 0o644))
			survivors := len(recs) - len(frames) + keep

			l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
			require.NoError(t, err)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, at, fi.Size(), "the active segment must be cut where the damage starts")
			rep := repairFiles(t, dir)
			if at == int64(len(damaged)) {
				assert.Empty(t, rep, "nothing to repair, nothing saved")
			} else {
				saved := fmt.Sprintf("%s.%d.torn", last, at)
				require.Len(t, rep, 1)
				require.Contains(t, rep, saved)
				assert.Equal(t, damaged[at:], rep[saved], "the repair copy holds exactly the bytes cut off")
			}
			head := l.Head()
			assert.Equal(t, uint64(survivors), head.Size)
			assert.Equal(t, recs[survivors-1].Hash, head.Chain)
			require.NoError(t, verifyErr(l.Verify(ctx)))

			rec, err := l.Log(ctx, LevelAudit, "after recovery", nil)
			require.NoError(t, err)
			assert.Equal(t, uint64(survivors), rec.Seq, "the next record takes the first free seq")
			require.NoError(t, verifyErr(l.Verify(ctx)))
			require.NoError(t, l.Close())

			got := requireRecordsMatch(t, dir, append(recs[:survivors:survivors], rec))
			assert.Equal(t, "after recovery", got[survivors].Message)
			vh, err := VerifyDir(ctx, dir)
			require.NoError(t, err)
			assert.Equal(t, uint64(survivors+1), vh.Head.Size)

			// Recovering the recovered log changes nothing more.
			before := snapshotDir(t, dir)
			l, err = Open(dir, Options{SegmentSize: MinSegmentSize})
			require.NoError(t, err)
			require.NoError(t, l.Close())
			assert.Equal(t, before, snapshotDir(t, dir))
		})
	}
}

// TestRecoverRefusesCorruption damages the log where no crash can, and checks
// that Open reports a *TamperError locating the damage and changes nothing.
func TestRecoverRefusesCorruption(t *testing.T) {
	type where struct {
		seq    uint64
		offset int64
		reason string // a substring of TamperError.Reason
	}
	tests := []struct {
		name       string
		closeClean bool // CHECKPOINT covers every record, as after Close
		edit       func(t *testing.T, b []byte, hdrSize int64, fr []frameSpan) ([]byte, where)
	}{
		{"flipped payload byte with valid frames after it", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[len(fr)/2]
			b[m.Offset+frameHeaderSize+5] ^= 0x01
			return b, where{m.Seq, m.Offset, "damaged frame followed by valid records"}
		}},
		{"flipped chain byte with valid frames after it", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[1]
			b[m.Offset+20] ^= 0x80
			return b, where{m.Seq, m.Offset, "damaged frame followed by valid records"}
		}},
		{"inflated payload length with valid frames after it", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[len(fr)/2]
			binary.BigEndian.PutUint32(b[m.Offset:], binary.BigEndian.Uint32(b[m.Offset:])+100)
			return b, where{m.Seq, m.Offset, "damaged frame followed by valid records"}
		}},
		{"zeroed frame in the middle", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[len(fr)/2]
			clear(b[m.Offset : m.Offset+m.Len])
			return b, where{m.Seq, m.Offset, "damaged frame followed by valid records"}
		}},
		{"frame deleted from the middle", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[len(fr)/2]
			return append(b[:m.Offset:m.Offset], b[m.Offset+m.Len:]...), where{m.Seq, m.Offset, "found seq"}
		}},
		{"payload rewritten with a valid checksum", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			m := fr[len(fr)/2]
			p := b[m.Offset+frameHeaderSize : m.Offset+m.Len]
			i := strings.Index(string(p), "record ")
			require.GreaterOrEqual(t, i, 0)
			p[i] = 'R'
			binary.BigEndian.PutUint32(b[m.Offset+44:], frameCRC(b[m.Offset:m.Offset+frameHeaderSize], p))
			return b, where{m.Seq, m.Offset, "chain value mismatch"}
		}},
		{"damaged segment header", false, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			b[40] ^= 0x01 // in PrevChain
			return b, where{fr[0].Seq, 0, "checksum"}
		}},
		{"segment header cut short", false, func(t *testing.T, b []byte, hdrSize int64, fr []frameSpan) ([]byte, where) {
			return b[:hdrSize-3], where{fr[0].Seq, 0, "truncated"}
		}},
		{"checkpoint beyond the end (cut at a frame boundary)", true, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset], where{lf.Seq, -1, "checkpoint records"}
		}},
		{"checkpoint beyond the end (torn last frame)", true, func(t *testing.T, b []byte, _ int64, fr []frameSpan) ([]byte, where) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset+frameHeaderSize+3], where{lf.Seq, -1, "checkpoint records"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dir, last string
			var recs []Record
			if tt.closeClean {
				dir = buildClosedLog(t, recoverRecordCount, &recs)
				segs, err := listSegments(dir)
				require.NoError(t, err)
				last = segs[len(segs)-1].Name
			} else {
				dir, recs, last = buildCrashedLog(t, recoverRecordCount)
			}
			path := filepath.Join(dir, last)
			hdrSize, frames := segmentFrames(t, dir, last)
			require.GreaterOrEqual(t, len(frames), 4)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b, want := tt.edit(t, b, hdrSize, frames)
			require.NoError(t, os.WriteFile(path, b, 0o644))
			before := snapshotDir(t, dir)

			l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
			if err == nil {
				l.Close()
			}
			var te *TamperError
			require.ErrorAs(t, err, &te)
			assert.ErrorIs(t, err, ErrTampered)
			if want.offset >= 0 {
				assert.Equal(t, last, te.Segment)
			} // else: a cut tail; its Segment is TestRecoverCutTailErrorMatchesVerify's subject
			assert.Equal(t, want.seq, te.Seq)
			assert.Equal(t, want.offset, te.Offset)
			assert.Contains(t, te.Reason, want.reason)
			assert.Equal(t, before, snapshotDir(t, dir), "a refused Open must not change the log")
			assert.Empty(t, repairFiles(t, dir))

			// The failed Open released the lock: a second attempt gets the
			// same answer, not ErrLocked.
			_, err2 := Open(dir, Options{SegmentSize: MinSegmentSize})
			require.ErrorAs(t, err2, &te)
			assert.Equal(t, want.seq, te.Seq)
			assert.Equal(t, before, snapshotDir(t, dir))
		})
	}
}

// TestRecoverSealedSegmentDamage damages a sealed segment. Open reads only
// the last segment, so it succeeds, but Verify and VerifyDir must locate the
// damage, and nothing may be "repaired".
func TestRecoverSealedSegmentDamage(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(t *testing.T, b []byte, fr []frameSpan) ([]byte, frameSpan)
		reason string
	}{
		{"flipped payload byte", func(t *testing.T, b []byte, fr []frameSpan) ([]byte, frameSpan) {
			m := fr[3]
			b[m.Offset+m.Len-3] ^= 0x04
			return b, m
		}, "checksum mismatch"},
		{"payload rewritten with a valid checksum", func(t *testing.T, b []byte, fr []frameSpan) ([]byte, frameSpan) {
			m := fr[2]
			p := b[m.Offset+frameHeaderSize : m.Offset+m.Len]
			i := strings.Index(string(p), `"record `)
			require.GreaterOrEqual(t, i, 0)
			p[i+1] = 'R'
			binary.BigEndian.PutUint32(b[m.Offset+44:], frameCRC(b[m.Offset:m.Offset+frameHeaderSize], p))
			return b, m
		}, "chain value mismatch"},
		{"last frame cut short", func(t *testing.T, b []byte, fr []frameSpan) ([]byte, frameSpan) {
			lf := fr[len(fr)-1]
			return b[:lf.Offset+lf.Len-1], lf
		}, "cut short"},
		{"last frame removed", func(t *testing.T, b []byte, fr []frameSpan) ([]byte, frameSpan) {
			lf := fr[len(fr)-1]
			// The damage shows at the next segment, whose header expects
			// the removed record.
			return b[:lf.Offset], frameSpan{Seq: lf.Seq, Offset: 0}
		}, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir, recs, last := buildCrashedLog(t, recoverRecordCount)
			segs, err := listSegments(dir)
			require.NoError(t, err)
			sealed := segs[0].Name
			_, frames := segmentFrames(t, dir, sealed)
			require.GreaterOrEqual(t, len(frames), 4)
			var at frameSpan
			rewriteFile(t, filepath.Join(dir, sealed), func(b []byte) []byte {
				b, at = tt.edit(t, b, frames)
				return b
			})
			wantSegment := sealed
			if at.Offset == 0 {
				wantSegment = last
			}
			before := snapshotDir(t, dir)

			l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
			require.NoError(t, err, "Open reads only the last segment")
			assert.Equal(t, uint64(len(recs)), l.Head().Size)
			for _, verr := range []error{verifyErr(l.Verify(ctx)), func() error { _, err := VerifyDir(ctx, dir); return err }()} {
				var te *TamperError
				require.ErrorAs(t, verr, &te)
				assert.Equal(t, wantSegment, te.Segment)
				assert.Equal(t, at.Seq, te.Seq)
				assert.Equal(t, at.Offset, te.Offset)
				assert.Contains(t, te.Reason, tt.reason)
			}
			require.NoError(t, l.Close())
			after := snapshotDir(t, dir)
			assert.Equal(t, before[sealed], after[sealed], "a sealed segment is never repaired")
			assert.Empty(t, repairFiles(t, dir))
		})
	}
}

// TestRecoverSealedLastSegment simulates a crash between sealing the active
// segment and creating its successor: Open must start the next segment.
func TestRecoverSealedLastSegment(t *testing.T) {
	ctx := context.Background()
	dir, recs, last := buildCrashedLog(t, recoverRecordCount)
	require.NoError(t, os.Chmod(filepath.Join(dir, last), 0o444))
	// The crash came while the successor's header was being written.
	next := segmentName(uint64(len(recs)))
	require.NoError(t, os.WriteFile(filepath.Join(dir, next+".tmp"), []byte(segmentMagic), 0o644))

	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, next+".tmp"))
	fi, err := os.Stat(filepath.Join(dir, next))
	require.NoError(t, err, "Open creates the next segment")
	assert.NotZero(t, fi.Mode().Perm()&0o200, "the new segment is writable")
	require.NoError(t, verifyErr(l.Verify(ctx)))
	rec, err := l.Log(ctx, LevelInfo, "continued", nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(len(recs)), rec.Seq)
	require.NoError(t, l.Close())

	got := requireRecordsMatch(t, dir, append(recs, rec))
	assert.Equal(t, next, got[len(recs)].Segment)
	vh, err := VerifyDir(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(len(recs)+1), vh.Head.Size)
}

// TestRecoverSealedLastSegmentTorn: a sealed segment was complete when it
// was sealed, so a damaged end is tampering even in the last segment.
func TestRecoverSealedLastSegmentTorn(t *testing.T) {
	dir, _, last := buildCrashedLog(t, recoverRecordCount)
	_, frames := segmentFrames(t, dir, last)
	lf := frames[len(frames)-1]
	require.NoError(t, os.Truncate(filepath.Join(dir, last), lf.Offset+10))
	require.NoError(t, os.Chmod(filepath.Join(dir, last), 0o444))
	before := snapshotDir(t, dir)

	_, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	var te *TamperError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, last, te.Segment)
	assert.Equal(t, lf.Seq, te.Seq)
	assert.Equal(t, lf.Offset, te.Offset)
	assert.Equal(t, before, snapshotDir(t, dir))
	assert.Empty(t, repairFiles(t, dir))
}

// TestRecoverTidiesDirectory: Open removes the temporary files a crash can
// leave and makes every segment but the last read-only.
func TestRecoverTidiesDirectory(t *testing.T) {
	ctx := context.Background()
	dir, recs, last := buildCrashedLog(t, recoverRecordCount)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	temps := []string{
		checkpointFile + ".tmp",
		segmentName(uint64(len(recs))) + ".tmp",
		strings.TrimSuffix(segs[0].Name, segmentExt) + compressedExt + ".tmp",
	}
	for _, name := range temps {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("half-written"), 0o644))
	}
	require.NoError(t, os.Chmod(filepath.Join(dir, segs[0].Name), 0o644))

	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	for _, name := range temps {
		assert.NoFileExists(t, filepath.Join(dir, name))
	}
	fi, err := os.Stat(filepath.Join(dir, segs[0].Name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm(), "a non-last segment is sealed")
	fi, err = os.Stat(filepath.Join(dir, last))
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode().Perm()&0o200, "the last segment stays writable")
	require.NoError(t, verifyErr(l.Verify(ctx)))
	require.NoError(t, l.Close())
	requireRecordsMatch(t, dir, recs)
}

// TestRecoverWriteFailure makes the active segment's writes or fsyncs fail
// (its file is swapped for a pipe) and checks that the logger fails closed:
// the record is not acknowledged, nothing more is accepted, Close reports the
// error and writes no checkpoint for records that are not on disk, and the
// log reopens with exactly the records written before the failure.
func TestRecoverWriteFailure(t *testing.T) {
	tests := []struct {
		name   string
		broken func(t *testing.T) *os.File
		reason string
	}{
		{"write fails", func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			require.NoError(t, r.Close()) // writes now fail with EPIPE
			return w
		}, "write"},
		{"fsync fails", func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			t.Cleanup(func() { r.Close() }) // writes succeed; fsync of a pipe fails
			return w
		}, "fsync"},
	}
	for _, tt := range tests {
		for _, durability := range []Durability{DurabilitySync, DurabilityBuffered} {
			t.Run(tt.name+"/"+durability.String(), func(t *testing.T) {
				ctx := context.Background()
				dir := t.TempDir()
				opts := Options{Durability: durability}
				l, err := Open(dir, opts)
				require.NoError(t, err)
				var recs []Record
				for i := 0; i < 3; i++ {
					rec, err := l.Log(ctx, LevelInfo, fmt.Sprintf("kept %d", i), nil)
					require.NoError(t, err)
					recs = append(recs, rec)
				}
				require.NoError(t, l.Sync(ctx))
				before := snapshotDir(t, dir)

				// The writer is idle (everything is written and fsynced), and
				// the next Log hands it work through the logger's lock and
				// kick channel, so the swap is ordered before its next use.
				real := l.f
				l.f = tt.broken(t)

				_, err = l.Log(ctx, LevelInfo, "lost", nil)
				if durability == DurabilitySync {
					require.Error(t, err, "a record whose write failed is not acknowledged")
					assert.Contains(t, err.Error(), tt.reason)
				} else {
					require.NoError(t, err, "a buffered record is acknowledged once queued")
				}
				err = l.Sync(ctx)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.reason)
				_, err = l.Log(ctx, LevelInfo, "refused", nil)
				require.Error(t, err, "after a failure the logger accepts nothing")
				assert.Contains(t, err.Error(), tt.reason)
				require.Error(t, verifyErr(l.Verify(ctx)))
				require.Error(t, l.Close(), "Close reports the failure")
				require.NoError(t, real.Close())
				assert.Equal(t, before, snapshotDir(t, dir), "no checkpoint for records that are not on disk")

				l, err = Open(dir, opts)
				require.NoError(t, err)
				assert.Equal(t, uint64(len(recs)), l.Head().Size)
				require.NoError(t, verifyErr(l.Verify(ctx)))
				rec, err := l.Log(ctx, LevelInfo, "after reopening", nil)
				require.NoError(t, err)
				assert.Equal(t, uint64(len(recs)), rec.Seq)
				require.NoError(t, l.Close())
				requireRecordsMatch(t, dir, append(recs, rec))
			})
		}
	}
}

// TestRecoverCutTailErrorMatchesVerify: records cut off the end of a cleanly
// closed log are reported by Open and by VerifyDir alike, and as TamperError
// documents for a missing tail: no segment, no offset.
func TestRecoverCutTailErrorMatchesVerify(t *testing.T) {
	var recs []Record
	dir := buildClosedLog(t, recoverRecordCount, &recs)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	last := segs[len(segs)-1].Name
	_, frames := segmentFrames(t, dir, last)
	lf := frames[len(frames)-1]
	require.NoError(t, os.Truncate(filepath.Join(dir, last), lf.Offset))

	_, verr := VerifyDir(context.Background(), dir)
	var vte *TamperError
	require.ErrorAs(t, verr, &vte)
	assert.Equal(t, lf.Seq, vte.Seq)
	assert.Equal(t, "", vte.Segment)
	assert.Equal(t, int64(-1), vte.Offset)

	_, oerr := Open(dir, Options{SegmentSize: MinSegmentSize})
	var ote *TamperError
	require.ErrorAs(t, oerr, &ote)
	assert.Equal(t, lf.Seq, ote.Seq)
	assert.Equal(t, int64(-1), ote.Offset)
	assert.Equal(t, "", ote.Segment, "the tail is missing, not damaged in a segment: %v", oerr)
}

// TestRecoverTornFirstRecord tears the only record of a new log (only the
// checkpoint of its creation, no record to search after): Open must fall
// back to the empty log and the first record logged after is seq 0 again.
func TestRecoverTornFirstRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	require.NoError(t, err)
	genesis := l.Head()
	created, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)
	_, err = l.Info("torn", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	// As if the process died before Close: CHECKPOINT is still the one
	// written when the log was created.
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), created, 0o644))
	name := segmentName(0)
	_, frames := segmentFrames(t, dir, name)
	require.Len(t, frames, 1)
	require.NoError(t, os.Truncate(filepath.Join(dir, name), frames[0].Offset+frameHeaderSize+1))

	l, err = Open(dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, genesis, l.Head(), "back to the empty log")
	assert.Len(t, repairFiles(t, dir), 1)
	rec, err := l.Info("first again", nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), rec.Seq)
	require.NoError(t, verifyErr(l.Verify(ctx)))
	require.NoError(t, l.Close())
	requireRecordsMatch(t, dir, []Record{rec})
}

// TestRecoverCheckpointChainMismatch: a checkpoint inside the last segment
// whose chain value differs from the records' is rewritten history.
func TestRecoverCheckpointChainMismatch(t *testing.T) {
	dir, recs, last := buildCrashedLog(t, recoverRecordCount)
	_, frames := segmentFrames(t, dir, last)
	at := frames[1].Seq
	_, id, err := readHeader(dir)
	require.NoError(t, err)
	forged := Head{Size: at + 1, Chain: Hash{0xba, 0xd0}}
	require.NotEqual(t, recs[at].Hash, forged.Chain)
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), formatCheckpoint(id, forged), 0o644))
	before := snapshotDir(t, dir)

	_, err = Open(dir, Options{SegmentSize: MinSegmentSize})
	var te *TamperError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, last, te.Segment)
	assert.Equal(t, at, te.Seq)
	assert.Equal(t, frames[1].Offset, te.Offset)
	assert.Contains(t, te.Reason, "checkpoint")
	assert.Equal(t, before, snapshotDir(t, dir))
}

// TestRecoverRepeatedTornTail tears the tail at the same offset twice, with a
// recovery in between (a crash loop): each repair must keep its own copy of
// the bytes it cut off, not overwrite the previous one.
func TestRecoverRepeatedTornTail(t *testing.T) {
	ctx := context.Background()
	dir, recs, last := buildCrashedLog(t, recoverRecordCount)
	path := filepath.Join(dir, last)
	_, frames := segmentFrames(t, dir, last)
	lf := frames[len(frames)-1]
	tear := func() []byte {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(path, lf.Offset+frameHeaderSize+5))
		return b[lf.Offset : lf.Offset+frameHeaderSize+5]
	}
	first := tear()

	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	rec, err := l.Log(ctx, LevelInfo, "written where the torn record was", nil)
	require.NoError(t, err)
	require.Equal(t, lf.Seq, rec.Seq)
	require.NoError(t, l.Close())
	rewindCheckpoint(t, dir) // the second crash, like the first, skips Close
	second := tear()
	require.NotEqual(t, first, second, "different records, different torn bytes")

	l, err = Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(t, err)
	assert.Equal(t, uint64(len(recs)-1), l.Head().Size)
	require.NoError(t, l.Close())
	saved := repairFiles(t, dir)
	var copies [][]byte
	for _, b := range saved {
		copies = append(copies, b)
	}
	assert.Len(t, saved, 2, "one copy per repair; got %v", slices.Collect(maps.Keys(saved)))
	assert.Contains(t, copies, first, "the first repair's copy is kept")
	assert.Contains(t, copies, second)
}
