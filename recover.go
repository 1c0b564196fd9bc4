package treeoflife

// Recovery on Open: the logger's state rebuilt from the last segment, a torn
// tail or a hole in unsynced bytes told from damage, and a damaged tail cut
// aside.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// recover rebuilds the logger's state from the last segment, repairing a
// torn tail, and checks it against the local checkpoint.
func (l *ImmutableLogger) recover(segs []segmentFile, cp *localCheckpoint) error {
	for _, s := range segs[:len(segs)-1] {
		if err := sealMode(l.dir, s); err != nil {
			return err
		}
		x, err := loadIndex(l.dir, s, l.openPayload)
		if err != nil {
			return err
		}
		l.indexes = append(l.indexes, x)
	}
	last := segs[len(segs)-1]
	sr, err := openSegment(l.dir, last, -1)
	if err != nil {
		return segmentOpenError(last, last.FirstSeq, err)
	}
	defer sr.Close()
	h := &sr.Header
	v := newVerifier(l.dir, l.logID)
	v.size, v.chain, v.frontier = h.FirstSeq, h.PrevChain, frontier{n: h.FirstSeq, hashes: h.Frontier}
	if h.LogID != l.logID {
		return &TamperError{Segment: last.Name, Seq: h.FirstSeq, Offset: 0, Reason: "segment belongs to another log (log ID mismatch)"}
	}
	if h.FirstSeq != last.FirstSeq {
		return &TamperError{Segment: last.Name, Seq: h.FirstSeq, Offset: 0, Reason: "segment file name does not match its first seq (renamed segment)"}
	}
	if cp != nil && cp.Size > h.FirstSeq {
		v.pins = []pin{cp.pin("the checkpoint in CHECKPOINT")}
	}
	sealed := last.Compressed
	if !sealed {
		fi, err := os.Stat(filepath.Join(l.dir, last.Name))
		if err != nil {
			return err
		}
		sealed = fi.Mode().Perm()&0o222 == 0
	}
	active := newSegmentIndex(h.FirstSeq, h.size())
	var tornAt int64 = -1
	hole := false
	var scratch []byte
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var fe *frameError
			if !errors.As(err, &fe) {
				return fmt.Errorf("treeoflife: read %s: %w", last.Name, err)
			}
			torn, terr := l.isTornTail(last, fe.Offset, v.size)
			if terr != nil {
				return terr
			}
			if !torn {
				// Valid records follow the damage: a hole. A power cut
				// can leave one only in bytes no fsync had made durable.
				if reason := l.holeRefused(last, fe.Offset, sealed); reason != "" {
					return &TamperError{Segment: last.Name, Seq: v.size, Offset: fe.Offset,
						Reason: "damaged frame followed by valid records: " + fe.Reason + " (" + reason + ")"}
				}
				hole = true
			}
			tornAt = fe.Offset
			break
		}
		prev := v.chain
		if err := v.record(last, &fr); err != nil {
			return err
		}
		level, t := l.payloadLevelTime(fr.Seq, fr.Payload, &scratch)
		if level == 0 {
			active.partial = true // a record it could not open
		}
		active.add(fr.Seq, fr.Offset, int64(frameHeaderSize+len(fr.Payload)), level, t, &prev)
	}
	if cp != nil && v.size < cp.Size {
		return &TamperError{Seq: v.size, Offset: -1,
			Reason: fmt.Sprintf("log ends after %d records but its checkpoint records %d (records cut off the tail)", v.size, cp.Size)}
	}
	if tornAt >= 0 && sealed {
		return &TamperError{Segment: last.Name, Seq: v.size, Offset: tornAt, Reason: "sealed segment ends in a damaged frame"}
	}
	l.size, l.chain, l.wfront = v.size, v.chain, v.frontier
	l.linked, l.wchain = l.size, l.chain
	l.linkedN.Store(l.size)
	l.segRecords = v.size - h.FirstSeq
	if tornAt >= 0 {
		if err := l.repairTail(last, tornAt, hole); err != nil {
			return err
		}
	}
	if sealed {
		// A crash after sealing but before the next segment was created.
		// The index is a cache: failing to write it (a full disk) is no
		// reason to refuse the log.
		if err := writeIndex(l.dir, active); err != nil {
			l.log.Warn("writing segment index failed; it is rebuilt on the next Open", "segment", last.Name, "err", err)
		}
		l.indexes = append(l.indexes, active)
		err := l.startFresh()
		if isNoSpace(err) {
			l.startFreshLater(last.FirstSeq, sr.Offset(), err)
			return nil
		}
		return err
	}
	l.indexes = append(l.indexes, active)
	f, err := fileutil.OpenFileNoFollow(filepath.Join(l.dir, last.Name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("treeoflife: open active segment: %w", err)
	}
	end := sr.Offset()
	if tornAt >= 0 {
		end = tornAt
	}
	l.f, l.fSeq, l.fLen = f, h.FirstSeq, end
	l.noteSealed(h.FirstSeq)
	l.segBytes, l.segCreated = end, time.Unix(0, h.Created)
	l.front = l.wfront.clone()
	l.written = writtenState{size: l.size, chain: l.chain, front: l.front, segSeq: l.fSeq, segLen: l.fLen}
	l.durable = l.written
	return nil
}

