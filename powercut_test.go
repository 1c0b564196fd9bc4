package treeoflife

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pageSize is the unit in which a power cut persists or loses a file's bytes.
const pageSize = 4096

// powerCutImage is a log directory as a power cut can leave it: the active
// segment holds records written after the last fsync, and durable is what
// that fsync made durable.
type powerCutImage struct {
	dir     string
	seg     string // the active segment's file name
	durable int64  // its size when the last fsync returned
	recs    []Record
	frames  []frameSpan // of the active segment
}

// copyRunningLog copies every file of a log directory but LOCK, as the disk
// holds them while the writer runs: the page cache, before any Close.
func copyRunningLog(t testing.TB, src, dst string) {
	t.Helper()
	des, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, de := range des {
		if !de.Type().IsRegular() || de.Name() == lockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		require.NoError(t, err)
		fi, err := de.Info()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, de.Name()), b, fi.Mode().Perm()))
	}
}

// buildPowerCutImage writes a Buffered log with the library: synced records
// (Sync), then more records that reach the file without an fsync (the
// FlushInterval is an hour; a full buffer is written by the appender). The
// directory is copied before Close, as the power cut found it.
func buildPowerCutImage(t testing.TB, opts Options, synced, unsynced int) powerCutImage {
	t.Helper()
	ctx := context.Background()
	src := t.TempDir()
	opts.Durability, opts.FlushInterval = DurabilityBuffered, time.Hour
	l, err := Open(src, opts)
	require.NoError(t, err)
	var img powerCutImage
	logN := func(n int) {
		for i := 0; i < n; i++ {
			rec, err := l.Log(ctx, levels[i%len(levels)], fmt.Sprintf("record %d", len(img.recs)),
				Fields{"pad": strings.Repeat("p", 300+len(img.recs)%50)})
			require.NoError(t, err)
			img.recs = append(img.recs, rec)
		}
	}
	logN(synced)
	require.NoError(t, l.Sync(ctx))
	segs, err := listSegments(src)
	require.NoError(t, err)
	img.seg = segs[len(segs)-1].Name
	fi, err := os.Stat(filepath.Join(src, img.seg))
	require.NoError(t, err)
	img.durable = fi.Size()
	_, id, err := readHeader(src)
	require.NoError(t, err)
	d, ok := readSynced(src, id, segs[len(segs)-1].FirstSeq)
	require.True(t, ok, "Sync records what it made durable in SYNCED")
	require.Equal(t, img.durable, d)

	logN(unsynced)
	// Write what is pending without an fsync, as the writer does when it
	// runs (holding wmu, as it does): the records are in the file, and
	// nothing is left for the writer to write while the directory is
	// copied. A power cut finds such bytes on disk, or not, page by page.
	l.wmu.Lock()
	l.flush(false, false)
	l.wmu.Unlock()
	l.mu.Lock()
	written := l.written.size
	l.mu.Unlock()
	require.Equal(t, uint64(len(img.recs)), written, "every record is written")
	img.dir = t.TempDir()
	copyRunningLog(t, src, img.dir)
	require.NoError(t, l.Close())

	d, ok = readSynced(img.dir, id, segs[len(segs)-1].FirstSeq)
	require.True(t, ok)
	require.Equal(t, img.durable, d, "no fsync since Sync: SYNCED is unchanged")
	_, img.frames = segmentFrames(t, img.dir, img.seg)
	last := img.frames[len(img.frames)-1]
	img.recs = img.recs[:last.Seq+1] // the rest never left the buffer
	return img
}

// frameAt returns the index of the frame holding byte off.
func frameAt(fr []frameSpan, off int64) int {
	for i, f := range fr {
		if off < f.Offset+f.Len {
			return i
		}
	}
	return len(fr)
}

