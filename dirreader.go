package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// Reader reads a log that another process (or another logger in this one)
// may be writing, or a copy of one: the CLI's and an auditor's view. It
// takes no lock and never writes to the directory. Each call first catches
// up with what has been written since the last (reading only the new
// records), so it sees the log as it is on disk at the time of the call.
//
// The last segment is read as far as it holds complete, intact frames: a
// frame the writer is still writing, or a torn one left by a crash, ends it;
// a damaged frame followed by intact ones is reported as a *TamperError.
// Index files are used when present and valid, and built in memory when not.
// A Reader from OpenReader holds no key: on an encrypted log, the methods
// that return entries fail with ErrKeyRequired, while Stats, Verify and
// proofs work; one from OpenReaderWith reads them with the key. A Reader is
// safe for concurrent use.
type Reader struct {
	dir       string
	logID     [16]byte
	tenant    string // HEADER's
	encrypted bool
	keyOpts   ReaderOptions           // the keys given, to reload HEADER's data keys
	keys      atomic.Pointer[logKeys] // nil without a key

	mu     sync.Mutex
	closed bool
	sealed []*segmentIndex // the segments before the last, in order; summaries once checked
	blocks *blockSource    // their blocks
	// trusted is how many of sealed were checked (checkSealed).
	trusted int
	// The last segment, read up to activeEnd; nil before the log has one.
	active    *segmentIndex
	activeEnd int64
	first     uint64   // where the log begins: START's first record (0: not cut)
	chain     Hash     // chain value after the last record read
	front     frontier // Merkle frontier of the records read

	hashes *hashCache // HASHES, read-only, for proofs (hashes.go)
}

// OpenReader opens the log in dir for reading. It fails with an error
// wrapping ErrNotLog when dir holds no log, and ErrUnsupportedVersion for a
// newer format. It holds no key: on an encrypted log, Stats, Verify and
// proofs work, and reading entries needs OpenReaderWith.
func OpenReader(dir string) (*Reader, error) {
	return OpenReaderWith(dir, ReaderOptions{})
}

// OpenReaderWith is OpenReader with options: the key of an encrypted log,
// so that its entries can be read.
func OpenReaderWith(dir string, opts ReaderOptions) (*Reader, error) {
	hdr, id, err := readHeader(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotLog, dir, headerFile)
	}
	if err != nil {
		return nil, err
	}
	r := &Reader{dir: dir, logID: id, tenant: hdr.Tenant, encrypted: hdr.Encryption != nil, chain: genesisChain(id), hashes: newHashCache(dir, false, nil)}
	r.keyOpts = opts
	k, err := r.loadKeys(opts, hdr)
	if err != nil {
		return nil, err
	}
	r.keys.Store(k)
	r.blocks = newBlockSource(dir, false, r.buildIndex)
	if _, _, err := r.refresh(); err != nil {
		return nil, err
	}
	return r, nil
}

// Dir returns the log directory.
func (r *Reader) Dir() string { return r.dir }

// Close ends the Reader. Calls after Close return ErrClosed, and so does a
// second Close, and Close on a nil or zero Reader.
func (r *Reader) Close() error {
	if r == nil || r.hashes == nil {
		return ErrClosed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.closed = true
	r.sealed, r.active = nil, nil
	return r.hashes.close()
}

// Read is ImmutableLogger.Read for the log on disk.
func (r *Reader) Read(ctx context.Context, f Filter) ([]Entry, error) { return readNewest(ctx, r, f) }

// Search is ImmutableLogger.Search for the log on disk.
func (r *Reader) Search(ctx context.Context, text string, f Filter) ([]Entry, error) {
	f.Search = text
	return collectLimited(ctx, r, f)
}

// Query is ImmutableLogger.Query for the log on disk.
func (r *Reader) Query(ctx context.Context, q Query, f Filter) ([]Entry, error) {
	f.Query = q
	return collectLimited(ctx, r, f)
}

// Entries is ImmutableLogger.Entries for the log on disk.
func (r *Reader) Entries(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	return entries(ctx, r, f)
}

// Stats is ImmutableLogger.Stats for the log on disk. Head is the head of
// the records read, computed from them (not verified against the earlier
// segments: that is Verify).
func (r *Reader) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	v, head, err := r.refresh()
	if err != nil {
		return Stats{}, err
	}
	st := summarise(v.Indexes)
	st.Head = head
	st.Bytes, err = diskUsage(r.dir)
	return st, err
}