// sealMode makes a sealed segment read-only if a crash interrupted its
// sealing; it changes no byte.
func sealMode(dir string, s segmentFile) error {
	p := filepath.Join(dir, s.Name)
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o222 != 0 {
		return os.Chmod(p, 0o444)
	}
	return nil
}

// isTornTail decides whether a bad frame at off in the last segment is a torn
// write: it is if no valid frame for a later record follows it.
func (l *ImmutableLogger) isTornTail(sf segmentFile, off int64, nextSeq uint64) (bool, error) {
	rest, err := readSegmentFrom(l.dir, sf, off)
	if err != nil {
		return false, err
	}
	return !scanForFrame(rest, nextSeq-1, nextSeq > 0), nil
}

func readSegmentFrom(dir string, sf segmentFile, off int64) ([]byte, error) {
	sr, err := openSegment(dir, sf, -1)
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	if _, err := io.CopyN(io.Discard, sr.r, off-sr.Header.size()); err != nil {
		return nil, err
	}
	return io.ReadAll(sr.r)
}

// holeRefused says why damage at off in the last segment, followed by valid
// records, cannot be a power cut's hole, or "" when it can: a hole is
// repairable only in an active segment, and only at or after the offset that
// SYNCED records as fsynced (FORMAT.md, "Crash recovery").
func (l *ImmutableLogger) holeRefused(sf segmentFile, off int64, sealed bool) string {
	if sealed {
		return "the segment is sealed, and was fsynced whole"
	}
	d, ok := readSynced(l.dir, l.logID, sf.FirstSeq)
	if !ok {
		return "SYNCED does not record how much of the segment was fsynced"
	}
	if off < d {
		return fmt.Sprintf("the damage lies within the first %d bytes, which an fsync had made durable", d)
	}
	return ""
}

// repairTail keeps a copy of the damaged bytes in dir/repair/ and cuts them
// off the segment: a torn tail, or (hole) a hole in unsynced bytes and every
// record after it, which the chain cannot reach across the hole.
func (l *ImmutableLogger) repairTail(sf segmentFile, off int64, hole bool) error {
	rest, err := readSegmentFrom(l.dir, sf, off)
	if err != nil {
		return err
	}
	saved, err := cutTail(l.dir, sf, off, rest, ".torn")
	if err != nil {
		return err
	}
	n, lastSeq := validFrames(rest, l.size)
	attrs := []any{"segment", sf.Name, "offset", off, "bytes", len(rest), "saved", saved, "records", l.size}
	if n == 0 {
		l.log.Warn("repaired torn write at the end of the log", attrs...)
		return nil
	}
	attrs = append(attrs, "cut", lastSeq-l.size+1, "cutFirst", l.size, "cutLast", lastSeq, "cutIntact", n)
	if hole {
		l.log.Warn("repaired a hole a power cut left in unsynced bytes; the records from the hole on are cut", attrs...)
	} else {
		l.log.Warn("repaired torn write at the end of the log", attrs...)
	}
	return nil
}

// cutTail copies rest, the bytes of segment sf from off to its end, into
// dir/repair/ (as <segment>.<offset><ext>, numbered when that exists) and
// then cuts the segment at off. It returns the copy's path.
func cutTail(dir string, sf segmentFile, off int64, rest []byte, ext string) (string, error) {
	rdir := filepath.Join(dir, repairDir)
	if err := os.MkdirAll(rdir, 0o750); err != nil {
		return "", err
	}
	// The copy must be durable before the cut: fsync the new repair/
	// entry in the log directory too.
	if err := fileutil.SyncDir(dir); err != nil {
		return "", err
	}
	removeTemps(rdir)
	// A crash can tear the same offset again after a repair: number the
	// copies so that no earlier one is overwritten.
	saved := filepath.Join(rdir, fmt.Sprintf("%s.%d%s", sf.Name, off, ext))
	for n := 1; ; n++ {
		if _, err := os.Lstat(saved); errors.Is(err, os.ErrNotExist) {
			break
		}
		saved = filepath.Join(rdir, fmt.Sprintf("%s.%d.%d%s", sf.Name, off, n, ext))
	}
	if err := fileutil.WriteFileAtomic(saved, rest, 0o444); err != nil {
		return "", fmt.Errorf("treeoflife: save damaged tail: %w", err)
	}
	p := filepath.Join(dir, sf.Name)
	f, err := fileutil.OpenFileNoFollow(p, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return "", fmt.Errorf("treeoflife: cut damaged tail of %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return saved, nil
}
