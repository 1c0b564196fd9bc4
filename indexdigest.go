package treeoflife

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
)

// Index digests (FORMAT.md, "Indexes"). An index file is a cache that
// anyone who can write the directory can replace, and Stats, Read and Query
// believe it: a forged record count per level, or a block's level mask that
// rules out a record it holds, would change what they return. A checkpoint
// therefore commits to the indexes of the sealed segments it covers:
//
//	D = SHA-256(0x04 || SHA-256(canonical(idx_0)) || … || SHA-256(canonical(idx_k-1)))
//
// where canonical(idx) is the index file as written at seal: every block's
// gzip member offset 0, CRC-32C recomputed. Compression rewrites a segment's
// index with the member offsets, and its digest does not change.

// indexDigestPrefix is the domain prefix of D (FORMAT.md, "Hashes").
const indexDigestPrefix = 0x04

// canonical returns the index's canonical bytes: marshal with every gzip
// member offset 0. keyless also zeroes what only the decrypted entries
// give (times, level counts and masks), for comparing an encrypted log's
// index with one rebuilt without its key.
func (x *segmentIndex) canonical(keyless bool) []byte {
	c := *x
	if keyless {
		c.MinTime, c.MaxTime, c.LevelCounts = 0, 0, [LevelSystem + 1]uint64{}
	}
	c.Blocks = make([]indexBlock, len(x.Blocks))
	for i, b := range x.Blocks {
		b.ZOffset = 0
		if keyless {
			b.MinTime, b.MaxTime, b.Levels = 0, 0, 0
		}
		c.Blocks[i] = b
	}
	return c.marshal()
}

// digest returns SHA-256 of the index's canonical bytes, computed once: a
// sealed segment's index does not change (compression changes only the
// member offsets, which it leaves out). The caller serialises calls on one
// index (l.mu, r.mu).
func (x *segmentIndex) digest() Hash {
	if !x.summed {
		x.sum, x.summed = sha256.Sum256(x.canonical(false)), true
	}
	return x.sum
}

// digestIndexes returns D over xs, in order.
func digestIndexes(xs []*segmentIndex) Hash {
	h := newIndexDigest()
	for _, x := range xs {
		d := x.digest()
		h.Write(d[:])
	}
	return Hash(h.Sum(nil))
}

// newIndexDigest starts an index digest: SHA-256 with its domain prefix.
func newIndexDigest() hash.Hash {
	h := sha256.New()
	h.Write([]byte{indexDigestPrefix})
	return h
}

// sealedIndexDigest returns the digest of the indexes of the sealed segments
// that lie wholly within the first size records, for a checkpoint of size
// records. It stops before an index that is partial (rebuilt without the
// key of some of its records), which would not match the true one.
func (l *ImmutableLogger) sealedIndexDigest(size uint64) IndexDigest {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	// l.indexes[i] is complete within size when the next one starts at or
	// before size, and sealed once the writer has sealed its file: an
	// appender starts the next index when it decides to rotate, before the
	// writer cuts the segment, and a checkpoint taken in between must not
	// commit to a segment a crash can leave open.
	for n+1 < len(l.indexes) && l.indexes[n+1].FirstSeq <= min(size, l.sealedTo) && !l.indexes[n].partial {
		n++
	}
	// After a cut, the digest still covers every sealed segment from the
	// first: the removed ones by the hashes START keeps.
	var cut []Hash
	if l.start != nil {
		cut = l.start.Indexes
	}
	if n+len(cut) == 0 {
		return IndexDigest{}
	}
	return IndexDigest{Segments: len(cut) + n, Digest: digestIndexHashes(cut, l.indexes[:n])}
}

// indexCheck checks sealed segments' indexes, loaded from their files,
// against a checkpoint's digest, and rebuilds from the segments those it
// cannot trust.
type indexCheck struct {
	dir string
	// rebuild builds the index of a segment from its records; complete is
	// false when it could not read every record's level and time (an
	// encrypted log without its key).
	rebuild func(sf segmentFile) (x *segmentIndex, complete bool, err error)
	log     *slog.Logger // nil: no warnings
	// cut holds the index digests of the segments local retention removed
	// (START), which the checkpoint's digest covers before sealed.
	cut []Hash
}

