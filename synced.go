package treeoflife

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// The SYNCED file records how much of the active segment a completed fsync
// made durable (FORMAT.md, "Crash recovery"). Recovery uses it to tell a hole
// that a power cut left in bytes never fsynced (repaired) from damage to
// fsynced bytes (tampering).
const (
	syncedFile  = "SYNCED"
	syncedMagic = "TOLSYN01"
	// syncedSize: magic(8) logID(16) segment first seq(8) offset(8) crc32c(4).
	syncedSize = 8 + 16 + 8 + 8 + 4
)

// syncedMark is the content of SYNCED: bytes 0…Offset of segment Seq were
// fsynced before it was written.
type syncedMark struct {
	LogID  [16]byte
	Seq    uint64 // first sequence number of the segment it describes
	Offset int64
}

func (m *syncedMark) appendTo(b []byte) []byte {
	start := len(b)
	b = append(b, syncedMagic...)
	b = append(b, m.LogID[:]...)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Offset))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// readSynced returns the durable offset SYNCED records for the segment whose
// first record is seq, and whether it records one. A missing, damaged or
// foreign file, or one that describes another segment, records nothing.
func readSynced(dir string, logID [16]byte, seq uint64) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, syncedFile))
	if err != nil || len(b) != syncedSize || string(b[:8]) != syncedMagic ||
		crc32.Checksum(b[:syncedSize-4], castagnoli) != binary.BigEndian.Uint32(b[syncedSize-4:]) ||
		[16]byte(b[8:24]) != logID || binary.BigEndian.Uint64(b[24:32]) != seq {
		return 0, false
	}
	off := int64(binary.BigEndian.Uint64(b[32:40]))
	return off, off >= 0
}

// syncedWriter keeps SYNCED open for the writer, which overwrites it in place
// after each fsync of the active segment.
type syncedWriter struct {
	f   *os.File
	buf [syncedSize]byte
}

// note records that bytes 0…off of segment seq are durable. It is called
// only after the fsync that made them so returned, so that whatever a power
// cut leaves of the file (this write, or an earlier one, or none) never
// claims more than was durable. The file is not fsynced: an older value only
// makes recovery more lenient, and one pwrite per fsync costs nothing a
// caller can measure. A failure is not a write failure: SYNCED is only
// evidence, and without it recovery refuses every hole, as it did before.
func (w *syncedWriter) note(dir string, logID [16]byte, seq uint64, off int64) {
	if w.f == nil {
		// Not following a link: a symbolic link planted as SYNCED must
		// not redirect this write to another file.
		f, err := fileutil.OpenFileNoFollow(filepath.Join(dir, syncedFile), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return
		}
		w.f = f
	}
	m := syncedMark{LogID: logID, Seq: seq, Offset: off}
	w.f.WriteAt(m.appendTo(w.buf[:0]), 0)
}

func (w *syncedWriter) close() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// writeSynced replaces SYNCED durably (temporary file, fsync, rename, fsync
// of the directory): for Repair, which cuts a segment below what SYNCED
// records.
func writeSynced(dir string, logID [16]byte, seq uint64, off int64) error {
	m := syncedMark{LogID: logID, Seq: seq, Offset: off}
	return fileutil.WriteFileAtomic(filepath.Join(dir, syncedFile), m.appendTo(nil), 0o644)
}
