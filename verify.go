package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife/backup"
)

// VerifyOptions say what a verification trusts besides the files it reads.
// The zero value checks the files against themselves and the local
// CHECKPOINT, as Verify and VerifyDir do.
type VerifyOptions struct {
	// Verifiers are the public keys (NewVerifiers) whose signature makes a
	// checkpoint trusted: the log's signing keys, the current one and the
	// earlier ones after a rotation. A checkpoint signed by a key they do
	// not hold is not trusted; one whose signature by a key they hold does
	// not verify is tampering.
	Verifiers note.Verifiers

	// Anchors hold trusted checkpoints off the host: a copy an auditor
	// kept (AnchorFile), the backup (BackupAnchor), a witness
	// (witness.Client). The log must hold at least as many records as each
	// anchor's newest checkpoint and agree with it at that size. They need
	// Verifiers.
	Anchors []Anchor

	// RequireSigned fails the verification (ErrUnanchored) unless every
	// record is covered by a trusted checkpoint: the local CHECKPOINT
	// signed by one of Verifiers, or an anchor's.
	RequireSigned bool
}

// An Anchor is a place off the log's host that holds signed checkpoints of
// the log.
type Anchor interface {
	// Latest returns the newest signed checkpoint the anchor holds for the
	// log whose checkpoints start with origin, or an error wrapping
	// fs.ErrNotExist when it holds none.
	Latest(ctx context.Context, origin string) ([]byte, error)
}

// VerifyReport is what a verification found. Every Verify function and
// method returns one, with a nil error when nothing is wrong.
type VerifyReport struct {
	Head Head `json:"head"` // the verified log

	// Anchored is the size of the newest trusted checkpoint the log agrees
	// with (0 when none); the records after it, Unanchored of them, are
	// covered by no signature yet (ErrUnanchored under RequireSigned).
	Anchored   uint64 `json:"anchored"`
	Unanchored uint64 `json:"unanchored"`

	// Checkpoints lists every checkpoint compared with the log.
	Checkpoints []CheckpointReport `json:"checkpoints,omitempty"`

	// Redundant lists, for a backup (VerifyBackup, VerifyBackupWith and
	// ImmutableLogger.VerifyBackup), the batches that overlap the batches
	// tiling the log and hold the same frames, byte for byte (a batch
	// shipped twice with different bounds, after a failed or interrupted
	// upload). They are not tampering; one whose frames differ is.
	Redundant []string `json:"redundant,omitempty"`

	// First is the first record the local log holds: 0, or, after local
	// retention removed the oldest segments (Options.LocalRetention), the
	// record START records the log as beginning at. The records before it
	// are in the backup only; the verification started from the first
	// kept segment's header, checked against START's checkpoint.
	First uint64 `json:"first,omitempty"`

	// Backup is set by ImmutableLogger.VerifyBackup: the backup compared
	// with the local log, for the first sink (Backups[0]).
	Backup *BackupReport `json:"backup,omitempty"`

	// Backups is set by ImmutableLogger.VerifyBackup: one report per
	// backup sink, in the order of Options.Backup then Options.Backups.
	Backups []BackupReport `json:"backups,omitempty"`
}

// CheckpointReport describes one checkpoint a verification compared.
type CheckpointReport struct {
	Source  string   `json:"source"`            // "CHECKPOINT", or the anchor
	Size    uint64   `json:"size"`              // records it covers
	Trusted bool     `json:"trusted"`           // signed by one of VerifyOptions.Verifiers
	Signers []string `json:"signers,omitempty"` // the names of the verified signatures
	Missing bool     `json:"missing,omitempty"` // the anchor holds no checkpoint of this log
}

// ErrUnanchored is returned under VerifyOptions.RequireSigned when records
// are covered by no trusted checkpoint; the message gives their range.
var ErrUnanchored = errors.New("treeoflife: records not covered by a signed checkpoint")

