package treeoflife

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Entry is a record read back from the log: the stored entry and where it
// sits in the chain. Time is in UTC. Metadata is never nil. Its JSON form
// uses the stored keys, plus hash and prevHash.
type Entry struct {
	Seq      uint64         `json:"seq"`
	ID       string         `json:"id"`
	Time     time.Time      `json:"timestamp"`
	Level    Level          `json:"level"`
	Message  string         `json:"message"`
	Metadata map[string]any `json:"metadata"` // numbers are float64, or json.Number for integers beyond 2^53; nil with Filter.RawMetadata
	// RawMetadata is the metadata object as stored, set (and Metadata left
	// nil) when the Filter asks for it (Filter.RawMetadata). From Entries
	// and Tail it is valid only in the loop body that receives the entry;
	// see Filter.RawMetadata. The Entry's JSON form has it as "metadata"
	// when Metadata is nil.
	RawMetadata json.RawMessage `json:"-"`
	Hostname    string          `json:"hostname"`
	PID         int             `json:"pid"`
	Tenant      string          `json:"tenantId,omitempty"` // "" when the log has no tenant (stored as null)
	Hash        Hash            `json:"hash"`               // chain value after this record (hex in JSON)
	PrevHash    Hash            `json:"prevHash"`           // chain value before it (for seq 0, the genesis value)
	Legacy      *LegacyRef      `json:"legacy,omitempty"`   // for an imported entry, where it was in the original log (see Import)
}

// MarshalJSON encodes e with the fields' JSON names; its metadata is
// RawMetadata when Metadata is nil and RawMetadata is set.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry // without this method
	if e.Metadata == nil && e.RawMetadata != nil {
		return json.Marshal(rawEntry{e.Seq, e.ID, e.Time, e.Level, e.Message, e.RawMetadata,
			e.Hostname, e.PID, e.Tenant, e.Hash, e.PrevHash, e.Legacy})
	}
	return json.Marshal(plain(e))
}

// rawEntry is Entry's JSON form with the metadata as stored: the same
// fields in the same order (TestRawEntryFields).
type rawEntry struct {
	Seq      uint64          `json:"seq"`
	ID       string          `json:"id"`
	Time     time.Time       `json:"timestamp"`
	Level    Level           `json:"level"`
	Message  string          `json:"message"`
	Metadata json.RawMessage `json:"metadata"`
	Hostname string          `json:"hostname"`
	PID      int             `json:"pid"`
	Tenant   string          `json:"tenantId,omitempty"`
	Hash     Hash            `json:"hash"`
	PrevHash Hash            `json:"prevHash"`
	Legacy   *LegacyRef      `json:"legacy,omitempty"`
}

// Read returns the newest entries that match f, at most f.Limit of them
// (DefaultReadLimit when zero), oldest first — or newest first when
// f.Reverse is set. It reads the log from its end backwards, one index block
// of 256 records at a time, skips the blocks whose index rules out a match
// of the level, time and seq constraints, and stops as soon as it has
// enough: the cost of a page does not grow with the log.
func (l *ImmutableLogger) Read(ctx context.Context, f Filter) ([]Entry, error) {
	return readNewest(ctx, l, f)
}

// Search returns the entries whose message, level, or metadata keys or
// values contain text, ignoring case (see Filter.Search); text takes the
// place of f.Search. Entries come oldest first (newest first with
// f.Reverse), bounded as Query explains.
func (l *ImmutableLogger) Search(ctx context.Context, text string, f Filter) ([]Entry, error) {
	f.Search = text
	return collectLimited(ctx, l, f)
}

// Query returns the entries q matches, oldest first (newest first with
// f.Reverse), within the rest of f (levels, times, seqs, a search); q takes
// the place of f.Query. A query that is not valid returns an error wrapping
// ErrInvalidQuery before anything is read.
//
// Search and Query hold their results in memory, so they are bounded: at
// most f.Limit entries, or DefaultQueryLimit when f.Limit is zero. When
// more than DefaultQueryLimit entries match a call without a limit, the
// first DefaultQueryLimit are returned with an error wrapping
// ErrTooManyEntries, never silently cut. To read more, set f.Limit, or
// iterate with Entries, which streams in constant memory.
func (l *ImmutableLogger) Query(ctx context.Context, q Query, f Filter) ([]Entry, error) {
	f.Query = q
	return collectLimited(ctx, l, f)
}

