package treeoflife

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// Hash is a SHA-256 value: a record's chain value, a Merkle root. It prints
// and marshals as lower-case hex.
type Hash [32]byte

// String returns h in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("treeoflife: hash must be 64 hex digits, got %d characters", len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Domain separation of every hash in the log (FORMAT.md, "Hashes"):
// 0x00 and 0x01 are RFC 6962's leaf and node prefixes (section 2.1), used
// through golang.org/x/mod/sumdb/tlog; 0x02 links the chain; 0x03 starts it.
const (
	chainPrefix   = 0x02
	genesisPrefix = 0x03
)

// leafHash is the RFC 6962 leaf hash of a record's stored bytes:
// SHA-256(0x00 || payload).
func leafHash(payload []byte) Hash { return Hash(tlog.RecordHash(payload)) }

// chainHash links a record into the chain: SHA-256(0x02 || prev || leaf).
func chainHash(prev, leaf *Hash) Hash {
	return sha256x2.Link(chainPrefix, (*[32]byte)(prev), (*[32]byte)(leaf))
}

// genesisChain is the chain value before record 0: SHA-256(0x03 || logID).
// Starting from the log ID binds every chain value to one log.
func genesisChain(logID [16]byte) Hash {
	var b [17]byte
	b[0] = genesisPrefix
	copy(b[1:], logID[:])
	return sha256.Sum256(b[:])
}

// frontier is the right edge of an RFC 6962 Merkle tree: the roots of the
// perfect subtrees that make up a tree of n leaves, one per set bit of n,
// largest first. It is all the state needed to append a leaf and to compute
// the root, so the logger's memory does not grow with the log.
type frontier struct {
	n      uint64
	hashes []Hash
}

func (f *frontier) append(leaf Hash) {
	h := leaf
	for n := f.n; n&1 == 1; n >>= 1 {
		last := len(f.hashes) - 1
		h = nodeHash(&f.hashes[last], &h)
		f.hashes = f.hashes[:last]
	}
	f.hashes = append(f.hashes, h)
	f.n++
}

// appendAll appends leaves, as append does one by one, computing the new
// nodes level by level, two at a time (sha256x2). scratch is reused
// between calls.
func (f *frontier) appendAll(leaves []Hash, scratch *frontierScratch) {
	bufs := &scratch.bufs
	cur := append(bufs[0][:0], leaves...)
	bufs[0] = cur
	which := 0
	kept := scratch.kept[:0] // the nodes left at each level, lowest first
	for level := 0; len(cur) > 0; level++ {
		// cur are the nodes of this level from index f.n>>level on. When
		// that index is odd, the first one's left sibling is the lowest
		// node left in the frontier.
		nodes := cur
		if (f.n>>level)&1 == 1 {
			last := len(f.hashes) - 1
			which ^= 1
			nodes = append(append(bufs[which][:0], f.hashes[last]), cur...)
			bufs[which] = nodes
			f.hashes = f.hashes[:last]
		}
		kept = append(kept, nodes[len(nodes)-1]) // used when len(nodes) is odd
		// The parents, in place: parent i is written after nodes 2i and
		// 2i+1 are read.
		parents, half := nodes[:0], len(nodes)/2
		for i := 0; i < half; i += 2 {
			if i+1 == half {
				parents = append(parents, nodeHash(&nodes[2*i], &nodes[2*i+1]))
				break
			}
			var a, b [65]byte
			a[0], b[0] = nodePrefix, nodePrefix
			copy(a[1:33], nodes[2*i][:])
			copy(a[33:], nodes[2*i+1][:])
			copy(b[1:33], nodes[2*i+2][:])
			copy(b[33:], nodes[2*i+3][:])
			ha, hb := scratch.pair.Sum2(a[:], b[:])
			parents = append(parents, ha, hb)
		}
		cur = parents
	}
	// The levels processed now have a node where the new size has a bit;
	// those above are the frontier's, unchanged.
	f.n += uint64(len(leaves))
	for level := len(kept) - 1; level >= 0; level-- {
		if f.n>>level&1 == 1 {
			f.hashes = append(f.hashes, kept[level])
		}
	}
	scratch.kept = kept[:0]
}