// VerifyWith verifies the log as Verify does and also against the trusted
// checkpoints opts names, and reports how much of it they cover.
//
// On a full disk (ErrDiskFull) it verifies the records written so far; those
// held back until there is space are not checked.
func (l *ImmutableLogger) VerifyWith(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	if !l.live() {
		return VerifyReport{}, ErrClosed
	}
	if err := l.Sync(ctx); err != nil && !errors.Is(err, ErrDiskFull) {
		return VerifyReport{}, err
	}
	// The limit is taken after CHECKPOINT and the anchors are read: every
	// checkpoint counts records that were durable, hence written, then.
	start := time.Now()
	l.cutMu.RLock()
	defer l.cutMu.RUnlock()
	rep, err := verifyLocal(ctx, l.dir, func() (*verifyLimit, error) {
		l.mu.Lock()
		w := l.written
		l.mu.Unlock()
		return &verifyLimit{Head: Head{Size: w.size, Chain: w.chain, Root: w.front.root()}, SegmentSeq: w.segSeq, SegmentLen: w.segLen}, nil
	}, opts)
	l.noteVerify(start, rep.Head.Size, true, err) // LastVerify, AlertTamper
	return rep, err
}

// VerifyDirWith verifies the log in dir as VerifyDir does and also against
// the trusted checkpoints opts names: the check an auditor runs on a copy,
// with the log's public key and the anchors they trust.
func VerifyDirWith(ctx context.Context, dir string, opts VerifyOptions) (VerifyReport, error) {
	return verifyLocal(ctx, dir, nil, opts)
}

// verifyLocal verifies the log in dir against its CHECKPOINT and the
// anchors. limit, when set, is called after CHECKPOINT has been read and
// bounds what is verified (a log being written).
func verifyLocal(ctx context.Context, dir string, limit func() (*verifyLimit, error), opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	if len(opts.Anchors) > 0 && opts.Verifiers == nil {
		return rep, fmt.Errorf("%w: VerifyOptions.Anchors need Verifiers: an anchor's checkpoint is trusted for its signature", ErrInvalidOptions)
	}
	if opts.RequireSigned && opts.Verifiers == nil {
		return rep, fmt.Errorf("%w: VerifyOptions.RequireSigned needs Verifiers", ErrInvalidOptions)
	}
	hdr, id, raw, err := readHeaderRaw(dir)
	if err != nil {
		return rep, fmt.Errorf("treeoflife: %s: %w", dir, err)
	}
	segs, st, err := listKept(dir, &id)
	if err != nil {
		return rep, err
	}
	cp, err := readCheckpoint(dir, id)
	if err != nil {
		return rep, err
	}
	if err := checkCheckpointHeader(cp, headerDigest(raw), len(segs) > 0); err != nil {
		// A live writer replacing HEADER (key rotation) records the new
		// HEADER's hash in CHECKPOINT before it renames HEADER.new over
		// HEADER (rewriteHeader): read what is there now. A log at rest
		// (limit nil: a copy, an auditor's) gets no such allowance.
		if limit == nil || !headerInTransit(dir, cp) {
			return rep, err
		}
	}
	startTrusted, err := rep.addStart(st, cp, opts)
	if err != nil {
		return rep, err
	}
	var pins []pin
	if cp != nil {
		pins = append(pins, cp.pin("the checkpoint in CHECKPOINT"))
		cr := CheckpointReport{Source: "CHECKPOINT", Size: cp.Size}
		if opts.Verifiers != nil && cp.signed {
			_, n, err := OpenCheckpoint(cp.raw, opts.Verifiers)
			if err := signatureError(err, checkpointFile); err != nil {
				return rep, err
			}
			if n != nil {
				cr.Trusted, cr.Signers = true, sigNames(n.Sigs)
				rep.Anchored = cp.Size
			}
		}
		rep.Checkpoints = append(rep.Checkpoints, cr)
	}
	origin := checkpointOrigin(id)
	anchored, err := rep.addAnchors(ctx, opts, origin)
	if err != nil {
		return rep, err
	}
	pins = append(pins, anchored...)
	var lim *verifyLimit
	if limit != nil {
		if lim, err = limit(); err != nil {
			return rep, err
		}
	}
	rep.Head, err = verifyDir(ctx, dir, id, pins, lim)
	if err != nil {
		return rep, err
	}
	if cp != nil {
		// The chain is verified: now the indexes the checkpoint commits to.
		if err := verifyIndexFiles(dir, segs, cp.Indexes, hdr.Encryption != nil, st.cut()); err != nil {
			return rep, err
		}
	}
	if opts.RequireSigned && st != nil && !startTrusted {
		return rep, fmt.Errorf("%w: the checkpoint in START, which anchors the log where local retention cut it (record %d), is not signed by a trusted key", ErrUnanchored, st.First)
	}
	rep.Unanchored = rep.Head.Size - min(rep.Anchored, rep.Head.Size)
	if opts.RequireSigned && (rep.Unanchored > 0 || (cp != nil && !rep.Checkpoints[0].Trusted)) {
		if rep.Unanchored == 0 {
			return rep, fmt.Errorf("%w: CHECKPOINT is not signed by a trusted key", ErrUnanchored)
		}
		return rep, fmt.Errorf("%w: records %d to %d (%d records) follow the newest trusted checkpoint, of size %d",
			ErrUnanchored, rep.Anchored, rep.Head.Size-1, rep.Unanchored, rep.Anchored)
	}
	return rep, nil
}

