package tolbench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	tol "github.com/treeoflife/treeoflife"
)

// benchSigner signs the checkpoints of the signed rows. The key is made from
// a fixed seed: nothing about the benchmark is secret.
func benchSigner() (note.Signer, note.Verifiers, error) {
	skey, vkey, err := note.GenerateKey(&fixedReader{seed: sha256.Sum256([]byte("tolbench signing key"))}, "tolbench")
	if err != nil {
		return nil, nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, err
	}
	vs, err := tol.NewVerifiers(vkey)
	return s, vs, err
}

// fixedReader repeats a 32-byte seed: enough for note.GenerateKey, which
// reads one Ed25519 seed.
type fixedReader struct{ seed [32]byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.seed[i%len(r.seed)]
	}
	return len(p), nil
}

// tolBufferedSigned is RowBuffered with Options.Signer: a signed checkpoint
// of the durable records every second (DefaultCheckpointInterval), the cost
// the trust features add to logging.
func (r *runner) tolBufferedSigned(ctx context.Context) (Row, error) {
	s, _, err := benchSigner()
	if err != nil {
		return Row{}, err
	}
	dir := filepath.Join(r.dir, RowBufferedSigned)
	opts := tol.Options{Durability: tol.DurabilityBuffered, Signer: s}
	row, err := r.tolWrite(ctx, RowBufferedSigned, dir, opts, r.cfg.N, r.cfg.WritersBuffered, false)
	row.Note = fmt.Sprintf("a signed checkpoint every %v", tol.DefaultCheckpointInterval)
	return row, err
}

// tolSyncSigned is RowSync with Options.Signer.
func (r *runner) tolSyncSigned(ctx context.Context) (Row, error) {
	s, _, err := benchSigner()
	if err != nil {
		return Row{}, err
	}
	dir := filepath.Join(r.dir, RowSyncSigned)
	opts := tol.Options{Durability: tol.DurabilitySync, Signer: s}
	row, err := r.tolWrite(ctx, RowSyncSigned, dir, opts, r.cfg.NSync, r.cfg.WritersSync, true)
	row.Note = fmt.Sprintf("a signed checkpoint every %v", tol.DefaultCheckpointInterval)
	return row, err
}

// tolVerifyAnchored verifies RowBufferedSigned's log as an auditor does:
// with the public key, its signed CHECKPOINT required, and a copy of that
// checkpoint as an anchor off the host.
func (r *runner) tolVerifyAnchored(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowBufferedSigned)
	row := Row{Name: RowVerifyAnchored, Writers: 1}
	_, vs, err := benchSigner()
	if err != nil {
		return row, err
	}
	cp, err := os.ReadFile(filepath.Join(dir, "CHECKPOINT"))
	if err != nil {
		return row, err
	}
	anchor := filepath.Join(r.dir, "anchor")
	if err := os.WriteFile(anchor, cp, 0o644); err != nil {
		return row, err
	}
	m, err := r.startMeter(RowVerifyAnchored)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	rep, verr := tol.VerifyDirWith(ctx, dir, tol.VerifyOptions{Verifiers: vs, Anchors: []tol.Anchor{tol.AnchorFile(anchor)}, RequireSigned: true})
	elapsed := time.Since(t0)
	row.Entries = int(rep.Head.Size) // before stop, which divides by it
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if verr != nil {
		return row, verr
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("anchored at %d of %d records", rep.Anchored, rep.Head.Size)
	return row, diskUsage(&row, dir)
}