// Verify verifies the log as VerifyDir does, up to the last complete record
// the Reader sees, so that a record being written meanwhile is not reported
// as damage. Its report holds the verified head.
func (r *Reader) Verify(ctx context.Context) (VerifyReport, error) {
	return r.VerifyWith(ctx, VerifyOptions{})
}

// VerifyWith verifies the log as Verify does and also against the trusted
// checkpoints opts names (see VerifyOptions).
func (r *Reader) VerifyWith(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	// CHECKPOINT is read first (verifyLocal does): every record it counts
	// was durable when it was written, so the refresh below sees them all.
	return verifyLocal(ctx, r.dir, func() (*verifyLimit, error) {
		v, head, err := r.refresh()
		if err != nil || len(v.Indexes) == 0 {
			return nil, err
		}
		return &verifyLimit{Head: head, SegmentSeq: v.ActiveSeq, SegmentLen: v.ActiveLen}, nil
	}, opts)
}

func (r *Reader) snapshot() (*readView, error) {
	v, _, err := r.refresh()
	return v, err
}

// refresh catches up with the directory and returns a snapshot of it.
func (r *Reader) refresh() (*readView, Head, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, Head{}, ErrClosed
	}
	if err := r.catchUp(); err != nil {
		// Start afresh next time rather than build on a partial state.
		r.sealed, r.active, r.activeEnd, r.chain, r.front, r.trusted, r.first = nil, nil, 0, genesisChain(r.logID), frontier{}, 0, 0
		return nil, Head{}, err
	}
	v := &readView{Dir: r.dir, LogID: r.logID, Tenant: r.tenant}
	v.Indexes = make([]*segmentIndex, 0, len(r.sealed)+1)
	v.Indexes = append(v.Indexes, r.sealed...)
	if r.active != nil {
		v.Indexes = append(v.Indexes, r.active.clone())
		v.Size = r.active.FirstSeq + r.active.Count
		v.ActiveSeq, v.ActiveLen = r.active.FirstSeq, r.activeEnd
	}
	return v, Head{Size: v.Size, Chain: r.chain, Root: r.front.root()}, nil
}

func (r *Reader) catchUp() error {
	// CHECKPOINT before the segments: every sealed segment it commits to
	// is then in the listing (see checkSealed).
	cp, err := readCheckpoint(r.dir, r.logID)
	if err != nil {
		return err
	}
	segs, st, err := listKept(r.dir, &r.logID)
	if err != nil {
		return fmt.Errorf("treeoflife: list %s: %w", r.dir, err)
	}
	if err := r.useStart(st, segs, cp); err != nil {
		return err
	}
	if len(segs) == 0 {
		if len(r.sealed) > 0 || r.active != nil {
			return &TamperError{Seq: 0, Offset: -1, Reason: "the log's segment files have disappeared"}
		}
		return nil
	}
	// The segments already known must still be there, in place.
	if len(r.sealed) >= len(segs) {
		return &TamperError{Seq: next0(r), Offset: -1, Reason: "the log's last segment has disappeared"}
	}
	for i, x := range r.sealed {
		if segs[i].FirstSeq != x.FirstSeq {
			return &TamperError{Seq: x.FirstSeq, Offset: -1, Reason: fmt.Sprintf("segment %s has disappeared", segmentName(x.FirstSeq))}
		}
		if segs[i].Compressed && !hasMemberOffsets(x) {
			// Compressed since it was loaded: its index now says where
			// each block's gzip member starts.
			if x.src != nil {
				// A new summary, whose blocks are loaded afresh.
				y := *x
				y.zoffsets = true
				r.sealed[i] = &y
			} else if y, err := loadIndexReadOnly(r.dir, segs[i]); err == nil && y.digest() == x.digest() {
				r.sealed[i] = y
			}
		}
	}
	next := next0(r)
	for _, sf := range segs[len(r.sealed) : len(segs)-1] {
		// A segment before the last is sealed: complete and unchanging.
		if sf.FirstSeq != next {
			return segmentGap(sf, next)
		}
		x, err := loadIndexReadOnly(r.dir, sf)
		if err != nil {
			return err
		}
		r.sealed = append(r.sealed, x)
		next = x.FirstSeq + x.Count
		if r.active != nil && r.active.FirstSeq == sf.FirstSeq {
			r.active = nil
		}
	}
	last := segs[len(segs)-1]
	if last.FirstSeq != next {
		return segmentGap(last, next)
	}
	if err := r.checkSealed(cp, last, st.cut()); err != nil {
		return err
	}
	for i, x := range r.sealed {
		r.sealed[i] = r.blocks.summarise(x)
	}
	return r.scanActive(last)
}

