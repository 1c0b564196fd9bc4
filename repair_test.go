package treeoflife

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRepair damages logs the way Open refuses and checks what Repair does:
// it cuts the last segment at the first damaged frame, keeps the bytes,
// records the repair in the log, and leaves a log that opens and verifies;
// where the damage is in durable, anchored records it refuses and changes
// nothing.
func TestRepair(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) (dir string, at frameSpan, lastSeq uint64)
		// refused: Repair must refuse with ErrRepairRefused; noop: Open
		// accepts the log, and Repair does nothing.
		refused, noop bool
	}{
		{"hole in the fsynced prefix of the active segment", func(t *testing.T) (string, frameSpan, uint64) {
			img := buildPowerCutImage(t, Options{}, 60, 900)
			rewriteFile(t, filepath.Join(img.dir, img.seg), func(b []byte) []byte {
				clear(b[pageSize : 2*pageSize])
				return b
			})
			return img.dir, img.frames[frameAt(img.frames, pageSize)], img.frames[len(img.frames)-1].Seq
		}, false, false},
		{"flipped payload byte in the active segment", func(t *testing.T) (string, frameSpan, uint64) {
			dir, _, last := buildCrashedLog(t, recoverRecordCount)
			_, fr := segmentFrames(t, dir, last)
			m := fr[1]
			rewriteFile(t, filepath.Join(dir, last), func(b []byte) []byte { b[m.Offset+frameHeaderSize+5] ^= 1; return b })
			return dir, m, fr[len(fr)-1].Seq
		}, false, false},
		{"hole in a sealed last segment", func(t *testing.T) (string, frameSpan, uint64) {
			dir, _, last := buildCrashedLog(t, recoverRecordCount)
			_, fr := segmentFrames(t, dir, last)
			rewriteFile(t, filepath.Join(dir, last), func(b []byte) []byte {
				clear(b[fr[1].Offset : fr[1].Offset+fr[1].Len])
				return b
			})
			require.NoError(t, os.Chmod(filepath.Join(dir, last), 0o444))
			return dir, fr[1], 0
		}, true, false},
		{"records covered by CHECKPOINT", func(t *testing.T) (string, frameSpan, uint64) {
			var recs []Record
			dir := buildClosedLog(t, recoverRecordCount, &recs)
			segs, err := listSegments(dir)
			require.NoError(t, err)
			last := segs[len(segs)-1].Name
			_, fr := segmentFrames(t, dir, last)
			rewriteFile(t, filepath.Join(dir, last), func(b []byte) []byte { b[fr[1].Offset+frameHeaderSize+5] ^= 1; return b })
			return dir, fr[1], 0
		}, true, false},
		{"damage in an earlier sealed segment (Open accepts the log)", func(t *testing.T) (string, frameSpan, uint64) {
			dir, _, _ := buildCrashedLog(t, recoverRecordCount)
			segs, err := listSegments(dir)
			require.NoError(t, err)
			_, fr := segmentFrames(t, dir, segs[0].Name)
			rewriteFile(t, filepath.Join(dir, segs[0].Name), func(b []byte) []byte { b[fr[1].Offset+frameHeaderSize+5] ^= 1; return b })
			return dir, fr[1], 0
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir, at, lastSeq := tt.build(t)
			before := snapshotDir(t, dir)
			rep, err := Repair(dir, Options{})
			switch {
			case tt.refused:
				require.ErrorIs(t, err, ErrRepairRefused)
				assert.ErrorIs(t, err, ErrTampered)
				assert.Empty(t, rep.Segment)
				assert.Equal(t, before, snapshotDir(t, dir), "a refused repair changes nothing")
				return
			case tt.noop:
				require.NoError(t, err)
				assert.Empty(t, rep.Segment)
				assert.Empty(t, repairFiles(t, dir))
				after := snapshotDir(t, dir)
				for name, b := range before {
					if strings.HasSuffix(name, segmentExt) {
						assert.Equal(t, b, after[name], "Repair changes no segment")
					}
				}
				return
			}
			require.NoError(t, err)
			segs, err := listSegments(dir)
			require.NoError(t, err)
			last := segs[len(segs)-1].Name
			assert.Equal(t, last, rep.Segment)
			assert.Equal(t, at.Offset, rep.Offset)
			assert.Equal(t, at.Seq, rep.FirstSeq)
			assert.Equal(t, lastSeq, rep.LastSeq)
			assert.Equal(t, lastSeq-at.Seq+1, rep.Records)
			saved := fmt.Sprintf("%s.%d.cut", last, at.Offset)
			assert.Equal(t, filepath.Join(dir, repairDir, saved), rep.Saved)
			files := repairFiles(t, dir)
			require.Contains(t, files, saved)
			assert.Equal(t, rep.Bytes, int64(len(files[saved])))

			// The log opens and verifies, and its last entry records the
			// repair.
			vh, err := VerifyDir(ctx, dir)
			require.NoError(t, err)
			assert.Equal(t, at.Seq+1, vh.Head.Size)
			assert.Equal(t, at.Seq, rep.Entry.Seq)
			recs := readDiskRecords(t, dir)
			e := recs[len(recs)-1]
			assert.Contains(t, e.Message, "repair")
			assert.Contains(t, string(e.Payload), `"level":"SYSTEM"`)
			assert.Contains(t, string(e.Payload), fmt.Sprintf(`"firstSeq":%d`, at.Seq))
			assert.Contains(t, string(e.Payload), fmt.Sprintf(`"lastSeq":%d`, lastSeq))
			assert.Contains(t, string(e.Payload), fmt.Sprintf(`"offset":%d`, at.Offset))

			l, err := Open(dir, Options{})
			require.NoError(t, err)
			_, err = l.Info("after the repair", nil)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			_, err = VerifyDir(ctx, dir)
			require.NoError(t, err)

			// A second repair finds nothing to do.
			rep, err = Repair(dir, Options{})
			require.NoError(t, err)
			assert.Empty(t, rep.Segment)
		})
	}
}
