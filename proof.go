package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"math"

	"golang.org/x/mod/sumdb/tlog"
)

// Proofs. An inclusion proof shows that a record is in the tree of a log's
// first treeSize records; a consistency proof that the tree of its first
// oldSize records is a prefix of the tree of its first newSize records (the
// log only grew). Both are RFC 6962 proofs over the leaf hashes of the
// records' stored bytes (FORMAT.md, "Merkle tree"), in the form of
// golang.org/x/mod/sumdb/tlog, and verify with VerifyInclusion and
// VerifyConsistency, with tlog.CheckRecord and tlog.CheckTree, or with any
// RFC 6962 verifier.
//
// Proofs are made from the HASHES cache (FORMAT.md, "HASHES"): O(log n)
// stored hashes are read, plus the records the cache does not hold yet.
// Each proof is checked before it is returned against the head computed
// from the records themselves, so a damaged cache can never yield a wrong
// proof: it is rebuilt from the segments, and if the proof still does not
// check, the error wraps ErrProof.

var (
	// ErrProof is returned (wrapped, with the reason) for a proof that
	// does not verify, and by the provers when the log's records do not
	// hash to its head.
	ErrProof = errors.New("treeoflife: proof does not verify")

	// ErrOutOfRange is returned (wrapped, naming the values) for a record
	// or tree size that the log does not hold yet.
	ErrOutOfRange = errors.New("treeoflife: out of range")
)

// ProveConsistency returns the RFC 6962 consistency proof between the trees
// of the log's first oldSize and newSize records, which must be durable:
// 0 <= oldSize <= newSize <= the durable size. It is empty when oldSize is 0
// or equals newSize. It is safe for concurrent use, alongside logging.
func (l *ImmutableLogger) ProveConsistency(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error) {
	if !l.live() {
		return nil, ErrClosed
	}
	return proveConsistency(ctx, l.hashes, l.proofSource, oldSize, newSize)
}

// ProveInclusion returns the RFC 6962 inclusion proof of record seq in the
// tree of the log's first treeSize records, which must be durable:
// seq < treeSize <= the durable size. It is safe for concurrent use,
// alongside logging.
func (l *ImmutableLogger) ProveInclusion(ctx context.Context, seq, treeSize uint64) (tlog.RecordProof, error) {
	if !l.live() {
		return nil, ErrClosed
	}
	return proveInclusion(ctx, l.hashes, l.proofSource, seq, treeSize)
}

// ProveConsistency is ImmutableLogger.ProveConsistency for the log on disk,
// up to the records the Reader sees. A Reader never writes: what HASHES
// lacks (or all of it, when it does not verify) is kept in memory, 64 bytes
// per record.
func (r *Reader) ProveConsistency(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error) {
	return proveConsistency(ctx, r.hashes, r.proofSource, oldSize, newSize)
}

// ProveInclusion is ImmutableLogger.ProveInclusion for the log on disk, up
// to the records the Reader sees.
func (r *Reader) ProveInclusion(ctx context.Context, seq, treeSize uint64) (tlog.RecordProof, error) {
	return proveInclusion(ctx, r.hashes, r.proofSource, seq, treeSize)
}

// proofSource is the durable records and their head. It works during and
// after Close: the witnesses ask for proofs while Close writes the last
// checkpoint.
func (l *ImmutableLogger) proofSource() (*readView, Head, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := &l.durable
	return l.viewLocked(*d), Head{Size: d.size, Chain: d.chain, Root: d.front.root()}, nil
}

func (r *Reader) proofSource() (*readView, Head, error) { return r.refresh() }

// VerifyInclusion checks that proof proves record seq, whose RFC 6962 leaf
// hash is leaf (tlog.RecordHash of its stored bytes), to be in the tree of
// treeSize records whose root is root. The error wraps ErrProof.
func VerifyInclusion(proof tlog.RecordProof, seq, treeSize uint64, leaf Hash, root Hash) error {
	if seq >= treeSize || treeSize > math.MaxInt64 {
		return fmt.Errorf("%w: record %d is not in a tree of %d records", ErrProof, seq, treeSize)
	}
	if err := tlog.CheckRecord(proof, int64(treeSize), tlog.Hash(root), int64(seq), tlog.Hash(leaf)); err != nil {
		return fmt.Errorf("%w: inclusion of record %d in the tree of %d records (root %s): %v", ErrProof, seq, treeSize, root, err)
	}
	return nil
}

// VerifyConsistency checks that proof proves the tree of oldSize records
// with root oldRoot to be a prefix of the tree of newSize records with root
// newRoot. The root of the empty tree may be given as 32 zero bytes (as
// Head.Root) or as EmptyRoot (as in a checkpoint); the empty tree is a
// prefix of every tree, with an empty proof. The error wraps ErrProof.
func VerifyConsistency(proof tlog.TreeProof, oldSize, newSize uint64, oldRoot, newRoot Hash) error {
	isEmpty := func(h Hash) bool { return h == Hash{} || h == EmptyRoot }
	switch {
	case oldSize > newSize || newSize > math.MaxInt64:
		return fmt.Errorf("%w: a tree of %d records cannot be a prefix of one of %d", ErrProof, oldSize, newSize)
	case oldSize == 0:
		if len(proof) != 0 || !isEmpty(oldRoot) || newSize == 0 && !isEmpty(newRoot) {
			return fmt.Errorf("%w: consistency with the empty tree takes an empty proof and the empty tree's root", ErrProof)
		}
		return nil
	case oldSize == newSize:
		if len(proof) != 0 || oldRoot != newRoot {
			return fmt.Errorf("%w: trees of the same size %d must have the same root and an empty proof", ErrProof, oldSize)
		}
		return nil
	}
	if err := tlog.CheckTree(proof, int64(newSize), tlog.Hash(newRoot), int64(oldSize), tlog.Hash(oldRoot)); err != nil {
		return fmt.Errorf("%w: consistency of the trees of %d records (root %s) and %d records (root %s): %v", ErrProof, oldSize, oldRoot, newSize, newRoot, err)
	}
	return nil
}

