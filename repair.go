package treeoflife

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// ErrRepairRefused is matched (errors.Is) by Repair's error when the damage
// is where cutting cannot remove it without losing records that were
// durable and anchored: a sealed segment, a segment header, the records a
// CHECKPOINT covers, a file other than a segment.
var ErrRepairRefused = errors.New("treeoflife: repair refused")

// RepairReport says what Repair did. Segment is empty when there was nothing
// to repair (Open accepted the log).
type RepairReport struct {
	Segment string // the last segment, which was cut
	Offset  int64  // where it was cut: the first damaged frame
	Bytes   int64  // how many bytes were moved aside
	Saved   string // the path of their copy, under DIR/repair/
	// Records is how many records were cut, FirstSeq to LastSeq: the
	// damaged one and every one after it. 0 when no valid record followed
	// the damage.
	Records           uint64
	FirstSeq, LastSeq uint64
	Reason            string // the damage Open reported
	Entry             Record // the SYSTEM entry recording the repair
}

// Repair is the operator's way out of a log that Open refuses as damaged
// (a *TamperError) when the damage is in the records of the last segment:
// it cuts that segment at the first damaged frame, keeps a copy of every
// byte from there on in DIR/repair/ (as <segment>.<offset>.cut), reopens the
// log and records what it did in the log itself, as a SYSTEM entry (the
// segment, the offset, the records cut and their range), which
// RepairReport.Entry returns.
//
// Repair refuses (ErrRepairRefused) damage in a sealed segment or a header,
// damage to records that CHECKPOINT covers, and damage not in a segment:
// those records were durable and anchored, and only a backup can give them
// back (RestoreBackup). Repair changes nothing then.
//
// Repair is never called by Open: Open repairs, on its own, only what a
// crash can leave (FORMAT.md, "Crash recovery"). Cutting records that may
// have been tampered with is a decision for a person. opts are those Open
// takes (the key of an encrypted log, to write the entry).
func Repair(dir string, opts Options) (RepairReport, error) {
	var rep RepairReport
	l, err := openDir(dir, opts)
	if err == nil {
		return rep, l.Close()
	}
	var te *TamperError
	if !errors.As(err, &te) {
		return rep, err
	}
	rep.Reason = te.Reason
	refuse := func(why string) (RepairReport, error) {
		return RepairReport{Reason: te.Reason}, fmt.Errorf("%w: %s: %s; restore from a backup instead: %w", ErrRepairRefused, dir, why, err)
	}
	segs, lerr := listSegments(dir)
	if lerr != nil {
		return rep, lerr
	}
	if len(segs) == 0 || te.Segment != segs[len(segs)-1].Name {
		return refuse("the damage is not in the last segment")
	}
	last := segs[len(segs)-1]
	if te.Offset <= 0 {
		return refuse("the segment's header is damaged")
	}
	if last.Compressed {
		return refuse("the last segment is sealed")
	}
	if fi, serr := os.Stat(filepath.Join(dir, last.Name)); serr != nil {
		return rep, serr
	} else if fi.Mode().Perm()&0o222 == 0 {
		return refuse("the last segment is sealed, and was fsynced whole")
	}
	_, id, herr := readHeader(dir)
	if herr != nil {
		return rep, herr
	}
	cp, cerr := readCheckpoint(dir, id)
	if cerr != nil {
		return rep, cerr
	}
	if cp != nil && te.Seq < cp.Size {
		return refuse(fmt.Sprintf("record %d is covered by CHECKPOINT (%d records)", te.Seq, cp.Size))
	}

	lk, err := fileutil.LockFile(filepath.Join(dir, lockFile))
	if errors.Is(err, fileutil.ErrLocked) {
		return rep, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	if err != nil {
		return rep, fmt.Errorf("treeoflife: lock %s: %w", dir, err)
	}
	rest, err := readSegmentFrom(dir, last, te.Offset)
	if err == nil {
		rep.Saved, err = cutTail(dir, last, te.Offset, rest, ".cut")
	}
	if err == nil {
		// The segment is now durable up to the cut, and SYNCED must not
		// claim more: a hole a later power cut leaves after the cut would
		// otherwise look like damage to fsynced bytes.
		err = writeSynced(dir, id, last.FirstSeq, te.Offset)
	}
	lk.Unlock()
	if err != nil {
		return rep, fmt.Errorf("treeoflife: repair %s: %w", dir, err)
	}
	rep.Segment, rep.Offset, rep.Bytes = last.Name, te.Offset, int64(len(rest))
	if n, lastSeq := validFrames(rest, te.Seq); n > 0 {
		rep.Records, rep.FirstSeq, rep.LastSeq = lastSeq-te.Seq+1, te.Seq, lastSeq
	}

	l, err = openDir(dir, opts)
	if err != nil {
		return rep, fmt.Errorf("treeoflife: reopen %s after repair: %w", dir, err)
	}
	fields := Fields{
		"segment": rep.Segment, "offset": rep.Offset, "bytes": rep.Bytes,
		"saved":   filepath.Join(repairDir, filepath.Base(rep.Saved)),
		"records": rep.Records, "reason": rep.Reason,
	}
	if rep.Records > 0 {
		fields["firstSeq"], fields["lastSeq"] = rep.FirstSeq, rep.LastSeq
	}
	rep.Entry, err = l.System("repair: damaged tail of the last segment cut", fields)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return rep, err
}