// checkSealed checks the sealed segments' indexes loaded since the last
// call against the checkpoint cp, and those it does not cover against
// their segments (see indexCheck). The last segment listed may be sealed
// and covered too: CHECKPOINT is written after a segment is sealed and
// before its successor is created.
//
// cut holds the index digests of the segments local retention removed.
func (r *Reader) checkSealed(cp *localCheckpoint, last segmentFile, cut []Hash) error {
	var d IndexDigest
	if cp != nil {
		d = cp.Indexes
	}
	if d.Segments == 0 && r.trusted == 0 {
		return nil // no commitment (a log written before indexes were)
	}
	c := &indexCheck{dir: r.dir, rebuild: r.buildIndex, cut: cut}
	sealed := r.sealed
	if d.Segments == len(cut)+len(r.sealed)+1 {
		x, err := loadIndexReadOnly(r.dir, last)
		if err != nil {
			return err
		}
		sealed = append(slices.Clip(r.sealed), x)
	}
	if d.Segments < len(cut)+r.trusted {
		d = IndexDigest{} // an older checkpoint than one already checked
	}
	if err := c.run(sealed, r.trusted, d); err != nil {
		return err
	}
	copy(r.sealed, sealed)
	r.trusted = len(r.sealed)
	return nil
}

func segmentGap(sf segmentFile, want uint64) error {
	if sf.FirstSeq > want {
		return &TamperError{Segment: sf.Name, Seq: want, Offset: 0, Reason: fmt.Sprintf("records %d to %d are missing (deleted segment?)", want, sf.FirstSeq-1)}
	}
	return &TamperError{Segment: sf.Name, Seq: want, Offset: 0, Reason: fmt.Sprintf("segment starts at seq %d, which the previous segment already holds", sf.FirstSeq)}
}

func hasMemberOffsets(x *segmentIndex) bool {
	if x.src != nil {
		return x.zoffsets
	}
	return len(x.Blocks) < 2 || x.Blocks[1].ZOffset > 0
}

// scanActive reads the last segment from where the previous call stopped
// to its last complete frame, extending its in-memory index and the head.
//
// A frame that does not decode ends what is visible, as a frame the writer
// is still writing does, unless an intact frame for a later record follows
// it: that is damage, reported as a *TamperError, as Open would. Since the
// writer may have completed the frame meanwhile, damage is only reported if
// it is still there when read again.
func (r *Reader) scanActive(sf segmentFile) error {
	suspect := int64(-1)
	for attempt := 0; attempt < 4; attempt++ {
		fe, err := r.scanFrom(sf)
		if err != nil || fe == nil || fe.Short {
			return err
		}
		seq := r.active.FirstSeq + r.active.Count
		rest, err := readSegmentFrom(r.dir, sf, fe.Offset)
		if err != nil || !scanForFrame(rest, seq-1, seq > 0) {
			return nil // a torn or unfinished frame at the end
		}
		if fe.Offset == suspect {
			return &TamperError{Segment: sf.Name, Seq: seq, Offset: fe.Offset,
				Reason: "damaged frame followed by valid records: " + fe.Reason}
		}
		suspect = fe.Offset
	}
	return nil
}