// Entries iterates over the entries that match f, oldest first (newest first
// with f.Reverse), stopping after f.Limit when it is set. It streams: memory
// holds one index block (256 records) at a time whatever the size of the
// log. It sees the records written when the iteration starts.
//
// An error (an invalid filter, ErrClosed, a damaged segment, ctx ending) is
// yielded once, with a zero Entry, and ends the iteration.
func (l *ImmutableLogger) Entries(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	return entries(ctx, l, f)
}

func (l *ImmutableLogger) snapshot() (*readView, error) {
	v, _, err := l.view()
	return v, err
}

func (l *ImmutableLogger) opener() payloadOpener {
	if l.keys == nil {
		return nil
	}
	return l.openPayload
}

// source is what the scan reads: a logger, or a Reader of a log on disk.
type source interface {
	snapshot() (*readView, error)
	// opener turns stored payloads into entry JSON; nil when they are
	// entry JSON already (an unencrypted log).
	opener() payloadOpener
}

// collectLimited collects the entries f selects, at most f.Limit of them,
// or DefaultQueryLimit and ErrTooManyEntries when f.Limit is zero and more
// match.
func collectLimited(ctx context.Context, src source, f Filter) ([]Entry, error) {
	if f.Limit != 0 {
		return collect(entries(ctx, src, f))
	}
	f.Limit = DefaultQueryLimit + 1
	out, err := collect(entries(ctx, src, f))
	if err != nil {
		return nil, err
	}
	if len(out) > DefaultQueryLimit {
		return out[:DefaultQueryLimit], fmt.Errorf("%w: more than %d entries match; set Filter.Limit, or iterate with Entries", ErrTooManyEntries, DefaultQueryLimit)
	}
	return out, nil
}

func collect(seq iter.Seq2[Entry, error]) ([]Entry, error) {
	var out []Entry
	for e, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, owned(e))
	}
	return out, nil
}

// owned returns e with memory of its own: RawMetadata, when set, is valid
// only until the scan goes on (see Filter.RawMetadata).
func owned(e Entry) Entry {
	if e.RawMetadata != nil {
		e.RawMetadata = slices.Clone(e.RawMetadata)
	}
	return e
}

func readNewest(ctx context.Context, src source, f Filter) ([]Entry, error) {
	cf, err := compileFilter(f)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := src.snapshot()
	if err != nil {
		return nil, err
	}
	limit := cf.limit
	if limit == 0 {
		limit = DefaultReadLimit
	}
	return newestIn(ctx, v, src.opener(), cf, limit)
}