// run checks sealed (indexes loaded from disk, in order) against d, the
// digest of the first d.Segments of them, and checks the indexes from
// trusted on that d does not cover against their segments. An index found
// forged is replaced in sealed by the one rebuilt from its segment, or,
// when that cannot be rebuilt whole (no key), reported as a *TamperError
// naming the index file. The first trusted indexes were checked before.
//
// A checkpoint without an indexes line (written before indexes were
// committed to) makes no commitment: the indexes are used as they are, as
// they were then. An index beyond d whose segment is damaged is kept: reads
// that reach the damage report it, and so does Verify.
func (c *indexCheck) run(sealed []*segmentIndex, trusted int, d IndexDigest) error {
	k := d.Segments
	if k == 0 && trusted == 0 {
		return nil
	}
	if k > 0 && k <= len(c.cut) {
		// A checkpoint of no more than the removed segments.
		if digestIndexHashes(c.cut[:k], nil) != d.Digest {
			return &TamperError{Segment: startFile, Seq: 0, Offset: -1,
				Reason: fmt.Sprintf("the index hashes START keeps do not match the digest of the first %d segments' indexes that CHECKPOINT records", k)}
		}
		k = 0 // the kept indexes are checked against their segments below
	} else if k > 0 {
		k -= len(c.cut)
	}
	if k > len(sealed) {
		return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1,
			Reason: fmt.Sprintf("CHECKPOINT commits to the indexes of %d sealed segments, but the log has %d", k, len(sealed))}
	}
	if k > trusted && digestIndexHashes(c.cut, sealed[:k]) != d.Digest {
		var unknown []*segmentIndex
		for i := range sealed[:k] {
			ok, err := c.check(sealed, i)
			if err != nil {
				return err
			}
			if !ok {
				unknown = append(unknown, sealed[i])
			}
		}
		if digestIndexHashes(c.cut, sealed[:k]) != d.Digest {
			if len(unknown) > 0 && allPartial(unknown) {
				// Every index that could not be compared was rebuilt from
				// its segment when loaded (its file was missing or
				// damaged), without the key of some records: no file is
				// trusted, and the difference is those records' levels and
				// times, which cannot be read anyway.
				if c.log != nil {
					c.log.Warn("indexes rebuilt without the key of some records; their levels and times are unknown", "segments", len(unknown))
				}
				return nil
			}
			if len(unknown) > 0 {
				return &TamperError{Segment: indexName(unknown[0].FirstSeq), Seq: unknown[0].FirstSeq, Offset: -1,
					Reason: fmt.Sprintf("the indexes of the first %d segments do not match the digest CHECKPOINT records, and without the key %s cannot be rebuilt to be sure", k, indexName(unknown[0].FirstSeq))}
			}
			return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1,
				Reason: "the indexes line does not match the indexes rebuilt from the segments"}
		}
	}
	for i := max(k, trusted); i < len(sealed); i++ {
		if _, err := c.check(sealed, i); err != nil {
			var te *TamperError
			if !errors.As(err, &te) || te.Segment == indexName(sealed[i].FirstSeq) {
				return err
			}
			if c.log != nil {
				c.log.Warn("segment is damaged; its index cannot be checked against it", "index", indexName(sealed[i].FirstSeq), "err", err)
			}
		}
	}
	return nil
}

// check rebuilds sealed[i] from its segment and compares the two. A
// differing index is replaced by the rebuilt one, or reported when that is
// not whole. ok is false when only the parts readable without the key
// could be compared.
func (c *indexCheck) check(sealed []*segmentIndex, i int) (ok bool, err error) {
	x, err := sealed[i].loaded()
	if err != nil {
		return false, err
	}
	sf := segmentFileOf(c.dir, x.FirstSeq)
	y, complete, err := c.rebuild(sf)
	if err != nil {
		return false, err
	}
	if complete {
		if y.digest() != x.digest() {
			if c.log != nil {
				c.log.Warn("index file does not match its segment (forged?); using the index rebuilt from the segment",
					"index", indexName(x.FirstSeq), "segment", sf.Name)
			}
			sealed[i] = y
		}
		return true, nil
	}
	if !bytes.Equal(y.canonical(true), x.canonical(true)) {
		return false, &TamperError{Segment: indexName(x.FirstSeq), Seq: x.FirstSeq, Offset: -1,
			Reason: "index file does not match its segment, and without the key it cannot be rebuilt whole"}
	}
	return false, nil
}

