package treeoflife

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
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
	Metadata map[string]any `json:"metadata"` // numbers are float64, or json.Number for integers beyond 2^53
	Hostname string         `json:"hostname"`
	PID      int            `json:"pid"`
	Tenant   string         `json:"tenantId,omitempty"` // "" when the log has no tenant (stored as null)
	Hash     Hash           `json:"hash"`               // chain value after this record (hex in JSON)
	PrevHash Hash           `json:"prevHash"`           // chain value before it (for seq 0, the genesis value)
	Legacy   *LegacyRef     `json:"legacy,omitempty"`   // for an imported entry, where it was in the original log (see Import)
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
		out = append(out, e)
	}
	return out, nil
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
		_, err := s.block(x, bi, func(e *Entry) bool { got = append(got, *e); return true })
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
	for _, b := range [][]byte{s.st.r.big, s.st.scratch, s.st.tok, s.st.plain, s.st.lowBuf} {
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
	if frameCRC(whole[:frameHeaderSize], whole[frameHeaderSize:]) != binary.BigEndian.Uint32(whole[44:48]) {
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

// Stored entries.

// The fixed positions at the start of a stored entry (FORMAT.md, "Entries"):
// the id is 36 characters and the timestamp 30.
const (
	entryTSStart    = len(`{"id":"`) + 36 + len(`","timestamp":"`)
	entryTSLen      = len("2006-01-02T15:04:05.000000000Z")
	entryLevelStart = entryTSStart + entryTSLen + len(`","level":"`)
)

// fastLevelTime reads the level and timestamp of a stored entry from their
// fixed places, without allocating; ok is false when they are not there.
func fastLevelTime(p []byte) (Level, int64, bool) {
	if len(p) < entryLevelStart+5 || string(p[entryTSStart+entryTSLen:entryLevelStart]) != `","level":"` {
		return 0, 0, false
	}
	t, ok := parseStoredTime(p[entryTSStart : entryTSStart+entryTSLen])
	if !ok {
		return 0, 0, false
	}
	end := bytes.IndexByte(p[entryLevelStart:min(len(p), entryLevelStart+9)], '"')
	if end < 0 {
		return 0, 0, false
	}
	if lv := levelOf(p[entryLevelStart : entryLevelStart+end]); lv != 0 {
		return lv, t, true
	}
	return 0, 0, false
}

// levelOf returns the level a stored name names (case-insensitively), or 0.
func levelOf(name []byte) Level {
	for _, lv := range levels {
		if string(name) == levelNames[lv] {
			return lv
		}
	}
	if lv, err := ParseLevel(string(name)); err == nil {
		return lv
	}
	return 0
}

// parseStoredTime parses a timestamp in the stored layout,
// 2006-01-02T15:04:05.000000000Z, to Unix nanoseconds; ok is false for any
// other text and for times int64 nanoseconds cannot hold.
func parseStoredTime[T string | []byte](b T) (int64, bool) {
	if len(b) != entryTSLen || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[29] != 'Z' {
		return 0, false
	}
	num := func(i, n int) int64 {
		var v int64
		for j := i; j < i+n; j++ {
			c := b[j]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int64(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, s, ns := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 9)
	if y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > int64(daysIn(int(mo), int(y))) || h > 23 || mi > 59 || s > 59 || ns < 0 || h < 0 || mi < 0 || s < 0 {
		return 0, false
	}
	return (daysFromCivil(y, mo, d)*86400+h*3600+mi*60+s)*1e9 + ns, true
}

func daysIn(m, y int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// entryDecoder decodes stored entries. It is a small JSON parser for the
// stored layout, several times faster than encoding/json into a struct with
// a map: it interns metadata keys and the hostname, and takes the timestamp
// from its fixed layout. It does not depend on key order, ignores unknown
// keys, and is strict about JSON syntax.
type entryDecoder struct {
	keys    map[string]string
	vals    map[string]any
	texts   map[string]string
	host    string
	tenant  string
	scratch []byte
}

var errSyntax = errors.New("malformed JSON")

// A misplacedError is an entry that is well formed but not the record it is
// stored as: its seq is not the frame's, or its tenantId not the log's.
type misplacedError struct{ reason string }

func (e *misplacedError) Error() string { return e.reason }

func tenantName(t string) string {
	if t == "" {
		return "no tenant"
	}
	return fmt.Sprintf("tenant %q", t)
}

// decode decodes the stored entry p of the record at seq in the log of
// tenant ("" for none). An entry whose seq or tenantId is not the record's
// (one copied from another position or another tenant's log) is refused
// with a *misplacedError.
func (d *entryDecoder) decode(p []byte, seq uint64, tenant string, e *Entry) error {
	*e = Entry{}
	c := jsonCursor{b: p, d: d}
	if !c.consume('{') {
		return errSyntax
	}
	haveSeq, haveTenant := false, false
	for first := true; ; first = false {
		if c.consume('}') {
			break
		}
		if !first && !c.consume(',') {
			return errSyntax
		}
		key, esc, ok := c.rawString()
		if !ok || !c.consume(':') {
			return errSyntax
		}
		if esc {
			key = unescape(d.scratch[:0], key)
		}
		var err error
		switch string(key) {
		case "id":
			e.ID, err = c.str()
		case "timestamp":
			raw, esc, ok := c.rawString()
			if !ok || esc {
				return fmt.Errorf("timestamp: %w", errSyntax)
			}
			if ns, ok := parseStoredTime(raw); ok {
				e.Time = time.Unix(0, ns).UTC()
			} else if e.Time, err = time.Parse(time.RFC3339Nano, string(raw)); err != nil {
				return fmt.Errorf("timestamp: %v", err)
			}
		case "level":
			raw, _, ok := c.rawString()
			if !ok {
				return fmt.Errorf("level: %w", errSyntax)
			}
			if e.Level = levelOf(raw); e.Level == 0 {
				return fmt.Errorf("level %q is unknown", raw)
			}
		case "message":
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case esc:
				e.Message = string(unescape(d.scratch[:0], raw))
			default:
				e.Message = d.text(raw)
			}
		case "metadata":
			var v any
			if v, err = c.value(0); err == nil {
				switch m := v.(type) {
				case map[string]any:
					e.Metadata = m
				case nil:
				default:
					err = errors.New("metadata is not an object")
				}
			}
		case "hostname":
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case !esc && string(raw) == d.host:
				e.Hostname = d.host
			case !esc:
				d.host = string(raw)
				e.Hostname = d.host
			default:
				e.Hostname = string(unescape(d.scratch[:0], raw))
			}
		case "pid":
			var n int64
			if n, err = c.int(); err == nil {
				e.PID = int(n)
			}
		case "tenantId":
			haveTenant = true
			if c.literal("null") {
				if tenant != "" {
					err = &misplacedError{fmt.Sprintf("entry has tenantId null in the log of tenant %q", tenant)}
				}
				break
			}
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case !esc && string(raw) == d.tenant:
				e.Tenant = d.tenant
			case !esc:
				d.tenant = string(raw)
				e.Tenant = d.tenant
			default:
				e.Tenant = string(unescape(d.scratch[:0], raw))
			}
			if err == nil && (tenant == "" || e.Tenant != tenant) {
				err = &misplacedError{fmt.Sprintf("entry has tenantId %q in the log of %s", e.Tenant, tenantName(tenant))}
			}
		case "legacy":
			e.Legacy, err = decodeLegacy(&c)
		case "seq":
			var n int64
			if n, err = c.int(); err == nil && uint64(n) != seq {
				err = &misplacedError{fmt.Sprintf("entry says seq %d but its frame says %d", n, seq)}
			}
			haveSeq = true
		default:
			_, err = c.value(0) // a key this version does not know
		}
		if err != nil {
			if errors.Is(err, errSyntax) {
				return fmt.Errorf("%s: %w", key, err)
			}
			return err
		}
	}
	c.ws()
	if c.i != len(p) {
		return fmt.Errorf("data after the entry: %w", errSyntax)
	}
	if !haveSeq {
		return errors.New("entry has no seq")
	}
	if !haveTenant && tenant != "" {
		return &misplacedError{fmt.Sprintf("entry has no tenantId in the log of tenant %q", tenant)}
	}
	e.Seq = seq
	if e.Metadata == nil {
		e.Metadata = map[string]any{}
	}
	return nil
}

// smallFloats holds the small integers as float64 interface values, so that
// decoding them does not allocate.
var smallFloats = func() (t [1024]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

// maxInterned bounds the strings the decoder keeps to reuse, and
// maxInternedLen their length: enough for the keys and the repeated short
// values (currencies, countries, statuses) of a log's metadata.
const (
	maxInterned    = 4096
	maxInternedLen = 32
)

// value returns a short string as an interface value, reusing one decoded
// before when it can: strings are immutable, so entries may share them.
func (d *entryDecoder) value(raw []byte) any {
	if len(raw) > maxInternedLen {
		return string(raw)
	}
	if v, ok := d.vals[string(raw)]; ok {
		return v
	}
	var v any = string(raw)
	if d.vals == nil {
		d.vals = make(map[string]any)
	}
	if len(d.vals) < maxInterned {
		d.vals[v.(string)] = v
	}
	return v
}

// text is value for the message: one message text is often logged many
// times.
func (d *entryDecoder) text(raw []byte) string {
	if len(raw) > 2*maxInternedLen {
		return string(raw)
	}
	if s, ok := d.texts[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.texts == nil {
		d.texts = make(map[string]string)
	}
	if len(d.texts) < maxInterned {
		d.texts[s] = s
	}
	return s
}

func (d *entryDecoder) key(raw []byte, esc bool) string {
	if esc {
		return string(unescape(d.scratch[:0], raw))
	}
	if s, ok := d.keys[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.keys == nil {
		d.keys = make(map[string]string)
	}
	if len(d.keys) < 4096 {
		d.keys[s] = s
	}
	return s
}

// jsonCursor is a position in JSON text.
type jsonCursor struct {
	b []byte
	i int
	d *entryDecoder
}

func (c *jsonCursor) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *jsonCursor) consume(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

func (c *jsonCursor) literal(lit string) bool {
	c.ws()
	if bytes.HasPrefix(c.b[c.i:], []byte(lit)) {
		c.i += len(lit)
		return true
	}
	return false
}

// rawString returns the text between the quotes of the string at the
// cursor, and whether it holds escapes.
func (c *jsonCursor) rawString() (raw []byte, esc, ok bool) {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, false
	}
	start := c.i + 1
	for j := start; j < len(c.b); {
		j += quoteOrBackslash(c.b[j:])
		switch {
		case j >= len(c.b):
			return nil, false, false
		case c.b[j] == '"':
			c.i = j + 1
			return c.b[start:j], esc, true
		}
		esc = true
		j += 2 // the backslash and the character it escapes
	}
	return nil, false, false
}

// quoteOrBackslash returns the index of the first '"' or '\\' in b, or
// len(b), looking at eight bytes at a time.
func quoteOrBackslash(b []byte) int {
	const (
		ones   = 0x0101010101010101
		high   = 0x8080808080808080
		quote  = ones * '"'
		bslash = ones * '\\'
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, s := x^quote, x^bslash
		if found := ((q-ones)&^q | (s-ones)&^s) & high; found != 0 {
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return len(b)
}

func (c *jsonCursor) str() (string, error) {
	raw, esc, ok := c.rawString()
	if !ok {
		return "", errSyntax
	}
	if esc {
		return string(unescape(c.d.scratch[:0], raw)), nil
	}
	return string(raw), nil
}

func (c *jsonCursor) int() (int64, error) {
	c.ws()
	start := c.i
	if c.i < len(c.b) && c.b[c.i] == '-' {
		c.i++
	}
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
	return strconv.ParseInt(string(c.b[start:c.i]), 10, 64)
}

// value decodes any JSON value: objects to map[string]any, arrays to []any,
// numbers to float64 (json.Number for an integer a float64 cannot hold
// exactly), and strings, booleans and null as encoding/json does.
func (c *jsonCursor) value(depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errors.New("nested too deeply")
	}
	c.ws()
	if c.i >= len(c.b) {
		return nil, errSyntax
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		c.i++
		m := make(map[string]any)
		if c.consume('}') {
			return m, nil
		}
		for {
			raw, esc, ok := c.rawString()
			if !ok || !c.consume(':') {
				return nil, errSyntax
			}
			k := c.d.key(raw, esc)
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			if c.consume('}') {
				return m, nil
			}
			if !c.consume(',') {
				return nil, errSyntax
			}
		}
	case ch == '[':
		c.i++
		a := []any{}
		if c.consume(']') {
			return a, nil
		}
		for {
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			if c.consume(']') {
				return a, nil
			}
			if !c.consume(',') {
				return nil, errSyntax
			}
		}
	case ch == '"':
		raw, esc, ok := c.rawString()
		if !ok {
			return nil, errSyntax
		}
		if esc {
			return string(unescape(c.d.scratch[:0], raw)), nil
		}
		return c.d.value(raw), nil
	case ch == 't':
		if c.literal("true") {
			return true, nil
		}
	case ch == 'f':
		if c.literal("false") {
			return false, nil
		}
	case ch == 'n':
		if c.literal("null") {
			return nil, nil
		}
	case ch == '-' || '0' <= ch && ch <= '9':
		return c.number()
	}
	return nil, errSyntax
}

// scanNumber moves past a JSON number, checking its grammar; isInt reports
// that it has no fraction or exponent.
func (c *jsonCursor) scanNumber() (raw []byte, isInt, ok bool) {
	b, start := c.b, c.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return nil, false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		i++
		isInt = false
		if digits() == 0 {
			return nil, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		isInt = false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false, false
		}
	}
	c.i = i
	return b[start:i], isInt, true
}

func (c *jsonCursor) number() (any, error) {
	raw, isInt, ok := c.scanNumber()
	if !ok {
		return nil, errSyntax
	}
	if isInt && len(raw) <= 16 {
		var v int64
		neg := raw[0] == '-'
		for _, ch := range raw[btoi(neg):] {
			v = v*10 + int64(ch-'0')
		}
		if neg {
			v = -v
		}
		if 0 <= v && v < int64(len(smallFloats)) {
			return smallFloats[v], nil
		}
		if v >= -(1<<53) && v <= 1<<53 {
			return float64(v), nil
		}
	}
	if isInt {
		// An integer a float64 cannot hold exactly keeps its digits.
		if i, err := strconv.ParseInt(string(raw), 10, 64); err != nil || i < -(1<<53) || i > 1<<53 {
			return json.Number(raw), nil
		}
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return json.Number(raw), nil // out of float64 range: keep the text
	}
	return f, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unescape appends the decoded text of a JSON string's raw content to dst.
// Invalid escapes decode as U+FFFD, as encoding/json does for bad surrogates.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		ch := raw[i]
		if ch != '\\' || i+1 >= len(raw) {
			dst = append(dst, ch)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(raw[i+1:])
			if n == 0 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
				continue
			}
			i += n
			if 0xD800 <= r && r < 0xDC00 && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2, n2 := hex4(raw[i+3:]); n2 > 0 && 0xDC00 <= r2 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 2 + n2
				}
			}
			if 0xD800 <= r && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, '\\', raw[i])
		}
	}
	return dst
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, 0
	}
	var r rune
	for _, ch := range b[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			r = r<<4 | rune(ch-'0')
		case 'a' <= ch && ch <= 'f':
			r = r<<4 | rune(ch-'a'+10)
		case 'A' <= ch && ch <= 'F':
			r = r<<4 | rune(ch-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}

// Reader.

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
// A Reader holds no key: on an encrypted log, the methods that return
// entries fail with ErrKeyRequired, while Stats and Verify work. A Reader is
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