// addAnchors fetches the newest checkpoint of each of opts.Anchors, adds
// them to the report, and returns them as pins.
func (rep *VerifyReport) addAnchors(ctx context.Context, opts VerifyOptions, origin string) ([]pin, error) {
	var pins []pin
	for _, a := range opts.Anchors {
		p, cr, err := anchorPin(ctx, a, origin, opts.Verifiers)
		if err != nil {
			return nil, err
		}
		rep.Checkpoints = append(rep.Checkpoints, cr)
		if !cr.Missing {
			pins = append(pins, p)
			rep.Anchored = max(rep.Anchored, cr.Size)
		}
	}
	return pins, nil
}

// anchorPin fetches an anchor's newest checkpoint of the log origin names,
// checks that one of the trusted keys signed it, and returns it as a pin.
// An anchor that holds no checkpoint of the log is reported Missing.
func anchorPin(ctx context.Context, a Anchor, origin string, known note.Verifiers) (pin, CheckpointReport, error) {
	src := anchorName(a)
	b, err := a.Latest(ctx, origin)
	if errors.Is(err, fs.ErrNotExist) {
		return pin{}, CheckpointReport{Source: src, Missing: true}, nil
	}
	if err != nil {
		return pin{}, CheckpointReport{}, fmt.Errorf("treeoflife: anchor %s: %w", src, err)
	}
	c, n, err := OpenCheckpoint(b, known)
	if err := signatureError(err, src); err != nil {
		return pin{}, CheckpointReport{}, err
	}
	if n == nil {
		return pin{}, CheckpointReport{}, &TamperError{Segment: src, Seq: 0, Offset: -1, Reason: "the anchor's checkpoint is signed by none of the trusted keys"}
	}
	if c.Origin != origin {
		return pin{}, CheckpointReport{}, &TamperError{Segment: src, Seq: 0, Offset: -1, Reason: fmt.Sprintf("the anchor's checkpoint is of another log (%s)", c.Origin)}
	}
	return c.pin(src), CheckpointReport{Source: src, Size: c.Size, Trusted: true, Signers: sigNames(n.Sigs)}, nil
}