// segmentFileOf names sealed segment firstSeq as it is on disk now.
func segmentFileOf(dir string, firstSeq uint64) segmentFile {
	sf := segmentFile{FirstSeq: firstSeq, Name: segmentName(firstSeq)}
	if _, err := statFile(dir, sf.Name); err != nil {
		sf.Name, sf.Compressed = indexNameToCompressed(firstSeq), true
	}
	return sf
}

// checkIndexes checks the logger's sealed indexes, as Open loaded them,
// against the local checkpoint.
func (l *ImmutableLogger) checkIndexes(cp *localCheckpoint) error {
	if cp == nil || (len(l.indexes) < 2 && l.start == nil) {
		return nil
	}
	c := &indexCheck{dir: l.dir, log: l.log, rebuild: func(sf segmentFile) (*segmentIndex, bool, error) {
		return buildIndexWith(l.dir, sf, -1, l.openPayload)
	}}
	if l.start != nil {
		c.cut = l.start.Indexes
	}
	return c.run(l.indexes[:len(l.indexes)-1], 0, cp.Indexes)
}

// verifyIndexFiles checks the index files of the first d.Segments segments
// of the log in dir against the digest its checkpoint records, for Verify.
// A missing or damaged index file is not a forged one (readers rebuild it);
// for an encrypted log it cannot be rebuilt without the key, and the check
// is skipped.
//
// cut holds the index digests of the segments local retention removed
// (START): the digest covers them before segs.
func verifyIndexFiles(dir string, segs []segmentFile, d IndexDigest, encrypted bool, cut []Hash) error {
	k := d.Segments
	if k == 0 {
		return nil
	}
	if k <= len(cut) {
		if digestIndexHashes(cut[:k], nil) != d.Digest {
			return &TamperError{Segment: startFile, Seq: 0, Offset: -1,
				Reason: fmt.Sprintf("the index hashes START keeps do not match the digest of the first %d segments' indexes that CHECKPOINT records", k)}
		}
		return nil
	}
	k -= len(cut)
	if k > len(segs) {
		return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1,
			Reason: fmt.Sprintf("CHECKPOINT commits to the indexes of %d sealed segments, but the log has %d segments", k, len(segs))}
	}
	xs := make([]*segmentIndex, k)
	for i, sf := range segs[:k] {
		x, err := readIndexFile(dir, sf.FirstSeq)
		if err != nil {
			if encrypted {
				return nil
			}
			if x, err = buildIndex(dir, sf, -1); err != nil {
				return err
			}
		}
		xs[i] = x
	}
	if digestIndexHashes(cut, xs) == d.Digest {
		return nil
	}
	for i, sf := range segs[:k] {
		y, err := buildIndex(dir, sf, -1)
		if err != nil {
			return err
		}
		if !bytes.Equal(y.canonical(encrypted), xs[i].canonical(encrypted)) {
			return &TamperError{Segment: indexName(sf.FirstSeq), Seq: sf.FirstSeq, Offset: -1,
				Reason: "index file does not match its segment (forged index)"}
		}
	}
	if encrypted {
		return &TamperError{Segment: indexName(segs[0].FirstSeq), Seq: 0, Offset: -1,
			Reason: fmt.Sprintf("the index files of the first %d segments do not match the digest CHECKPOINT records (forged levels or times; which file needs the key to tell)", k)}
	}
	return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1,
		Reason: "the indexes line does not match the index files, which match their segments"}
}

// readIndexFile reads and parses the index file of segment firstSeq.
func readIndexFile(dir string, firstSeq uint64) (*segmentIndex, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName(firstSeq)))
	if err != nil {
		return nil, err
	}
	x, err := unmarshalIndex(b)
	if err != nil {
		return nil, err
	}
	if x.FirstSeq != firstSeq {
		return nil, errBadIndex
	}
	return x, nil
}

// allPartial reports whether every index in xs was rebuilt in part from its
// segment rather than read from a file.
func allPartial(xs []*segmentIndex) bool {
	for _, x := range xs {
		if !x.partial {
			return false
		}
	}
	return true
}
