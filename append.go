package treeoflife

// The append path: an entry encoded in the caller's goroutine, a sequence
// number taken and the chain linked under the logger's lock, the frame
// queued for the writer.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// encoder is the per-call scratch space, pooled. frame holds a plain
// record's whole frame: room for the header, then the entry; buf is the
// entry (aliasing frame, or on its own once sealing has grown it).
type encoder struct {
	frame []byte
	buf   []byte
	id    []byte
	order fieldOrder      // the keys of the Fields this encoder encoded last
	h     sha256x2.Digest // the leaf hash of a plain record
	sealState
	// An encrypted record between taking its seq and being linked
	// (appendSealed): its frame in chunk, as record rec of it, and its
	// leaf hash once sealed (sealed is set after leaf, without the lock,
	// so that whoever links next links it too); linking sets chain.
	fr     []byte
	chunk  *chunk
	rec    int
	seq    uint64
	sealed atomic.Bool
	leaf   Hash
	chain  Hash
}

var encoderPool = sync.Pool{New: func() any {
	return &encoder{frame: make([]byte, 0, 512), id: make([]byte, 0, 36)}
}}

// Log appends an entry. It validates and encodes the entry in the calling
// goroutine and returns when the record is durable (DurabilitySync) or
// accepted (DurabilityBuffered). An invalid entry returns an error wrapping
// ErrInvalidEntry or ErrEntryTooLarge and writes nothing.
//
// ctx decides only whether the record is written and how long the caller
// waits, in two steps:
//
//   - Before the record is sequenced (given its Seq), a done ctx stops the
//     call: nothing is written and Log returns ctx.Err().
//   - Once the record is sequenced it is part of the log and is stored with
//     the others; ctx can no longer withdraw it. If ctx ends while a Sync
//     call waits for the fsync, Log returns the Record and a
//     *NotWaitedError carrying its Seq (errors.Is matches ctx's error): the
//     record is not known to be durable yet, but it will be unless the
//     logger fails. Do not log it again; Sync, or look for the Seq, to know
//     when it is durable. A Buffered call does not wait, so ctx cannot end
//     that wait.
//
// An HTTP handler that passes r.Context() loses the record if the client
// disconnects first, which an audit trail rarely wants. Pass
// context.WithoutCancel(r.Context()) to keep the request's values without
// its cancellation, or bound the wait with a context of your own.
func (l *ImmutableLogger) Log(ctx context.Context, level Level, msg string, fields Fields) (Record, error) {
	return l.logMeta(ctx, level, msg, meta{fields: fields})
}