// newestIn returns the newest limit matches in v, oldest first (newest first
// with cf.reverse).
func newestIn(ctx context.Context, v *readView, open payloadOpener, cf *compiledFilter, limit int) ([]Entry, error) {
	s := newScan(ctx, v, open, cf)
	defer s.close()
	// Blocks are visited newest first and read forward; each block's matches
	// are kept oldest first and the blocks put back in order at the end.
	var blocks [][]Entry
	total := 0
	err := s.blocks(true, func(x *segmentIndex, bi int) (bool, error) {
		var got []Entry
		_, err := s.block(x, bi, func(e *Entry) bool { got = append(got, owned(*e)); return true })
		if len(got) > 0 {
			blocks = append(blocks, got)
			total += len(got)
		}
		return total < limit, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, min(total, limit))
	for i := len(blocks) - 1; i >= 0; i-- {
		out = append(out, blocks[i]...)
	}
	out = out[len(out)-min(len(out), limit):]
	if cf.reverse {
		slices.Reverse(out)
	}
	return out, nil
}

func entries(ctx context.Context, src source, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		cf, err := compileFilter(f)
		if err != nil {
			yield(Entry{}, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(Entry{}, err)
			return
		}
		v, err := src.snapshot()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		s := newScan(ctx, v, src.opener(), cf)
		defer s.close()
		stopped := false
		n := 0
		emit := func(e *Entry) bool {
			n++
			if !yield(*e, nil) {
				stopped = true
				return false
			}
			return cf.limit == 0 || n < cf.limit
		}
		err = s.run(cf.reverse, emit)
		if err != nil && !stopped {
			yield(Entry{}, err)
		}
	}
}

// The scan: which blocks to read, reading them, and testing each record.

// scan reads the records of one snapshot that a filter selects.
type scan struct {
	ctx  context.Context
	v    *readView
	open payloadOpener // nil: payloads are entries
	cf   *compiledFilter
	st   *scanState
	e    Entry
}

// scanState is the reusable memory of a scan, pooled: the read buffer, the
// decoder's key cache, scratch space for searching.
type scanState struct {
	r       blockReader
	dec     entryDecoder
	scratch []byte
	tok     []byte
	// lowered is the current block's text with ASCII letters lower-cased,
	// byte for byte, when a search made it; the block starts at offset
	// loweredAt of the segment.
	lowered   []byte
	loweredAt int64
	lowBuf    []byte
	plain     []byte // a decrypted entry
	// raw holds the RawMetadata of the current block's entries
	// (Filter.RawMetadata): valid until the next block is read, or, for a
	// block decoded by a worker (parallel), until the caller has taken
	// the block's entries.
	raw []byte
}

// loweredPayload returns the lower-cased text of fr's payload from the
// block's, or nil.
func (st *scanState) loweredPayload(fr *frame) []byte {
	if st.lowered == nil {
		return nil
	}
	start := fr.Offset - st.loweredAt + frameHeaderSize
	if start < 0 || start+int64(len(fr.Payload)) > int64(len(st.lowered)) {
		return nil
	}
	return st.lowered[start : start+int64(len(fr.Payload))]
}

var scanStates = sync.Pool{New: func() any {
	return &scanState{r: blockReader{br: bufio.NewReaderSize(nil, blockBufferSize)}}
}}

// blockBufferSize holds an index block of typical entries (256 × ~250
// bytes) in one read; a frame larger than it is read into its own buffer.
const blockBufferSize = 256 << 10

func newScan(ctx context.Context, v *readView, open payloadOpener, cf *compiledFilter) *scan {
	st := scanStates.Get().(*scanState)
	st.r.dir = v.Dir
	return &scan{ctx: ctx, v: v, open: open, cf: cf, st: st}
}

func (s *scan) close() {
	s.st.r.closeFile()
	s.st.lowered = nil
	for _, b := range [][]byte{s.st.r.big, s.st.scratch, s.st.tok, s.st.plain, s.st.lowBuf, s.st.raw} {
		if cap(b) > 4<<20 {
			return // let an unusually large one go
		}
	}
	scanStates.Put(s.st)
	s.st = nil
}

// run emits the matches in order (newest first when reverse) until emit
// returns false. A long scan decodes blocks on several cores.
func (s *scan) run(reverse bool, emit func(*Entry) bool) error {
	workers := min(runtime.GOMAXPROCS(0), maxScanWorkers)
	if workers > 1 && (s.cf.limit == 0 || s.cf.limit > 4*indexBlockRecords) {
		return s.parallel(reverse, workers, emit)
	}
	if !reverse {
		return s.blocks(false, func(x *segmentIndex, bi int) (bool, error) {
			return s.block(x, bi, emit)
		})
	}
	var buf []Entry
	return s.blocks(true, func(x *segmentIndex, bi int) (bool, error) {
		buf = buf[:0]
		_, err := s.block(x, bi, func(e *Entry) bool { buf = append(buf, *e); return true })
		if err != nil {
			return false, err
		}
		for i := len(buf) - 1; i >= 0; i-- {
			if !emit(&buf[i]) {
				return false, nil
			}
		}
		return true, nil
	})
}

// maxScanWorkers bounds the goroutines one scan decodes blocks with.
const maxScanWorkers = 4

// blockJob is one block for a worker, and where its matches go.
type blockJob struct {
	x   *segmentIndex
	bi  int
	out chan blockResult // capacity 1: a worker never waits to deliver
}

type blockResult struct {
	entries []Entry
	raw     *[]byte // the memory of the entries' RawMetadata, from rawBufs
	err     error
}

// parallel is run with blocks decoded by several workers and emitted in
// order. At most 3×workers blocks are in flight, so memory stays bounded
// whatever the size of the log.
func (s *scan) parallel(reverse bool, workers int, emit func(*Entry) bool) error {
	jobs := make(chan blockJob)
	queue := make(chan blockJob, 2*workers) // in block order
	done := make(chan struct{})
	var listErr error
	go func() {
		defer close(queue)
		defer close(jobs)
		listErr = s.blocks(reverse, func(x *segmentIndex, bi int) (bool, error) {
			j := blockJob{x: x, bi: bi, out: make(chan blockResult, 1)}
			for _, c := range []chan blockJob{queue, jobs} {
				select {
				case c <- j:
				case <-done:
					return false, nil
				}
			}
			return true, nil
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newScan(s.ctx, s.v, s.open, s.cf)
			defer w.close()
			for j := range jobs {
				buf := entryBufs.Get().(*[]Entry)
				r := blockResult{entries: (*buf)[:0]}
				_, r.err = w.block(j.x, j.bi, func(e *Entry) bool { r.entries = append(r.entries, *e); return true })
				if len(r.entries) == 0 {
					entryBufs.Put(buf)
					r.entries = nil
				}
				if w.cf.raw && len(r.entries) > 0 {
					// The entries' RawMetadata stays with them; the next
					// block's goes into other memory.
					raw := w.st.raw
					r.raw = &raw
					w.st.raw = (*rawBufs.Get().(*[]byte))[:0]
				}
				j.out <- r
			}
		}()
	}
	// stop ends the producer and the workers, also when emit panics.
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			for range queue {
			}
			wg.Wait()
		})
	}
	defer stop()
	for j := range queue {
		r := <-j.out
		if r.err != nil {
			stop()
			return r.err
		}
		more := true
		for i := 0; i < len(r.entries) && more; i++ {
			k := i
			if reverse {
				k = len(r.entries) - 1 - i
			}
			more = emit(&r.entries[k])
		}
		if r.entries != nil {
			clear(r.entries) // emit copied what it keeps
			b := r.entries[:0]
			entryBufs.Put(&b)
		}
		if r.raw != nil && cap(*r.raw) <= maxRawBuf {
			rawBufs.Put(r.raw)
		}
		if !more {
			stop()
			return nil
		}
	}
	wg.Wait()
	return listErr
}