// signatureError turns the failure of note.Open into what a verification
// reports: nil when no trusted key signed (the checkpoint is then just not
// trusted; the caller decides), a *TamperError when a trusted key's
// signature does not verify or the note is malformed.
func signatureError(err error, src string) error {
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case err == nil, errors.As(err, &unverified):
		return nil
	case errors.As(err, &invalid):
		return &TamperError{Segment: src, Seq: 0, Offset: -1, Reason: "checkpoint signature does not verify: " + invalid.Error()}
	}
	return &TamperError{Segment: src, Seq: 0, Offset: -1, Reason: "checkpoint is malformed: " + err.Error()}
}

func sigNames(sigs []note.Signature) []string {
	var names []string
	for _, s := range sigs {
		names = append(names, s.Name)
	}
	return names
}

// anchorName names an anchor in reports: its String method, or its type.
func anchorName(a Anchor) string {
	if s, ok := a.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("anchor %T", a)
}

// AnchorFile is an anchor kept in a file: a signed checkpoint an auditor
// saved earlier (treeoflife checkpoint), or one a service handed out.
type AnchorFile string

// Latest returns the file's contents; origin is checked by the verifier.
func (f AnchorFile) Latest(ctx context.Context, origin string) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("treeoflife: anchor file: %w", err)
	}
	return b, nil
}

func (f AnchorFile) String() string { return "file " + string(f) }

// BackupAnchor is the backup as an anchor: its newest checkpoint of the log
// (checkpoints/<size> under the log's backup prefix), which the logger put
// there after the batches it covers. Object Lock or retention on the bucket
// keeps a writer on the log's host from removing it.
type BackupAnchor struct {
	Sink   backup.Sink
	Prefix string // the logger's BackupPrefix
}

// Latest returns the checkpoint of the most records under the log's prefix.
func (a BackupAnchor) Latest(ctx context.Context, origin string) ([]byte, error) {
	logID := strings.TrimPrefix(origin, "treeoflife/")
	prefix := strings.Trim(a.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	prefix += logID + "/"
	var key string
	var newest uint64
	for info, err := range a.Sink.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("treeoflife: list backup checkpoints under %s: %w", prefix, err)
		}
		parts := strings.Split(strings.TrimPrefix(info.Key, prefix), "/")
		if len(parts) != 3 || parts[1] != "checkpoints" {
			continue
		}
		n, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			continue
		}
		if key == "" || n > newest {
			key, newest = info.Key, n
		}
	}
	if key == "" {
		return nil, fmt.Errorf("treeoflife: no backup checkpoint under %s: %w", prefix, fs.ErrNotExist)
	}
	return getObject(ctx, a.Sink, key)
}

func (a BackupAnchor) String() string {
	if p := strings.Trim(a.Prefix, "/"); p != "" {
		return "backup " + p
	}
	return "backup"
}

// headerInTransit reports whether cp names the HEADER that a writer is
// putting in place: HEADER.new, or HEADER as it is after the rename.
func headerInTransit(dir string, cp *localCheckpoint) bool {
	if cp == nil || cp.Legacy {
		return false
	}
	for _, name := range []string{headerNextFile, headerFile} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && headerDigest(b) == cp.Header {
			return true
		}
	}
	return false
}

// addStart checks START (a log cut by local retention) against the local
// checkpoint and the trusted keys, and records where the log begins. It
// reports whether one of opts.Verifiers signed START's checkpoint.
func (rep *VerifyReport) addStart(st *logStart, cp *localCheckpoint, opts VerifyOptions) (bool, error) {
	if st == nil {
		return false, nil
	}
	rep.First = st.First
	if cp == nil || cp.Size < st.First {
		return false, &TamperError{Segment: checkpointFile, Seq: st.First, Offset: -1,
			Reason: fmt.Sprintf("CHECKPOINT is older than the cut START records at record %d (a log is cut only after a checkpoint covers the cut)", st.First)}
	}
	trusted, err := st.checkSignature(opts.Verifiers)
	if err != nil {
		return false, err
	}
	rep.Checkpoints = append(rep.Checkpoints, CheckpointReport{Source: startFile, Size: st.First, Trusted: trusted})
	return trusted, nil
}
