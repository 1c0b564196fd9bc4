package treeoflife

// The backup side of local retention: how far the backup holds the local
// records, verified.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife/backup"
)

// backupVerified returns how far, from from up to at most to, the backup
// holds the local records and has been verified against them: the
// shipper's confirmed cursor bounds it; each batch in the range is fetched
// and compared with the local records (as VerifyBackup does); and the
// backup's newest checkpoint, which must agree with the local log, bounds
// it too, so that a checkpoint covering the cut is in the backup. Signed
// with Options.Signer when one is set.
//
// It is the one place retention asks the backup: with several sinks
// (Options.Backups), the least of them, each checked.
func (l *ImmutableLogger) backupVerified(ctx context.Context, v *readView, from, to uint64) (uint64, error) {
	if l.backups == nil || len(l.backups.sinks) == 0 {
		return from, nil
	}
	// The cursor saved in BACKUP bounds each sink too: after a crash its
	// shipper starts from that one, and checks the batches after it
	// against the local records, which must still be there.
	file, err := readBackupCursors(l.dir)
	if err != nil {
		return from, err
	}
	for _, s := range l.backups.sinks {
		saved, ok := file.Sinks[s.name]
		if !ok && file.Sinks == nil && file.Root != "" && len(l.backups.sinks) == 1 {
			saved, ok = backupCursor{Root: file.Root, Shipped: file.Shipped}, true // an older file
		}
		if !ok || saved.Root != s.root {
			return from, nil
		}
		shipped := s.status(0).Shipped
		got, err := sinkVerified(ctx, s.sink, s.root, min(shipped, saved.Shipped), v, from, to, l.opts.Signer)
		if err != nil {
			return from, err
		}
		if to = min(to, got); to <= from {
			return from, nil
		}
	}
	return to, nil
}

// sinkVerified is backupVerified for one sink, whose shipper has confirmed
// the records before shipped.
func sinkVerified(ctx context.Context, sink backup.Sink, root string, shipped uint64, v *readView, from, to uint64, signer note.Signer) (uint64, error) {
	to = min(to, shipped, v.Size)
	if to <= from {
		return from, nil
	}
	listing, err := listBackup(ctx, sink, root)
	if err != nil {
		return from, err
	}
	// The newest checkpoint the local log holds the records of.
	var cpSize uint64
	var cpKey string
	for size, key := range listing.checkpoints {
		if size <= v.Size && size >= cpSize {
			cpSize, cpKey = size, key
		}
	}
	to = min(to, cpSize)
	if to <= from {
		return from, nil
	}
	b, err := getObject(ctx, sink, cpKey)
	if err != nil {
		return from, err
	}
	c, err := parseBackupCheckpoint(v.LogID, b)
	if err != nil {
		return from, &TamperError{Segment: cpKey, Seq: cpSize, Offset: -1, Reason: "backup checkpoint is malformed: " + err.Error()}
	}
	if signer != nil && !signedBy(b, signer) {
		return from, nil // not the logger's own signed checkpoint: wait for one
	}
	var chain Hash
	if err := readFrames(v, cpSize-1, cpSize, func(fr *frame) error { chain = fr.Chain; return nil }); err != nil {
		return from, err
	}
	if chain != c.Chain {
		return from, &TamperError{Segment: cpKey, Seq: cpSize - 1, Offset: -1, Reason: "backup checkpoint's chain value differs from the local log's"}
	}
	// The batches from from on, compared with the local records.
	tiles, _ := tileBatches(listing.batches)
	next := from
	for _, r := range tiles {
		if next >= to {
			break
		}
		if r.last < next {
			continue
		}
		if r.first > next {
			break // a gap: the backup does not hold next
		}
		ok, err := verifyBatch(ctx, sink, v, r, next)
		if err != nil {
			return from, err
		}
		if !ok {
			return from, &TamperError{Segment: r.key, Seq: next, Offset: -1, Reason: "backup batch differs from the local log"}
		}
		next = min(r.last+1, v.Size)
	}
	return min(next, to), nil
}

// signedBy reports whether the signed note b carries a signature line of
// signer's name and key hash (the logger's own: the shipper puts only its
// signed checkpoints).
func signedBy(b []byte, signer note.Signer) bool {
	_, sigs, err := splitCheckpoint(b)
	if err != nil || sigs == nil {
		return false
	}
	for _, line := range strings.Split(string(sigs), "\n") {
		name, sig, ok := strings.Cut(strings.TrimPrefix(line, "\u2014 "), " ")
		if !ok || name != signer.Name() {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && len(raw) >= 4 && binary.BigEndian.Uint32(raw) == signer.KeyHash() {
			return true
		}
	}
	return false
}

// firstLocal is the first record v holds: 0, or where a cut log begins.
func (v *readView) firstLocal() uint64 {
	if len(v.Indexes) == 0 {
		return 0
	}
	return v.Indexes[0].FirstSeq
}