// frontierScratch is appendAll's reusable space.
type frontierScratch struct {
	bufs [2][]Hash
	kept []Hash
	pair sha256x2.Pair
}

// root returns the RFC 6962 tree hash of the n leaves; the empty tree's root
// is 32 zero bytes, as in tlog.TreeHash.
func (f *frontier) root() Hash {
	if len(f.hashes) == 0 {
		return Hash{}
	}
	h := f.hashes[len(f.hashes)-1]
	for i := len(f.hashes) - 2; i >= 0; i-- {
		h = Hash(tlog.NodeHash(tlog.Hash(f.hashes[i]), tlog.Hash(h)))
	}
	return h
}

func (f *frontier) clone() frontier {
	return frontier{n: f.n, hashes: append([]Hash(nil), f.hashes...)}
}

// Head is the state of a log after its first Size records: the chain value of
// record Size-1 (the genesis value when Size is 0) and the RFC 6962 Merkle
// root over all Size records. Two logs with the same Head hold the same
// records; a Head published elsewhere (a checkpoint) pins the log's history.
type Head struct {
	Size  uint64 `json:"size"`
	Chain Hash   `json:"chain"`
	Root  Hash   `json:"root"`
}

// verifier checks segments in order, carrying the chain and the Merkle
// frontier from record to record in O(log n) memory.
type verifier struct {
	dir      string
	logID    [16]byte
	size     uint64 // records verified so far
	chain    Hash
	frontier frontier

	// pins are heads the log must pass through (the local checkpoint,
	// trusted checkpoints from anchors), by size; next is the first one
	// not yet reached.
	pins []pin
	next int

	// pace, when set, is called every 1,024 records: the background
	// verification pauses there to bound its CPU (verifyloop.go).
	pace func(context.Context) error
}

// A pin is a head the log must pass through: the chain value (when known)
// and the Merkle root after its first size records.
type pin struct {
	size   uint64
	chain  *Hash
	root   Hash // as Head.Root: zero for size 0
	source string
}

// checkPins compares the verifier's state with the pins of its size.
func (v *verifier) checkPins(segment string, seq uint64, off int64) error {
	for v.next < len(v.pins) && v.pins[v.next].size <= v.size {
		p := v.pins[v.next]
		v.next++
		if p.size < v.size {
			continue // before the verified range (a limited re-check)
		}
		if p.chain != nil && *p.chain != v.chain {
			return &TamperError{Segment: segment, Seq: seq, Offset: off,
				Reason: fmt.Sprintf("chain value differs from %s at size %d (history rewritten)", p.source, p.size)}
		}
		if p.root != v.frontier.root() {
			return &TamperError{Segment: segment, Seq: seq, Offset: off,
				Reason: fmt.Sprintf("Merkle root differs from %s at size %d (history rewritten, or the checkpoint's root line changed)", p.source, p.size)}
		}
	}
	return nil
}

// sortPins orders pins by size for the verifier.
func sortPins(pins []pin) []pin {
	pins = slices.Clone(pins)
	slices.SortStableFunc(pins, func(a, b pin) int { return cmp.Compare(a.size, b.size) })
	return pins
}

func newVerifier(dir string, logID [16]byte) *verifier {
	return &verifier{dir: dir, logID: logID, chain: genesisChain(logID)}
}

func (v *verifier) head() Head { return Head{Size: v.size, Chain: v.chain, Root: v.frontier.root()} }