// TestRecoverPowerCutHole zeroes one page of a power-cut image, the way a
// power cut persists later pages of an unsynced write before an earlier one.
// A hole after the durable offset is repaired: the records from the hole on
// are cut and kept in repair/, the repair is logged, and logging continues. A
// hole in fsynced bytes, or one that SYNCED cannot place, is tampering, and
// changes nothing.
func TestRecoverPowerCutHole(t *testing.T) {
	tests := []struct {
		name string
		// page returns the offset of the page to zero.
		page   func(img powerCutImage) int64
		edit   func(t *testing.T, img powerCutImage) // more damage, or nil
		reason string                                // "" when Open must repair
	}{
		{"page in the unsynced tail, later pages intact", func(img powerCutImage) int64 {
			return (img.durable/pageSize + 2) * pageSize
		}, nil, ""},
		{"page starting at the durable offset", func(img powerCutImage) int64 {
			return img.durable
		}, nil, ""},
		{"page holding the durable offset", func(img powerCutImage) int64 {
			return img.durable / pageSize * pageSize
		}, nil, "which an fsync had made durable"},
		{"page in the fsynced prefix", func(img powerCutImage) int64 {
			return pageSize
		}, nil, "which an fsync had made durable"},
		{"page in the unsynced tail, SYNCED missing", func(img powerCutImage) int64 {
			return (img.durable/pageSize + 2) * pageSize
		}, func(t *testing.T, img powerCutImage) {
			require.NoError(t, os.Remove(filepath.Join(img.dir, syncedFile)))
		}, "SYNCED does not record"},
		{"page in the unsynced tail, SYNCED damaged", func(img powerCutImage) int64 {
			return (img.durable/pageSize + 2) * pageSize
		}, func(t *testing.T, img powerCutImage) {
			rewriteFile(t, filepath.Join(img.dir, syncedFile), func(b []byte) []byte { b[35] ^= 1; return b })
		}, "SYNCED does not record"},
		{"page in the unsynced tail, SYNCED of another segment", func(img powerCutImage) int64 {
			return (img.durable/pageSize + 2) * pageSize
		}, func(t *testing.T, img powerCutImage) {
			_, id, err := readHeader(img.dir)
			require.NoError(t, err)
			require.NoError(t, writeSynced(img.dir, id, 7, 100))
		}, "SYNCED does not record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			img := buildPowerCutImage(t, Options{}, 60, 900)
			end := img.frames[len(img.frames)-1]
			require.Greater(t, end.Offset+end.Len, img.durable+4*pageSize, "the unsynced tail must span pages")
			path := filepath.Join(img.dir, img.seg)
			p := tt.page(img)
			rewriteFile(t, path, func(b []byte) []byte {
				require.Less(t, p+2*pageSize, int64(len(b)), "valid frames must follow the hole")
				clear(b[p : p+pageSize])
				return b
			})
			if tt.edit != nil {
				tt.edit(t, img)
			}
			damaged, err := os.ReadFile(path)
			require.NoError(t, err)
			hit := frameAt(img.frames, p)
			at := img.frames[hit]
			before := snapshotDir(t, img.dir)

			var logBuf bytes.Buffer
			opts := Options{Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))}
			l, err := Open(img.dir, opts)
			if tt.reason != "" {
				if err == nil {
					l.Close()
				}
				var te *TamperError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, img.seg, te.Segment)
				assert.Equal(t, at.Seq, te.Seq)
				assert.Equal(t, at.Offset, te.Offset)
				assert.Contains(t, te.Reason, "damaged frame followed by valid records")
				assert.Contains(t, te.Reason, tt.reason)
				assert.Equal(t, before, snapshotDir(t, img.dir), "a refused Open must not change the log")
				return
			}
			require.NoError(t, err)
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, at.Offset, fi.Size(), "the segment is cut where the hole's frame starts")
			rep := repairFiles(t, img.dir)
			require.Len(t, rep, 1)
			assert.Equal(t, damaged[at.Offset:], rep[fmt.Sprintf("%s.%d.torn", img.seg, at.Offset)])

			lastSeq := img.frames[len(img.frames)-1].Seq
			var logged struct {
				Msg       string
				Cut       uint64
				CutFirst  uint64
				CutLast   uint64
				CutIntact int
			}
			require.NoError(t, json.Unmarshal(logBuf.Bytes(), &logged), logBuf.String())
			assert.Contains(t, logged.Msg, "hole")
			assert.Equal(t, at.Seq, logged.CutFirst)
			assert.Equal(t, lastSeq, logged.CutLast)
			assert.Equal(t, lastSeq-at.Seq+1, logged.Cut)
			assert.Less(t, logged.CutIntact, int(logged.Cut), "the records in the hole are cut too")
			assert.Positive(t, logged.CutIntact)

			survivors := img.recs[:at.Seq]
			assert.Equal(t, uint64(len(survivors)), l.Head().Size)
			require.NoError(t, verifyErr(l.Verify(ctx)))
			rec, err := l.Log(ctx, LevelSystem, "after the power cut", nil)
			require.NoError(t, err)
			assert.Equal(t, at.Seq, rec.Seq)
			require.NoError(t, l.Close())
			requireRecordsMatch(t, img.dir, append(survivors[:len(survivors):len(survivors)], rec))
			vh, err := VerifyDir(ctx, img.dir)
			require.NoError(t, err)
			assert.Equal(t, at.Seq+1, vh.Head.Size)

			// Recovering the recovered log changes nothing more.
			before = snapshotDir(t, img.dir)
			l, err = Open(img.dir, Options{})
			require.NoError(t, err)
			require.NoError(t, l.Close())
			assert.Equal(t, before, snapshotDir(t, img.dir))
		})
	}
}

// TestRecoverHoleInSealedSegment: a sealed segment was fsynced whole, so a
// hole in it is tampering, whatever SYNCED says; in the last segment Open
// refuses it, in an earlier one Verify finds it.
func TestRecoverHoleInSealedSegment(t *testing.T) {
	ctx := context.Background()
	img := buildPowerCutImage(t, Options{SegmentSize: 64 << 10}, 60, 900)
	segs, err := listSegments(img.dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 2, "the image must have sealed segments")
	sealed := segs[0].Name
	_, frames := segmentFrames(t, img.dir, sealed)
	p := int64(2 * pageSize)
	hit := frames[frameAt(frames, p)]
	rewriteFile(t, filepath.Join(img.dir, sealed), func(b []byte) []byte {
		clear(b[p : p+pageSize])
		return b
	})

	t.Run("earlier segment", func(t *testing.T) {
		_, err := VerifyDir(ctx, img.dir)
		var te *TamperError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, sealed, te.Segment)
		assert.Equal(t, hit.Offset, te.Offset)
	})
	t.Run("last segment", func(t *testing.T) {
		// A crash after the first seal: the later segments never existed,
		// and SYNCED names the first segment past the hole.
		for _, s := range segs[1:] {
			require.NoError(t, os.Remove(filepath.Join(img.dir, s.Name)))
		}
		rewindCheckpoint(t, img.dir)
		_, id, err := readHeader(img.dir)
		require.NoError(t, err)
		require.NoError(t, writeSynced(img.dir, id, 0, 1))
		before := snapshotDir(t, img.dir)
		_, err = Open(img.dir, Options{SegmentSize: 64 << 10})
		var te *TamperError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, sealed, te.Segment)
		assert.Equal(t, hit.Offset, te.Offset)
		assert.Contains(t, te.Reason, "sealed")
		assert.Equal(t, before, snapshotDir(t, img.dir))
	})
}