func proveInclusion(ctx context.Context, c *hashCache, src proofSource, seq, treeSize uint64) (tlog.RecordProof, error) {
	var p tlog.RecordProof
	err := c.prove(ctx, src, inclusionRange(seq, treeSize), seq, inclusionHashes(seq, treeSize), func(r tlog.HashReader, _ *readView, head Head) error {
		var err error
		p, err = checkedInclusion(r, head, seq, treeSize)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func proveConsistency(ctx context.Context, c *hashCache, src proofSource, oldSize, newSize uint64) (tlog.TreeProof, error) {
	var p tlog.TreeProof
	p = tlog.TreeProof{}
	check := func(head Head) (bool, error) {
		if oldSize > newSize || newSize > head.Size {
			return true, fmt.Errorf("%w: consistency from %d to %d records: need oldSize <= newSize <= %d (the durable records)",
				ErrOutOfRange, oldSize, newSize, head.Size)
		}
		return oldSize == 0 || oldSize == newSize, nil
	}
	dry := func(r tlog.HashReader, head Head) {
		tlog.TreeHash(int64(newSize), r)
		if newSize != head.Size {
			tlog.ProveTree(int64(head.Size), int64(newSize), r)
		}
		tlog.TreeHash(int64(oldSize), r)
		tlog.ProveTree(int64(newSize), int64(oldSize), r)
	}
	err := c.prove(ctx, src, check, oldSize, dry, func(r tlog.HashReader, _ *readView, head Head) error {
		newRoot, err := checkedRoot(r, head, newSize)
		if err != nil {
			return err
		}
		oldRoot, err := tlog.TreeHash(int64(oldSize), r)
		if err != nil {
			return err
		}
		if p, err = tlog.ProveTree(int64(newSize), int64(oldSize), r); err != nil {
			return err
		}
		if tlog.CheckTree(p, int64(newSize), tlog.Hash(newRoot), int64(oldSize), oldRoot) != nil {
			return errCacheMismatch
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// inclusionRange checks the arguments of an inclusion proof against the head.
func inclusionRange(seq, treeSize uint64) func(head Head) (bool, error) {
	return func(head Head) (bool, error) {
		if seq >= treeSize || treeSize > head.Size {
			return true, fmt.Errorf("%w: inclusion of record %d in a tree of %d records: need seq < treeSize <= %d (the durable records)",
				ErrOutOfRange, seq, treeSize, head.Size)
		}
		return false, nil
	}
}

// checkedInclusion returns the inclusion proof of record seq in the tree of
// treeSize records, checked against head (see checkedRoot).
func checkedInclusion(r tlog.HashReader, head Head, seq, treeSize uint64) (tlog.RecordProof, error) {
	root, err := checkedRoot(r, head, treeSize)
	if err != nil {
		return nil, err
	}
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
	if err != nil {
		return nil, err
	}
	p, err := tlog.ProveRecord(int64(treeSize), int64(seq), r)
	if err != nil {
		return nil, err
	}
	// The leaf is the cache's: a proof that checks against the true root
	// proves it is the record's (a collision otherwise).
	if tlog.CheckRecord(p, int64(treeSize), tlog.Hash(root), int64(seq), leaf[0]) != nil {
		return nil, errCacheMismatch
	}
	return p, nil
}

// checkedRoot returns the root of the first size records (1 <= size <=
// head.Size) as the cache gives it, after checking it against head: equal
// to head.Root at head.Size, and otherwise proven a prefix of it by a
// consistency proof from the cache. So a root returned is the records'
// true root, whatever the cache holds.
func checkedRoot(r tlog.HashReader, head Head, size uint64) (Hash, error) {
	th, err := tlog.TreeHash(int64(size), r)
	if err != nil {
		return Hash{}, err
	}
	if size == head.Size {
		if Hash(th) != head.Root {
			return Hash{}, errCacheMismatch
		}
		return Hash(th), nil
	}
	p, err := tlog.ProveTree(int64(head.Size), int64(size), r)
	if err != nil {
		return Hash{}, err
	}
	if tlog.CheckTree(p, int64(head.Size), tlog.Hash(head.Root), int64(size), th) != nil {
		return Hash{}, errCacheMismatch
	}
	return Hash(th), nil
}

// inclusionHashes is a dry run of checkedInclusion: it reads the hashes
// that the proof of record seq in the tree of treeSize records reads.
func inclusionHashes(seq, treeSize uint64) func(r tlog.HashReader, head Head) {
	return func(r tlog.HashReader, head Head) {
		tlog.TreeHash(int64(treeSize), r)
		if treeSize != head.Size {
			tlog.ProveTree(int64(head.Size), int64(treeSize), r)
		}
		r.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
		tlog.ProveRecord(int64(treeSize), int64(seq), r)
	}
}