func (l *ImmutableLogger) logMeta(ctx context.Context, level Level, msg string, m meta) (Record, error) {
	if !l.live() {
		return Record{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if !level.valid() {
		return Record{}, fmt.Errorf("%w: unknown level %d", ErrInvalidEntry, level)
	}
	if msg == "" {
		return Record{}, fmt.Errorf("%w: message is empty", ErrInvalidEntry)
	}
	now := l.opts.Clock()
	e := encoderPool.Get().(*encoder)
	defer encoderPool.Put(e)
	e.id = appendEntryID(e.id[:0], now)
	var err error
	var hdr [frameHeaderSize]byte
	m.order = &e.order
	e.frame, err = l.appendEntryBody(append(e.frame[:0], hdr[:]...), e.id, now, level, msg, m)
	if err != nil {
		return Record{}, err
	}
	e.buf = e.frame[frameHeaderSize:]
	// 21: the longest seq and the closing brace.
	if len(e.buf)+21 > l.opts.MaxEntrySize {
		return Record{}, fmt.Errorf("%w: %d bytes encoded, limit %d (Options.MaxEntrySize)", ErrEntryTooLarge, len(e.buf)+21, l.opts.MaxEntrySize)
	}
	if l.keys != nil {
		// The leaf hash covers the sealed bytes, which need the seq: both
		// happen in append.
		l.keys.prepareSeal(e)
	} else {
		e.key, e.overhead = nil, 0
		// The leaf hash's input is 0x00 || entry (RFC 6962): the prefix in
		// the header's last byte, its checksum's, which fillFrameHeader
		// writes after. The rest is hashed in append.
		e.frame[frameHeaderSize-1] = leafHashPrefix
		e.h.Reset()
		e.h.Write(e.frame[frameHeaderSize-1:])
	}
	// Encoding takes a while: look at ctx again just before sequencing.
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	seq, chain, gen, err := l.append(e, now, level, now.UnixNano())
	if err != nil {
		return Record{}, err
	}
	return l.settle(ctx, e, seq, chain, gen, now, level)
}

// settle is the end of an append: it starts a new data key when the
// active one is due, builds the Record and, under DurabilitySync, waits for
// the record to be durable (see Log for what ctx does here).
func (l *ImmutableLogger) settle(ctx context.Context, e *encoder, seq uint64, chain Hash, gen *generation, now time.Time, level Level) (Record, error) {
	if e.key != nil && seq+1 >= e.key.rotateAt.Load() {
		l.dataKeyDue(e.key)
	}
	rec := Record{Seq: seq, Hash: chain, ID: string(e.id), Time: now, Level: level}
	if l.opts.Durability == DurabilitySync {
		if done := ctx.Done(); done == nil {
			<-gen.done // cheaper than a select, for the usual Background context
		} else {
			select {
			case <-gen.done:
			case <-done:
				select {
				case <-gen.done: // both were ready: the record is durable
				default:
					return rec, &NotWaitedError{Seq: seq, Err: ctx.Err()}
				}
			}
		}
		if errors.Is(gen.err, ErrDiskFull) {
			return rec, fmt.Errorf("treeoflife: record %d was accepted but is not durable yet; it stays queued, in order, and is written when space is available (unless the logger is closed first): %w", seq, gen.err)
		}
		if gen.err != nil {
			return Record{}, fmt.Errorf("treeoflife: record %d is not durable: %w", seq, gen.err)
		}
	}
	return rec, nil
}

// append sequences, hashes and frames the encoded entry. It cannot fail
// once it has taken a sequence number. now decides segment rotation; t (Unix
// nanoseconds) is the entry's timestamp, which the index records: the same
// for a logged entry, the original time for an imported one.
func (l *ImmutableLogger) append(e *encoder, now time.Time, level Level, t int64) (uint64, Hash, *generation, error) {
	if e.key != nil {
		return l.appendSealed(e, now, level, t)
	}
	buffered := l.opts.Durability == DurabilityBuffered
	l.lockAppend()
	if err := l.admitLocked(); err != nil {
		l.mu.Unlock()
		return 0, Hash{}, nil, err
	}
	// Under the lock: the seq, the leaf hash (the seq is the entry's last
	// field) and the chain. The frame is completed in e.frame and copied
	// into the chunk: by a Buffered caller after unlocking, and the writer
	// waits for that copy; by a Sync caller before. Sync callers (64 in
	// the benchmark, on 2 Ps) wake together after each fsync, and one
	// preempted between its unlock and its copy held up the writer's
	// next group commit. With the copy under the lock, the Sync row's p99
	// latency was lower in each of 14 alternating pairs of runs (1.0-1.9
	// ms against 1.7-2.4 ms); its rate and CPU per entry moved within the
	// noise. Buffered callers gained nothing from it.
	seq := l.size
	e.frame = strconv.AppendUint(e.frame, seq, 10)
	e.frame = append(e.frame, '}')
	e.h.Write(e.frame[frameHeaderSize+len(e.buf):])
	leaf := Hash(e.h.Sum())
	c, off := l.reserveAdmittedLocked(int64(len(e.frame)), now)
	dst := c.data[off : off+len(e.frame)]
	c.data = c.data[:off+len(e.frame)]
	if !buffered {
		chain := l.linkLocked(c, int64(len(e.frame)), leaf, level, t)
		fillFrameHeader(e.frame, seq, &chain)
		copy(dst, e.frame)
		gen := l.gen
		l.mu.Unlock()
		return seq, chain, gen, nil
	}
	c.unfilled.Add(1)
	chain := l.linkLocked(c, int64(len(e.frame)), leaf, level, t)
	gen := l.gen
	flush := l.pendBytes >= flushBytes
	l.mu.Unlock()
	fillFrameHeader(e.frame, seq, &chain)
	copy(dst, e.frame)
	c.unfilled.Add(-1)
	if flush {
		l.flushInline()
	}
	return seq, chain, gen, nil
}

// lockAppend takes l.mu for an append, retrying for a while before it
// queues on the mutex. With more logging goroutines than Ps, a goroutine
// that queues is parked, and parked waiters soon switch the mutex into
// starvation mode, where every Unlock hands the lock over to a waiter and
// yields the unlocking goroutine's P to it: the unlocker goes to the back
// of its P's run queue, behind appenders that each run until they block or
// are preempted. When the unlocker is the writer, which holds l.wmu while
// it writes, logging soon waits for it: in a runtime trace of 8 Buffered
// callers on 2 Ps the writer spent most of its time runnable but not
// running, at that Unlock. The critical section is a few hundred
// nanoseconds, so a short spin usually gets the lock; failing that, a
// Buffered caller yields its P and tries again (yieldTries times) before it
// queues. A Sync caller queues at once: with 64 Sync callers on 2 Ps,
// yielding made the rate 7 to 13% lower and the p99 latency 4.0 to 4.3 ms
// instead of 2.2 to 3.1 ms (three alternating runs), and 4.1 to 4.3 ms
// instead of 1.0 to 1.3 ms once Sync callers filled their frames under
// the lock (four).
func (l *ImmutableLogger) lockAppend() { l.lockUnlessLinked(math.MaxUint64) }

// lockUnlessLinked is lockAppend for a caller whose sealed record seq waits
// to be linked (appendSealed): it takes l.mu and returns true, or returns
// false without it once another caller has linked the record, which the
// holder of a contended lock is often doing.
func (l *ImmutableLogger) lockUnlessLinked(seq uint64) bool {
	for range spinTries {
		if l.linkedN.Load() > seq {
			return false
		}
		if l.mu.TryLock() {
			return true
		}
		//lint:ignore SA4017 the call is the point: a short pause that touches no shared memory
		spinWait(spinLoop)
	}
	yields := yieldTries
	if l.opts.Durability == DurabilitySync {
		// Sync callers wait for an fsync anyway, and many of them
		// yielding keep the writer from a P when its fsync returns.
		yields = 0
	}
	for range yields {
		runtime.Gosched()
		if l.linkedN.Load() > seq {
			return false
		}
		if l.mu.TryLock() {
			return true
		}
	}
	if l.linkedN.Load() > seq {
		return false
	}
	l.mu.Lock()
	return true
}

// spinTries and spinLoop bound lockUnlessLinked's spin, and yieldTries its
// yields after that: a caller that has yielded yieldTries times (a
// millisecond or more, when the lock is held that long) queues instead of
// using its P to wait. Fewer yields (100) before queueing logged 7% less
// in alternating runs; more than 1,000, or no bound, made no difference.
const (
	spinTries  = 40
	spinLoop   = 50
	yieldTries = 1000
)

// spinWait burns a little time without touching shared memory.
//
//go:noinline
func spinWait(n int) (x int) {
	for i := range n {
		x += i ^ x
	}
	return x
}

// appendSealed is append for an encrypted log. Sealing needs the seq (it is
// in the record's additional data) and the leaf hash covers the sealed
// bytes, so a record's seq is taken first, under l.mu, with room for its
// frame; then it is sealed and hashed without the lock, in parallel with
// other callers; last, under l.mu again, every sealed record whose
// predecessors are linked is linked into the chain, in seq order, by
// whichever caller gets there first (linkSealedLocked). A caller whose
// record another caller has linked by then returns without the lock.
func (l *ImmutableLogger) appendSealed(e *encoder, now time.Time, level Level, t int64) (uint64, Hash, *generation, error) {
	l.lockAppend()
	if err := l.admitLocked(); err != nil {
		l.mu.Unlock()
		return 0, Hash{}, nil, err
	}
	// admitLocked may have waited without the lock (backpressure), so the
	// seq is read after it.
	seq := l.size
	if seq >= e.key.stopAt {
		l.mu.Unlock()
		return 0, Hash{}, nil, fmt.Errorf("%w: data key %d has sealed %d records and no new data key could be started; records are refused until one is (RotateDataKey)",
			ErrKeyExhausted, e.key.id, dataKeyHardLimit)
	}
	frameLen := frameHeaderSize + e.overhead + len(e.buf) + digits(seq) + 1
	c, off := l.reserveAdmittedLocked(int64(frameLen), now)
	e.fr = c.data[off : off+frameLen : off+frameLen]
	c.data = c.data[:off+frameLen]
	e.chunk, e.rec, e.seq = c, len(c.recs), seq
	e.sealed.Store(false)
	l.noteLocked(c, int64(frameLen), Hash{}, level, t)
	c.unfilled.Add(1)
	l.unlinked = append(l.unlinked, e)
	gen := l.gen
	l.mu.Unlock()

	e.leaf = l.keys.sealInto(e.fr, e, seq)
	// Published before taking the lock: a caller that links first links
	// this record too, and this caller then need not take the lock.
	e.sealed.Store(true)
	if !l.lockUnlessLinked(seq) {
		return seq, e.chain, gen, nil
	}
	var buf [8]linkedFrame
	done := l.linkSealedLocked(buf[:0])
	linked := l.linked > seq
	l.mu.Unlock()
	// The checksums of the frames linked here, outside the lock.
	for _, d := range done {
		finishFrame(d.fr)
		d.c.unfilled.Add(-1)
	}
	if linked {
		return seq, e.chain, gen, nil
	}
	// A record before this one is still being sealed by its caller, who
	// links this one too. That takes about as long as sealing, so yield a
	// few times before sleeping.
	for range linkYields {
		runtime.Gosched()
		if l.linkedN.Load() > seq {
			return seq, e.chain, gen, nil
		}
	}
	l.mu.Lock()
	for l.linked <= seq {
		l.linkSleepers++
		l.linkCond.Wait()
		l.linkSleepers--
	}
	l.mu.Unlock()
	return seq, e.chain, gen, nil
}

// linkYields is how many times an appender whose sealed record waits for
// the one before it yields before it sleeps.
const linkYields = 8

// A linkedFrame is the frame of a record linkSealedLocked linked, whose
// checksum is still to be computed, in chunk c.
type linkedFrame struct {
	fr []byte
	c  *chunk
}

// linkSealedLocked links the sealed records at the front of l.unlinked, in
// seq order: each one's chain value goes into its frame's header and its
// caller's encoder, and its leaf hash into its chunk's record. It appends
// their frames to done and returns it: the caller completes them (their
// checksums) once it has let go of l.mu.
func (l *ImmutableLogger) linkSealedLocked(done []linkedFrame) []linkedFrame {
	n := 0
	for _, e := range l.unlinked {
		if !e.sealed.Load() {
			break
		}
		e.chain = chainHash(&l.chain, &e.leaf)
		l.chain = e.chain
		e.chunk.recs[e.rec].leaf = e.leaf
		putFrameHeader(e.fr, e.seq, &e.chain)
		done = append(done, linkedFrame{e.fr, e.chunk})
		e.chunk, e.fr = nil, nil
		n++
	}
	if n == 0 {
		return done
	}
	clear(l.unlinked[:n])
	l.unlinked = l.unlinked[:copy(l.unlinked, l.unlinked[n:])]
	l.linked += uint64(n)
	l.linkedN.Store(l.linked)
	if l.linkSleepers > 0 {
		l.linkCond.Broadcast()
	}
	return done
}

// reserveLocked makes room for a frame of frameLen bytes for record l.size:
// it waits while too much is pending, starts a new segment when the active
// one is full or old, and returns the chunk with the frame header reserved
// at off. The caller appends the payload and calls commitLocked.
func (l *ImmutableLogger) reserveLocked(frameLen int64, now time.Time) (*chunk, int, error) {
	if err := l.admitLocked(); err != nil {
		return nil, 0, err
	}
	c, off := l.reserveAdmittedLocked(frameLen, now)
	c.data = c.data[:off+frameHeaderSize] // commitLocked fills it in
	return c, off, nil
}

// admitLocked returns an error if the logger takes no more records, and
// waits (without the lock) while too much is pending: maxPendingBytes wait
// for the writer, besides what it is writing.
func (l *ImmutableLogger) admitLocked() error {
	for {
		if l.closed {
			return ErrClosed
		}
		if l.err != nil {
			return fmt.Errorf("treeoflife: logger failed earlier and accepts no more records: %w", l.err)
		}
		if l.diskFull != nil {
			return fmt.Errorf("treeoflife: record refused until space is available (the logger resumes by itself): %w", l.diskFull)
		}
		if l.pendBytes < maxPendingBytes {
			return nil
		}
		// Until a flush takes what is pending (or ends: it may have
		// failed), which frees the room whether or not it is written yet.
		l.kickLocked()
		l.admitWaiters++
		l.admitCond.Wait()
		l.admitWaiters--
	}
}

// reserveAdmittedLocked starts a new segment when the active one is full or
// old, and returns the chunk and offset where the frame of record l.size, of
// frameLen bytes, goes; the chunk has room for it.
func (l *ImmutableLogger) reserveAdmittedLocked(frameLen int64, now time.Time) (*chunk, int) {
	if l.segRecords > 0 && (l.segBytes+frameLen > l.segLimit ||
		l.segMaxAge > 0 && now.Sub(l.segCreated) >= l.segMaxAge) {
		l.rotateLocked(now)
	}
	need := int(frameLen)
	if len(l.pend) == 0 || cap(l.pend[len(l.pend)-1].data)-len(l.pend[len(l.pend)-1].data) < need {
		// A new chunk rather than a bigger buffer: no copying of what is
		// already queued.
		l.pend = append(l.pend, l.chunkLocked(need))
	}
	c := l.pend[len(l.pend)-1]
	return c, len(c.data)
}

// commitLocked completes the frame at c.data[off:] as record l.size with
// the given leaf hash: it links the chain, fills in the frame header and
// wakes the writer. It returns the record's chain value.
func (l *ImmutableLogger) commitLocked(c *chunk, off int, leaf Hash, level Level, t int64) Hash {
	seq := l.size
	chain := l.linkLocked(c, int64(len(c.data)-off), leaf, level, t)
	fillFrameHeader(c.data[off:], seq, &chain)
	return chain
}

// linkLocked makes the frame of frameLen bytes at the end of c record
// l.size, with the given leaf hash: it links the chain, notes the record
// for the writer (who adds it to the index) and wakes the writer. It
// returns the record's chain value; the caller fills in the frame.
func (l *ImmutableLogger) linkLocked(c *chunk, frameLen int64, leaf Hash, level Level, t int64) Hash {
	chain := chainHash(&l.chain, &leaf)
	l.noteLocked(c, frameLen, leaf, level, t)
	l.chain = chain
	l.linked = l.size
	return chain
}

// noteLocked gives the frame of frameLen bytes at the end of c the seq
// l.size: it notes the record for the writer (who adds it to the index and
// the Merkle tree) and wakes the writer. leaf is the record's leaf hash,
// or zero for a record linked later (appendSealed), which sets it in
// c.recs before the frame is complete.
func (l *ImmutableLogger) noteLocked(c *chunk, frameLen int64, leaf Hash, level Level, t int64) {
	if len(c.recs) == 0 {
		// c.prev, the chain value before the first record, is set by the
		// writer (finishChunk), which links every record before it.
		c.first, c.off, c.idx = l.size, l.segBytes, l.indexes[len(l.indexes)-1]
	}
	c.recs = append(c.recs, chunkRecord{leaf: leaf, t: t, frameLen: int32(frameLen), level: level})
	l.size++
	l.segBytes += frameLen
	l.segRecords++
	l.pendBytes += int(frameLen)
	l.pendRecords++
	if l.pendRecords == l.fullAt {
		select {
		case l.full <- struct{}{}:
		default:
		}
	}
	l.kickLocked()
}

func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func (l *ImmutableLogger) kickLocked() {
	if !l.kicked {
		l.kicked = true
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// rotateLocked ends the active segment at the current size: the records from
// here on go to a new segment whose header carries the current state.
func (l *ImmutableLogger) rotateLocked(now time.Time) {
	h := l.newHeader(now)
	sealed := l.indexes[len(l.indexes)-1]
	l.indexes = append(l.indexes, newSegmentIndex(h.FirstSeq, h.size()))
	c := l.chunkLocked(0)
	c.seg, c.sealed = h, sealed
	l.pend = append(l.pend, c)
	l.segBytes, l.segRecords, l.segCreated = h.size(), 0, now
}

// chunkSize is the size of the buffers records are framed into.
const chunkSize = 256 << 10

// chunkLocked returns an empty chunk with room for need bytes, reusing one
// the writer has finished with when it can.
func (l *ImmutableLogger) chunkLocked(need int) *chunk {
	if need > chunkSize {
		return &chunk{data: make([]byte, 0, need)}
	}
	if n := len(l.freeChunks); n > 0 {
		c := l.freeChunks[n-1]
		l.freeChunks = l.freeChunks[:n-1]
		return c
	}
	return &chunk{data: make([]byte, 0, chunkSize), recs: make([]chunkRecord, 0, chunkSize/256)}
}

// maxFreeChunks is how many finished chunks recycleLocked keeps: as many as
// may be pending, so that a burst that fills them does not leave them all
// to the garbage collector.
const maxFreeChunks = maxPendingBytes / chunkSize

// recycleLocked keeps the writer's finished chunks for reuse.
func (l *ImmutableLogger) recycleLocked(chunks []*chunk) {
	for _, c := range chunks {
		if cap(c.data) == chunkSize && len(l.freeChunks) < maxFreeChunks {
			c.seg, c.sealed, c.data, c.recs, c.idx, c.indexed = nil, nil, c.data[:0], c.recs[:0], nil, false
			l.freeChunks = append(l.freeChunks, c)
		}
	}
}

// finishChunk is the writer's share of appending c's records, done before
// they are written: it waits for their frames to be complete, fills in
// c.seg's chain value and Merkle frontier and c's chain value before its
// first record, and grows the writer's frontier and chain by the records.
func (l *ImmutableLogger) finishChunk(c *chunk) {
	// Buffered appenders copy their frames in right after reserving them,
	// and callers that link sealed records complete them right after
	// linking, so this wait is short; yielding lets one that was
	// preempted finish. (Sync appenders fill their frames under l.mu.)
	for c.unfilled.Load() != 0 {
		runtime.Gosched()
	}
	if c.seg != nil {
		c.seg.PrevChain = l.wchain
		c.seg.Frontier = slices.Clone(l.wfront.hashes)
	}
	if len(c.recs) == 0 {
		return
	}
	c.prev = l.wchain
	l.wleaves = l.wleaves[:0]
	for i := range c.recs {
		l.wleaves = append(l.wleaves, c.recs[i].leaf)
	}
	l.wfront.appendAll(l.wleaves, &l.wscratch)
	last := len(c.data) - int(c.recs[len(c.recs)-1].frameLen)
	l.wchain = Hash(c.data[last+12 : last+44])
}

// indexChunkLocked adds c's records to their segment's index. It runs after
// finishChunk, when every frame is complete: the chain value before each
// record (which an index block starting there records) is in the frame
// before it.
func (l *ImmutableLogger) indexChunkLocked(c *chunk) {
	if c.indexed || len(c.recs) == 0 {
		return
	}
	c.indexed = true
	prev, pos := &c.prev, 0
	for i := range c.recs {
		r := &c.recs[i]
		c.idx.add(c.first+uint64(i), c.off+int64(pos), int64(r.frameLen), r.level, r.t, prev)
		prev = (*Hash)(c.data[pos+12 : pos+44])
		pos += int(r.frameLen)
	}
}

// unindexedLocked calls fn for every record accepted but not yet in an
// index.
func (l *ImmutableLogger) unindexedLocked(fn func(r *chunkRecord)) {
	for _, cs := range [2][]*chunk{l.inflight, l.pend} {
		for _, c := range cs {
			if c.indexed {
				continue
			}
			for i := range c.recs {
				fn(&c.recs[i])
			}
		}
	}
}

// headLocked returns the head of every record linked so far: the writer's
// frontier grown by the leaves it has not taken yet.
func (l *ImmutableLogger) headLocked() Head {
	f := l.front
	if f.n < l.linked {
		f = f.clone()
		for _, cs := range [2][]*chunk{l.inflight, l.pend} {
			for _, c := range cs {
				for i := range c.recs {
					if f.n == l.linked {
						break
					}
					f.append(c.recs[i].leaf)
				}
			}
		}
	}
	return Head{Size: l.linked, Chain: l.chain, Root: f.root()}
}