// checkHeader compares a segment header with the state the previous segments
// ended in.
func (v *verifier) checkHeader(sf segmentFile, h *segmentHeader) error {
	fail := func(reason string) error {
		return &TamperError{Segment: sf.Name, Seq: v.size, Offset: 0, Reason: reason}
	}
	switch {
	case h.LogID != v.logID:
		return fail("segment belongs to another log (log ID mismatch)")
	case h.FirstSeq != sf.FirstSeq:
		return fail(fmt.Sprintf("segment file is named for seq %d but starts at seq %d (renamed segment)", sf.FirstSeq, h.FirstSeq))
	case h.FirstSeq > v.size:
		return fail(fmt.Sprintf("records %d to %d are missing (deleted segment?)", v.size, h.FirstSeq-1))
	case h.FirstSeq < v.size:
		return fail(fmt.Sprintf("segment starts at seq %d, which the previous segment already holds (inserted or duplicated segment)", h.FirstSeq))
	case h.PrevChain != v.chain:
		return fail("segment's starting chain value does not match the end of the previous segment")
	case len(h.Frontier) != len(v.frontier.hashes) || !equalHashes(h.Frontier, v.frontier.hashes):
		return fail("segment's Merkle frontier does not match the records before it")
	}
	return nil
}

func equalHashes(a, b []Hash) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// record checks one frame against the chain and advances it.
func (v *verifier) record(sf segmentFile, fr *frame) error {
	if fr.Seq != v.size {
		return &TamperError{Segment: sf.Name, Seq: v.size, Offset: fr.Offset,
			Reason: fmt.Sprintf("found seq %d where seq %d belongs (record inserted, deleted or reordered)", fr.Seq, v.size)}
	}
	leaf := leafHash(fr.Payload)
	chain := chainHash(&v.chain, &leaf)
	if chain != fr.Chain {
		return &TamperError{Segment: sf.Name, Seq: fr.Seq, Offset: fr.Offset,
			Reason: "chain value mismatch: the record or its predecessor was modified"}
	}
	v.chain = chain
	v.frontier.append(leaf)
	v.size++
	if v.next < len(v.pins) && v.pins[v.next].size <= v.size {
		return v.checkPins(sf.Name, fr.Seq, fr.Offset)
	}
	return nil
}

// verifyLimit bounds verification of a log that is being written: records
// beyond Head.Size and bytes beyond SegmentLen of the segment starting at
// SegmentSeq are not read.
type verifyLimit struct {
	Head       Head
	SegmentSeq uint64
	SegmentLen int64
}

// verifyDir verifies every segment of the log in dir, streaming from disk.
// With lim set, it stops at lim.Head.Size records and requires the result to
// equal lim.Head; otherwise it verifies everything present. The records
// are hashed on every core (verify_parallel.go); the result, and the first
// failure reported, are those of verifying the records one after the other.
func verifyDir(ctx context.Context, dir string, logID [16]byte, pins []pin, lim *verifyLimit) (Head, error) {
	return verifyDirWorkers(ctx, dir, logID, pins, lim, verifyWorkers())
}

// verifyDirWorkers is verifyDir with workers goroutines hashing records; 1
// verifies them in order, in this goroutine.
func verifyDirWorkers(ctx context.Context, dir string, logID [16]byte, pins []pin, lim *verifyLimit, workers int) (Head, error) {
	return verifyDirBatch(ctx, dir, logID, pins, lim, workers, verifyBatchBytes)
}