// scanFrom reads frames from r.activeEnd until the end of the segment or a
// frame that does not decode, which it returns.
func (r *Reader) scanFrom(sf segmentFile) (*frameError, error) {
	fresh := r.active == nil || r.active.FirstSeq != sf.FirstSeq
	off := r.activeEnd
	if fresh {
		off = 0
	}
	sr, err := openSegmentAt(r.dir, sf, off, 0, -1)
	if err != nil {
		return nil, segmentOpenError(sf, sf.FirstSeq, err)
	}
	defer sr.Close()
	h := &sr.Header
	if h.LogID != r.logID {
		return nil, &TamperError{Segment: sf.Name, Seq: sf.FirstSeq, Offset: 0, Reason: "segment belongs to another log (log ID mismatch)"}
	}
	if h.FirstSeq != sf.FirstSeq {
		return nil, &TamperError{Segment: sf.Name, Seq: sf.FirstSeq, Offset: 0, Reason: "segment file name does not match its first seq (renamed segment)"}
	}
	if fresh {
		r.active = newSegmentIndex(h.FirstSeq, h.size())
		r.activeEnd = h.size()
		r.chain = h.PrevChain
		r.front = frontier{n: h.FirstSeq, hashes: slices.Clone(h.Frontier)}
	}
	x := r.active
	var scratch []byte
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			var fe *frameError
			if errors.As(err, &fe) {
				return fe, nil
			}
			return nil, fmt.Errorf("treeoflife: read %s: %w", sf.Name, err)
		}
		seq := x.FirstSeq + x.Count
		if fr.Seq != seq {
			return nil, &TamperError{Segment: sf.Name, Seq: seq, Offset: fr.Offset,
				Reason: fmt.Sprintf("found seq %d where seq %d belongs (record inserted, deleted or reordered)", fr.Seq, seq)}
		}
		leaf := leafHash(fr.Payload)
		if chainHash(&r.chain, &leaf) != fr.Chain {
			return nil, &TamperError{Segment: sf.Name, Seq: seq, Offset: fr.Offset,
				Reason: "chain value mismatch: the record or its predecessor was modified"}
		}
		level, t := r.levelTime(seq, fr.Payload, &scratch)
		x.add(seq, fr.Offset, int64(frameHeaderSize+len(fr.Payload)), level, t, &r.chain)
		r.chain = fr.Chain
		r.front.append(leaf)
		r.activeEnd = sr.Offset()
	}
}

// loadIndexReadOnly is loadIndex that never writes: a missing, damaged or
// mismatched index is built in memory from the segment.
func loadIndexReadOnly(dir string, sf segmentFile) (*segmentIndex, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName(sf.FirstSeq)))
	if err == nil {
		if x, err := unmarshalIndex(b); err == nil && x.FirstSeq == sf.FirstSeq {
			return x, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return buildIndex(dir, sf, -1)
}

// next0 is the seq after the sealed segments the Reader holds.
func next0(r *Reader) uint64 {
	if n := len(r.sealed); n > 0 {
		return r.sealed[n-1].FirstSeq + r.sealed[n-1].Count
	}
	return r.first
}

// useStart follows a cut by local retention (START): the segments before
// its first record are no longer the log's, and the first kept one must
// start there, with the chain value and frontier START's checkpoint
// records (checked once per cut).
func (r *Reader) useStart(st *logStart, segs []segmentFile, cp *localCheckpoint) error {
	if st == nil {
		if r.first > 0 {
			return &TamperError{Segment: startFile, Seq: r.first, Offset: -1, Reason: "START has disappeared"}
		}
		return nil
	}
	if st.First < r.first {
		return &TamperError{Segment: startFile, Seq: st.First, Offset: -1, Reason: fmt.Sprintf("START moved back from record %d to %d", r.first, st.First)}
	}
	if st.First == r.first {
		return nil
	}
	if cp == nil || cp.Size < st.First {
		return &TamperError{Segment: checkpointFile, Seq: st.First, Offset: -1,
			Reason: fmt.Sprintf("CHECKPOINT is older than the cut START records at record %d", st.First)}
	}
	if _, err := startVerifier(r.dir, r.logID, segs, st); err != nil {
		return err
	}
	i := 0
	for i < len(r.sealed) && r.sealed[i].FirstSeq < st.First {
		i++
	}
	r.sealed = r.sealed[i:]
	r.trusted = max(r.trusted-i, 0)
	if r.active != nil && r.active.FirstSeq < st.First {
		r.active, r.activeEnd = nil, 0
	}
	r.first = st.First
	return nil
}