// entryBufs recycles the blocks of decoded entries parallel hands over.
var entryBufs = sync.Pool{New: func() any {
	b := make([]Entry, 0, indexBlockRecords)
	return &b
}}

// rawBufs recycles the memory of the RawMetadata of a block's entries
// (scanState.raw), which parallel hands over with them; one larger than
// maxRawBuf is left to the garbage collector.
var rawBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 128<<10)
	return &b
}}

const maxRawBuf = 4 << 20

// blocks calls fn for every index block, from the oldest (or the newest when
// reverse), that may hold a record the filter selects. fn returns false to
// stop.
func (s *scan) blocks(reverse bool, fn func(x *segmentIndex, bi int) (bool, error)) error {
	cf, v := s.cf, s.v
	lo, hi := cf.from, min(cf.to, v.Size)
	if cf.empty() || lo >= hi {
		return nil
	}
	n := len(v.Indexes)
	for k := range n {
		x := v.Indexes[k]
		if reverse {
			x = v.Indexes[n-1-k]
		}
		if x.Count == 0 || x.FirstSeq >= hi || x.FirstSeq+x.Count <= lo || !cf.segmentMay(x) {
			continue
		}
		x, err := x.loaded()
		if err != nil {
			return err
		}
		nb := len(x.Blocks)
		for j := range nb {
			bi := j
			if reverse {
				bi = nb - 1 - j
			}
			b := &x.Blocks[bi]
			if b.FirstSeq >= hi || b.FirstSeq+uint64(b.Count) <= lo || !cf.blockMay(b) {
				continue
			}
			if err := s.ctx.Err(); err != nil {
				return err
			}
			more, err := fn(x, bi)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// segmentMay reports whether a segment's summary allows a match.
func (cf *compiledFilter) segmentMay(x *segmentIndex) bool {
	if x.MaxTime < cf.since || x.MinTime >= cf.until {
		return false
	}
	if cf.levels == allLevels {
		return true
	}
	known := false
	for lv, n := range x.LevelCounts {
		if n > 0 {
			known = true
			if cf.levels&(1<<lv) != 0 {
				return true
			}
		}
	}
	return !known // no level could be read from the entries: cannot skip
}

// blockMay reports whether a block's summary allows a match. A block whose
// level mask is empty (no entry's level was readable) is never skipped by
// level.
func (cf *compiledFilter) blockMay(b *indexBlock) bool {
	return (b.Levels == 0 || b.Levels&cf.levels != 0) && b.MaxTime >= cf.since && b.MinTime < cf.until
}

// block reads block bi of x and emits the selected records of it; it returns
// false when emit asked to stop.
func (s *scan) block(x *segmentIndex, bi int, emit func(*Entry) bool) (bool, error) {
	b := &x.Blocks[bi]
	r := &s.st.r
	lo, hi := s.cf.from, min(s.cf.to, s.v.Size)
	if err := r.openBlock(s.v, x, bi); err != nil {
		return false, r.fail(b.FirstSeq, err)
	}
	s.st.lowered = nil
	s.st.raw = s.st.raw[:0] // the previous block's entries are emitted
	if sr := s.cf.search; sr != nil && len(sr.pre) > 0 && s.open == nil {
		// A block whose text does not hold the needle (or its longest
		// ASCII part), in any case, holds no match: skip it whole.
		// Otherwise keep its lower-cased text for the records' regions.
		if whole, ok := r.peekBlock(); ok && !containsAny(whole, sr.preSpecial) {
			if len(sr.inv) > 0 && !bytes.Contains(whole, sr.inv) {
				r.skipBlock() // cheaper: no need to lower-case
				return true, nil
			}
			s.st.lowBuf = asciiLower(s.st.lowBuf[:0], whole)
			if !bytes.Contains(s.st.lowBuf, sr.pre) {
				r.skipBlock()
				return true, nil
			}
			s.st.lowered, s.st.loweredAt = s.st.lowBuf, b.Offset
		}
	}
	prev := b.Prev
	for k := range uint64(b.Count) {
		seq := b.FirstSeq + k
		if seq >= hi {
			return true, nil
		}
		fr, err := r.next()
		if err == io.EOF {
			err = &frameError{Offset: r.off, Reason: "segment ends before the records its index lists", Short: true}
		}
		if err != nil {
			return false, r.fail(seq, err)
		}
		if fr.Seq != seq {
			return false, &TamperError{Segment: r.name, Seq: seq, Offset: fr.Offset,
				Reason: fmt.Sprintf("found seq %d where the index places seq %d", fr.Seq, seq)}
		}
		if seq >= lo {
			ok, err := s.match(&fr, &prev)
			if err != nil {
				return false, err
			}
			if ok && !emit(&s.e) {
				return false, nil
			}
		}
		prev = fr.Chain
	}
	return true, nil
}

// payload returns the entry JSON a frame stores: its payload, or for an
// encrypted log the payload decrypted (into scratch space reused from
// record to record).
func (s *scan) payload(fr *frame) ([]byte, error) {
	if s.open == nil {
		return fr.Payload, nil
	}
	p, err := s.open(fr.Seq, fr.Payload, s.st.plain[:0])
	if err != nil {
		return nil, err
	}
	if len(p) > 0 && len(fr.Payload) > 0 && &p[0] != &fr.Payload[0] {
		s.st.plain = p
	}
	return p, nil
}

// match tests one record against the filter, cheapest test first, and
// decodes it into s.e if it matches.
func (s *scan) match(fr *frame, prev *Hash) (bool, error) {
	cf := s.cf
	p, err := s.payload(fr)
	if err != nil {
		return false, err
	}
	if cf.cheap {
		if lv, t, ok := fastLevelTime(p); ok && (cf.levels&(1<<lv) == 0 || t < cf.since || t >= cf.until) {
			return false, nil
		}
	}
	searched := false
	if cf.search != nil {
		found, known := cf.search.matchRaw(p, s.st.loweredPayload(fr), s.st)
		if known && !found {
			return false, nil
		}
		searched = known
	}
	e := &s.e
	// With RawMetadata, the metadata is decoded only for Search and Query.
	s.st.dec.raw = cf.raw && cf.search == nil && cf.query == nil
	if err := s.st.dec.decode(p, fr.Seq, s.v.Tenant, e); err != nil {
		var me *misplacedError
		if errors.As(err, &me) {
			return false, &TamperError{Segment: s.st.r.name, Seq: fr.Seq, Offset: fr.Offset, Reason: me.reason}
		}
		return false, fmt.Errorf("treeoflife: record %d in %s is not a valid entry: %w", fr.Seq, s.st.r.name, err)
	}
	if cf.levels != allLevels && cf.levels&(1<<e.Level) == 0 {
		return false, nil
	}
	if t := unixNanoClamped(e.Time); t < cf.since || t >= cf.until {
		return false, nil
	}
	if cf.search != nil && !searched && !cf.search.matchEntry(e, s.st) {
		return false, nil
	}
	if cf.query != nil && !cf.query.match(e) {
		return false, nil
	}
	if cf.raw {
		// Into the block's memory, not an allocation of its own: see
		// Filter.RawMetadata.
		n := len(s.st.raw)
		s.st.raw = append(s.st.raw, s.st.dec.meta...)
		e.RawMetadata = s.st.raw[n:len(s.st.raw):len(s.st.raw)]
		e.Metadata = nil
	}
	e.PrevHash = *prev
	e.Hash = fr.Chain
	return true, nil
}

// blockReader reads the frames of one index block at a time from a segment
// file, plain or compressed. A plain block is one positioned read; a
// compressed one starts at the block's gzip member.
type blockReader struct {
	dir     string
	br      *bufio.Reader
	big     []byte // a frame larger than br's buffer
	pending int    // bytes of the last frame still to discard from br
	left    int64  // bytes of the block not yet read
	off     int64  // offset of the next frame

	// The segment file open now.
	f    *os.File
	seg  uint64
	name string
	gz   bool
	fbr  *bufio.Reader
	zr   *gzip.Reader
	zpos int64 // uncompressed offset the gzip stream is at; -1 unknown
}

func (r *blockReader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.br.Reset(nil)
	r.left, r.pending = 0, 0
}

// openFile opens the segment starting at firstSeq as it is on disk now: the
// compressor may have replaced NNN.seg with NNN.seg.gz (the same bytes) at
// any moment, and an open file stays readable after its name is removed.
func (r *blockReader) openFile(firstSeq uint64) error {
	r.closeFile()
	name, gz := segmentName(firstSeq), false
	f, err := os.Open(filepath.Join(r.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		name, gz = indexNameToCompressed(firstSeq), true
		f, err = os.Open(filepath.Join(r.dir, name))
	}
	if err != nil {
		return fmt.Errorf("treeoflife: open segment %s: %w", segmentName(firstSeq), err)
	}
	r.f, r.seg, r.name, r.gz, r.zpos = f, firstSeq, name, gz, -1
	return nil
}

// blockEnd is the offset just past block bi's last frame that may be read.
func blockEnd(v *readView, x *segmentIndex, bi int) int64 {
	end := x.Size
	if bi+1 < len(x.Blocks) {
		end = x.Blocks[bi+1].Offset
	}
	if x.FirstSeq == v.ActiveSeq && end > v.ActiveLen {
		end = v.ActiveLen
	}
	return end
}

func (r *blockReader) openBlock(v *readView, x *segmentIndex, bi int) error {
	b := &x.Blocks[bi]
	end := blockEnd(v, x, bi)
	unfinished := r.left != 0
	if r.f == nil || r.seg != x.FirstSeq {
		if err := r.openFile(x.FirstSeq); err != nil {
			return err
		}
	}
	r.pending, r.left, r.off = 0, max(end-b.Offset, 0), b.Offset
	if !r.gz {
		r.br.Reset(io.NewSectionReader(r.f, b.Offset, r.left))
		return nil
	}
	if unfinished {
		r.zpos = -1
	}
	if r.zpos != b.Offset {
		switch {
		case bi > 0 && b.ZOffset > 0:
			if err := r.resetGzip(b.ZOffset); err != nil {
				return err
			}
			r.zpos = b.Offset
		case r.zpos < 0 || r.zpos > b.Offset:
			// No member offset (an index from before compression): read
			// the segment from its start.
			if err := r.resetGzip(0); err != nil {
				return err
			}
			r.zpos = 0
		}
		if n, err := io.CopyN(io.Discard, r.zr, b.Offset-r.zpos); err != nil {
			return &frameError{Offset: r.zpos + n, Reason: "compressed segment ends before offset " + strconv.FormatInt(b.Offset, 10), Short: true}
		}
	}
	r.br.Reset(io.LimitReader(r.zr, r.left))
	r.zpos = end // once the block has been read to its end
	return nil
}

func (r *blockReader) resetGzip(zoff int64) error {
	if _, err := r.f.Seek(zoff, io.SeekStart); err != nil {
		return err
	}
	if r.fbr == nil {
		r.fbr = bufio.NewReaderSize(r.f, 64<<10)
	} else {
		r.fbr.Reset(r.f)
	}
	var err error
	if r.zr == nil {
		r.zr, err = gzip.NewReader(r.fbr)
	} else {
		err = r.zr.Reset(r.fbr)
	}
	if err != nil {
		r.zpos = -1
		return &frameError{Offset: zoff, Reason: "compressed segment is damaged: " + err.Error()}
	}
	return nil
}

// next returns the block's next frame; its payload is valid until the next
// call. It checks the frame's length and checksum.
func (r *blockReader) next() (frame, error) {
	if r.pending > 0 {
		r.br.Discard(r.pending)
		r.pending = 0
	}
	if r.left == 0 {
		return frame{}, io.EOF
	}
	if r.left < frameHeaderSize {
		return frame{}, &frameError{Offset: r.off, Reason: "frame header cut short", Short: true}
	}
	hdr, err := r.br.Peek(frameHeaderSize)
	if err != nil {
		return frame{}, r.readError(err)
	}
	fr, plen, ferr := parseFrameHeader(hdr, r.off)
	if ferr != nil {
		return frame{}, ferr
	}
	total := frameHeaderSize + plen
	if int64(total) > r.left {
		return frame{}, &frameError{Offset: r.off, Reason: "frame runs past the end of its index block", Short: true}
	}
	var whole []byte
	if total <= r.br.Size() {
		if whole, err = r.br.Peek(total); err != nil {
			return frame{}, r.readError(err)
		}
		r.pending = total
	} else {
		if cap(r.big) < total {
			r.big = make([]byte, total)
		}
		whole = r.big[:total]
		if _, err := io.ReadFull(r.br, whole); err != nil {
			return frame{}, r.readError(err)
		}
	}
	if frameCRC(whole[:frameHeaderSize], whole[frameHeaderSize:]) != fr.Sum {
		return frame{}, &frameError{Offset: r.off, Reason: "frame checksum mismatch"}
	}
	fr.Payload = whole[frameHeaderSize:]
	r.left -= int64(total)
	r.off += int64(total)
	return fr, nil
}

// peekBlock returns the rest of the block without consuming it, if it fits
// in the read buffer.
func (r *blockReader) peekBlock() ([]byte, bool) {
	if r.pending > 0 {
		r.br.Discard(r.pending)
		r.pending = 0
	}
	if r.left > int64(r.br.Size()) {
		return nil, false
	}
	b, err := r.br.Peek(int(r.left))
	return b, err == nil
}

// skipBlock passes over the rest of the block, which peekBlock has read.
func (r *blockReader) skipBlock() {
	r.pending, r.left = int(r.left), 0
}

func (r *blockReader) readError(err error) error {
	r.left = 0
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &frameError{Offset: r.off, Reason: "segment ends inside a frame", Short: true}
	}
	if r.gz {
		return &frameError{Offset: r.off, Reason: "compressed segment is damaged: " + err.Error()}
	}
	return fmt.Errorf("treeoflife: read %s: %w", r.name, err)
}

// fail reports a block that cannot be read as the segment's damage.
func (r *blockReader) fail(seq uint64, err error) error {
	r.closeFile()
	var fe *frameError
	if errors.As(err, &fe) {
		return &TamperError{Segment: r.name, Seq: seq, Offset: fe.Offset, Reason: "damaged frame: " + fe.Reason}
	}
	return err
}