// verifyDirBatch is verifyDirWorkers reading segments in buffers of
// batchBytes when workers > 1.
func verifyDirBatch(ctx context.Context, dir string, logID [16]byte, pins []pin, lim *verifyLimit, workers, batchBytes int) (Head, error) {
	segs, st, err := listKept(dir, &logID)
	if err != nil {
		return Head{}, err
	}
	if len(segs) == 0 {
		return Head{}, &TamperError{Seq: 0, Offset: -1, Reason: "the log has no segment files"}
	}
	// A cut log (START) is verified from its first kept segment, whose
	// header START's checkpoint anchors; checkpoints of fewer records
	// than the cut are not compared (those records are in the backup).
	v, err := startVerifier(dir, logID, segs, st)
	if err != nil {
		return Head{}, err
	}
	v.pins = sortPins(pins)
	if err := v.checkPins("", v.size, -1); err != nil {
		return Head{}, err
	}
	rest := segs
	if workers > 1 {
		if rest, err = v.parallel(ctx, segs, lim, workers, batchBytes); err != nil {
			return v.head(), err
		}
	}
	for _, sf := range rest {
		if lim != nil && v.size >= lim.Head.Size && sf.FirstSeq > lim.SegmentSeq {
			break // written after the snapshot
		}
		if err := v.segment(ctx, sf, segmentLimit(sf, lim), lim); err != nil {
			return v.head(), err
		}
	}
	h := v.head()
	if lim != nil {
		if h.Size < lim.Head.Size {
			return h, &TamperError{Seq: h.Size, Offset: -1,
				Reason: fmt.Sprintf("log ends after %d records but the logger has committed %d (records cut off the tail)", h.Size, lim.Head.Size)}
		}
		if h != lim.Head {
			return h, &TamperError{Seq: h.Size, Offset: -1, Reason: "the log on disk does not match the logger's head (rewritten history)"}
		}
	}
	if len(v.pins) > 0 {
		if p := v.pins[len(v.pins)-1]; p.size > h.Size {
			return h, &TamperError{Seq: h.Size, Offset: -1,
				Reason: fmt.Sprintf("log ends after %d records but %s records %d (records cut off the tail, or the log rolled back)", h.Size, p.source, p.size)}
		}
	}
	return h, nil
}

// segmentLimit is the byte offset to stop reading sf at (-1: its end).
func segmentLimit(sf segmentFile, lim *verifyLimit) int64 {
	if lim != nil && sf.FirstSeq == lim.SegmentSeq {
		return lim.SegmentLen
	}
	return -1
}

func (v *verifier) segment(ctx context.Context, sf segmentFile, limit int64, lim *verifyLimit) error {
	sr, err := openSegment(v.dir, sf, limit)
	if err != nil {
		return segmentOpenError(sf, v.size, err)
	}
	defer sr.Close()
	if err := v.checkHeader(sf, &sr.Header); err != nil {
		return err
	}
	return v.records(ctx, sf, sr, lim)
}

// records checks the frames of sr, whose header the verifier's state
// matches.
func (v *verifier) records(ctx context.Context, sf segmentFile, sr *segmentReader, lim *verifyLimit) error {
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if v.pace != nil && n > 0 {
				if err := v.pace(ctx); err != nil {
					return err
				}
			}
		}
		if lim != nil && v.size >= lim.Head.Size {
			return nil
		}
		fr, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var fe *frameError
			if errors.As(err, &fe) {
				return &TamperError{Segment: sf.Name, Seq: v.size, Offset: fe.Offset, Reason: "damaged frame: " + fe.Reason}
			}
			return err
		}
		if err := v.record(sf, &fr); err != nil {
			return err
		}
	}
}

// segmentOpenError turns a failure to open or parse a segment into a
// TamperError where it is one (a foreign or damaged file), and passes other
// I/O errors through.
func segmentOpenError(sf segmentFile, seq uint64, err error) error {
	var he errHeader
	var fe *frameError
	switch {
	case errors.As(err, &he):
		return &TamperError{Segment: sf.Name, Seq: seq, Offset: 0, Reason: he.reason}
	case errors.As(err, &fe):
		return &TamperError{Segment: sf.Name, Seq: seq, Offset: fe.Offset, Reason: fe.Reason}
	case errors.Is(err, ErrNotLog), errors.Is(err, ErrUnsupportedVersion):
		return &TamperError{Segment: sf.Name, Seq: seq, Offset: 0, Reason: err.Error()}
	case errors.Is(err, os.ErrNotExist):
		return &TamperError{Segment: sf.Name, Seq: seq, Offset: -1, Reason: "segment file disappeared during verification"}
	}
	return fmt.Errorf("treeoflife: open segment %s: %w", sf.Name, err)
}
