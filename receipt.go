package treeoflife

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Receipt proves that one record is in a log, to anyone who holds the
// log's public key (vkey) and nothing else: a service hands it to a
// customer or an auditor. It carries a signed checkpoint and the inclusion
// proof of the record in the checkpoint's tree; Verify checks both offline.
// Its JSON form is specified in FORMAT.md ("Proofs and receipts").
//
// Record is the record's stored bytes, the frame payload: the entry JSON of
// a plain log, the ciphertext of an encrypted one, so that a receipt of an
// encrypted record verifies without the key (and reveals nothing without
// it). Record may be left out, keeping LeafHash: the receipt then proves
// that some record with that leaf hash is in the log, for a holder of the
// record to match.
type Receipt struct {
	Seq        uint64 `json:"seq"`
	Record     []byte `json:"record,omitempty"` // base64 in JSON
	LeafHash   Hash   `json:"leafHash"`         // tlog.RecordHash(Record)
	Checkpoint string `json:"checkpoint"`       // signed checkpoint (C2SP signed note)
	Proof      []Hash `json:"proof"`            // inclusion proof of Seq in the checkpoint's tree
}

// ErrBadReceipt is returned (wrapped, with the reason) by ParseReceipt for a
// document that is not a well-formed receipt.
var ErrBadReceipt = errors.New("treeoflife: malformed receipt")

// Limits of ParseReceipt: a proof of a tree of up to 2^64 records has at
// most 64 hashes; the fields other than the record take well under 64 KiB.
const (
	maxProofHashes = 64
	maxReceiptSize = 64<<10 + (maxFramePayload+2)/3*4
)

// Receipt returns the receipt of record seq, against the newest stored
// checkpoint (CHECKPOINT) when it covers seq, or else a new one (as
// Checkpoint makes, so seq must have been logged). The logger must sign
// checkpoints (Options.Signer). The receipt is checked before it is
// returned: its proof verifies against the checkpoint's root.
func (l *ImmutableLogger) Receipt(ctx context.Context, seq uint64) (*Receipt, error) {
	if !l.live() {
		return nil, ErrClosed
	}
	if l.opts.Signer == nil {
		return nil, fmt.Errorf("%w: a receipt needs a signed checkpoint and Options.Signer is not set", ErrInvalidOptions)
	}
	stored := func() (*Checkpoint, []byte) {
		l.cpMu.Lock()
		defer l.cpMu.Unlock()
		return l.cpLast, l.cpSigned
	}
	cp, signed := stored()
	if cp == nil || cp.Size <= seq || !isSigned(signed) {
		if _, err := l.Checkpoint(ctx); err != nil && !errors.Is(err, ErrWitness) {
			return nil, err
		}
		cp, signed = stored()
	}
	if cp == nil || cp.Size <= seq {
		size := uint64(0)
		if cp != nil {
			size = cp.Size
		}
		return nil, fmt.Errorf("%w: record %d is not in the log's newest checkpoint (%d records)", ErrOutOfRange, seq, size)
	}
	if !isSigned(signed) {
		return nil, fmt.Errorf("%w: the stored checkpoint of %d records is not signed", ErrInvalidOptions, cp.Size)
	}
	return makeReceipt(ctx, l.hashes, l.proofSource, seq, cp, signed)
}

// Receipt returns the receipt of record seq against the log's CHECKPOINT,
// which must be signed and cover seq: a Reader never writes a checkpoint.
func (r *Reader) Receipt(ctx context.Context, seq uint64) (*Receipt, error) {
	lc, err := readCheckpoint(r.dir, r.logID)
	switch {
	case err != nil:
		return nil, err
	case lc == nil:
		return nil, fmt.Errorf("treeoflife: %s has no %s to make a receipt against", r.dir, checkpointFile)
	case !lc.signed:
		return nil, fmt.Errorf("treeoflife: %s in %s is not signed (the logger has no Options.Signer); a receipt needs a signed checkpoint", checkpointFile, r.dir)
	case lc.Size <= seq:
		return nil, fmt.Errorf("%w: record %d is not in %s, which covers %d records (a checkpoint is written at each seal and at Close)", ErrOutOfRange, seq, checkpointFile, lc.Size)
	}
	return makeReceipt(ctx, r.hashes, r.proofSource, seq, lc.Checkpoint, lc.raw)
}

// isSigned reports whether a CHECKPOINT file's bytes hold signatures.
func isSigned(b []byte) bool {
	_, sigs, err := splitCheckpoint(b)
	return err == nil && sigs != nil
}

// makeReceipt reads record seq and proves it in the tree of checkpoint cp
// (signed as signed), checking the proof against cp's root.
func makeReceipt(ctx context.Context, c *hashCache, src proofSource, seq uint64, cp *Checkpoint, signed []byte) (*Receipt, error) {
	rc := &Receipt{Seq: seq, Checkpoint: string(signed)}
	err := c.prove(ctx, src, inclusionRange(seq, cp.Size), seq, inclusionHashes(seq, cp.Size), func(r tlog.HashReader, v *readView, head Head) error {
		p, err := checkedInclusion(r, head, seq, cp.Size)
		if err != nil {
			return err
		}
		err = scanRecords(ctx, v, seq, seq+1, func(_ uint64, payload []byte) error {
			rc.Record = bytes.Clone(payload)
			return nil
		})
		if err != nil {
			return err
		}
		rc.LeafHash = leafHash(rc.Record)
		rc.Proof = make([]Hash, len(p))
		for i, h := range p {
			rc.Proof[i] = Hash(h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := VerifyInclusion(rc.proof(), seq, cp.Size, rc.LeafHash, cp.Root); err != nil {
		return nil, fmt.Errorf("%w (the checkpoint of %d records does not match the log's records: run Verify)", err, cp.Size)
	}
	return rc, nil
}

func (rc *Receipt) proof() tlog.RecordProof {
	p := make(tlog.RecordProof, len(rc.Proof))
	for i, h := range rc.Proof {
		p[i] = tlog.Hash(h)
	}
	return p
}

// ParseReceipt parses a receipt's JSON. It is strict: at most
// maxReceiptSize bytes, one object with exactly the known fields, seq,
// leafHash, checkpoint and proof present, at most 64 proof hashes, and a
// record (when present) that hashes to leafHash. It does not check the
// signature or the proof: that is Verify.
func ParseReceipt(b []byte) (*Receipt, error) {
	bad := func(why string) (*Receipt, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadReceipt, why)
	}
	if len(b) > maxReceiptSize {
		return bad(fmt.Sprintf("%d bytes, more than %d", len(b), maxReceiptSize))
	}
	var raw struct {
		Seq        *uint64 `json:"seq"`
		Record     *string `json:"record"`
		LeafHash   *Hash   `json:"leafHash"`
		Checkpoint *string `json:"checkpoint"`
		Proof      *[]Hash `json:"proof"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return bad(err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the JSON object")
	}
	switch {
	case raw.Seq == nil:
		return bad("no seq")
	case raw.LeafHash == nil:
		return bad("no leafHash")
	case raw.Checkpoint == nil || *raw.Checkpoint == "":
		return bad("no checkpoint")
	case len(*raw.Checkpoint) > maxSignedCheckpoint:
		return bad(fmt.Sprintf("checkpoint of %d bytes, more than %d", len(*raw.Checkpoint), maxSignedCheckpoint))
	case raw.Proof == nil:
		return bad("no proof")
	case len(*raw.Proof) > maxProofHashes:
		return bad(fmt.Sprintf("proof of %d hashes, more than %d", len(*raw.Proof), maxProofHashes))
	}
	rc := &Receipt{Seq: *raw.Seq, LeafHash: *raw.LeafHash, Checkpoint: *raw.Checkpoint, Proof: *raw.Proof}
	if raw.Record != nil {
		rec, err := base64.StdEncoding.Strict().DecodeString(*raw.Record)
		switch {
		case err != nil:
			return bad("record is not standard base64")
		case len(rec) == 0 || len(rec) > maxFramePayload:
			return bad(fmt.Sprintf("record of %d bytes, not 1 to %d", len(rec), maxFramePayload))
		case leafHash(rec) != rc.LeafHash:
			return bad("record does not hash to leafHash")
		}
		rc.Record = rec
	}
	return rc, nil
}

// Verify checks the receipt offline: the checkpoint is signed by a key in
// known (OpenCheckpoint; other signatures, such as witnesses' the caller
// does not know, are ignored), Seq is below its size, Record (when present)
// hashes to LeafHash, and Proof proves LeafHash at Seq in the checkpoint's
// tree. It returns the checkpoint. The errors are those of OpenCheckpoint
// (errors.As *note.UnverifiedNoteError: no known key signed it;
// ErrBadCheckpoint) and ErrProof.
func (r *Receipt) Verify(known note.Verifiers) (*Checkpoint, error) {
	cp, _, err := OpenCheckpoint([]byte(r.Checkpoint), known)
	if err != nil {
		return nil, err
	}
	if r.Seq >= cp.Size {
		return nil, fmt.Errorf("%w: record %d is not in the checkpoint's tree of %d records", ErrProof, r.Seq, cp.Size)
	}
	if r.Record != nil && leafHash(r.Record) != r.LeafHash {
		return nil, fmt.Errorf("%w: the record does not hash to the receipt's leaf hash", ErrProof)
	}
	if len(r.Proof) > maxProofHashes {
		return nil, fmt.Errorf("%w: proof of %d hashes", ErrProof, len(r.Proof))
	}
	if err := VerifyInclusion(r.proof(), r.Seq, cp.Size, r.LeafHash, cp.Root); err != nil {
		return nil, err
	}
	return cp, nil
}
