package treeoflife

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Parallel verification. Checking a record costs three SHA-256s: its leaf
// hash, its chain link, and on average one Merkle node. The first two need
// nothing from the records before it but the chain value stored in the
// previous frame (which, once that frame has passed, is the verified one),
// and a run of leaves reduces to the roots of a few perfect subtrees
// without the tree before it; only stitching those roots onto the frontier
// is sequential, and it is a few hashes per batch of records.
//
// So verification is a pipeline. Readers (one per segment, a few segments
// at once) read a segment in large buffers, check each frame's length,
// checksum and seq, and hand the batch to the workers (verify_pipeline.go),
// which hash it: leaf and chain of every record, and the Merkle subtrees
// over its leaves. The caller's goroutine takes the
// segments and batches in the order of the log, checks each segment header
// against the state the previous segment ended in (checkHeader), stitches
// the subtree roots onto the frontier, and checks the pins. The first
// failure in the order of the log is the one reported, with the head it was
// found at, exactly as verifying record after record does. Memory grows
// with the number of workers (a buffer of verifyBatchBytes each, and a
// few), not with the log.

// verifyWorkers is how many goroutines hash records during Verify.
func verifyWorkers() int { return runtime.GOMAXPROCS(0) }

// verifyBatchBytes is the size of the buffers segments are read in; a
// frame larger than that gets a buffer of its own.
const verifyBatchBytes = 512 << 10

// verifyReaders is the most compressed segments read at once, enough to
// keep the workers fed: decompressing costs more than hashing. Plain
// segments are read one at a time, which keeps up with the workers, so
// that every buffer serves the segment being stitched rather than wait,
// hashed, for the caller to reach a later one.
const verifyReaders = 4

// parallel verifies segs with workers goroutines hashing, as far as the
// segments of lim's snapshot go, leaving v in the state after the last one,
// and returns the segments it did not take (written after the snapshot):
// the caller goes on with them in order. batchBytes is the read buffer
// size (verifyBatchBytes; tests pass small ones).
func (v *verifier) parallel(ctx context.Context, segs []segmentFile, lim *verifyLimit, workers, batchBytes int) ([]segmentFile, error) {
	n := len(segs)
	if lim != nil {
		n = sort.Search(len(segs), func(i int) bool { return segs[i].FirstSeq > lim.SegmentSeq })
	}
	if n == 0 {
		return segs, nil
	}
	readers := 1
	if slices.ContainsFunc(segs[:n], func(sf segmentFile) bool { return sf.Compressed }) {
		readers = min(workers, verifyReaders)
	}
	p := newPipeline(ctx, v.dir, lim, workers, readers, batchBytes)
	defer p.stop()
	p.start(segs[:n])
	for i := range n {
		if err := v.stitchSegment(ctx, segs[i], p.queues[i]); err != nil {
			return nil, err
		}
	}
	return segs[n:], nil
}

// stitchSegment takes the header and the hashed batches of sf from q, in
// order, and advances v over them.
func (v *verifier) stitchSegment(ctx context.Context, sf segmentFile, q chan *vbatch) error {
	first := true
	for {
		var b *vbatch
		var ok bool
		select {
		case b, ok = <-q:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			if err := ctx.Err(); err != nil {
				return err // the reader stopped early
			}
			return nil
		}
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.skipped {
			// Not hashed: the verification was cancelled.
			if err := ctx.Err(); err != nil {
				return err
			}
			return context.Canceled
		}
		err := v.stitch(sf, b, first)
		first = false
		b.release()
		if err != nil {
			return err
		}
	}
}

// stitch advances v over one item of sf's queue: its header (the first),
// or a batch of records.
func (v *verifier) stitch(sf segmentFile, b *vbatch, first bool) error {
	if first {
		if b.openErr != nil {
			return segmentOpenError(sf, v.size, b.openErr)
		}
		return v.checkHeader(sf, &b.hdr)
	}
	good := uint64(b.good)
	end := v.size + good
	if good > 0 {
		if v.next < len(v.pins) && v.pins[v.next].size < end {
			// A pin falls inside the batch: record by record, to
			// compare the state at its size.
			for i := range b.good {
				v.frontier.append(b.leaves[i])
				copy(v.chain[:], b.storedChain(i))
				v.size++
				if v.next < len(v.pins) && v.pins[v.next].size <= v.size {
					if err := v.checkPins(sf.Name, v.size-1, b.offset(i)); err != nil {
						return err
					}
				}
			}
		} else {
			for _, r := range b.roots {
				v.frontier.appendSubtree(r.level, r.hash)
			}
			v.size = end
			copy(v.chain[:], b.storedChain(b.good-1))
			if v.next < len(v.pins) && v.pins[v.next].size <= v.size {
				if err := v.checkPins(sf.Name, v.size-1, b.offset(b.good-1)); err != nil {
					return err
				}
			}
		}
	}
	if b.chainErr != nil {
		return b.chainErr
	}
	return b.fail
}

// appendSubtree adds the root h of a perfect subtree of 2^level leaves,
// which must start where the tree ends (f.n a multiple of 2^level): the
// same frontier as appending its leaves one by one.
func (f *frontier) appendSubtree(level int, h Hash) {
	for n := f.n >> level; n&1 == 1; n >>= 1 {
		last := len(f.hashes) - 1
		h = nodeHash(&f.hashes[last], &h)
		f.hashes = f.hashes[:last]
	}
	f.hashes = append(f.hashes, h)
	f.n += 1 << level
}

// pipeline is the readers and workers of one parallel verification.
type pipeline struct {
	ctx        context.Context
	cancel     context.CancelFunc
	dir        string
	lim        *verifyLimit
	batchBytes int
	queues     []chan *vbatch // per segment, in the order of the log
	perReader  int            // buffers per reader slot
	slots      chan *readerSlot
	work       chan *vbatch
	readers    sync.WaitGroup // the dispatcher and the readers
	workers    sync.WaitGroup
}

// readerSlot is one segment reader's set of buffers; a reader takes a slot
// for a segment and gives it back when it has read the segment. Buffers
// come back to their slot's free list once the caller has stitched them.
type readerSlot struct {
	free chan *vbatch
	size int // the buffers' size: a larger one (a large frame) is dropped once stitched
}

func newPipeline(ctx context.Context, dir string, lim *verifyLimit, workers, readers, batchBytes int) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	// Each reader has a buffer being filled, one waiting for the caller,
	// and twice its share of the workers (one being hashed, one queued
	// for each): about 2*(workers+readers) buffers in all.
	perReader := 2 + 2*((workers+readers-1)/readers)
	p := &pipeline{ctx: ctx, cancel: cancel, dir: dir, lim: lim, batchBytes: batchBytes, perReader: perReader,
		slots: make(chan *readerSlot, readers), work: make(chan *vbatch, readers*perReader)}
	for range readers {
		s := &readerSlot{free: make(chan *vbatch, perReader), size: batchBytes}
		for range perReader {
			s.free <- &vbatch{slot: s}
		}
		p.slots <- s
	}
	for range workers {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			var h batchHasher
			for b := range p.work {
				if p.ctx.Err() == nil {
					h.hash(b)
				} else {
					b.skipped = true
				}
				close(b.done)
			}
		}()
	}
	return p
}

// start reads segs, each in a goroutine of its own once a slot is free, in
// the order of the log.
func (p *pipeline) start(segs []segmentFile) {
	p.queues = make([]chan *vbatch, len(segs))
	for i := range p.queues {
		// A segment's queue holds at most its slot's buffers and the
		// header: sends never block.
		p.queues[i] = make(chan *vbatch, p.perReader+1)
	}
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		for i, sf := range segs {
			var s *readerSlot
			select {
			case s = <-p.slots:
			case <-p.ctx.Done():
				return
			}
			p.readers.Add(1)
			go func() {
				defer p.readers.Done()
				defer func() { p.slots <- s }()
				defer close(p.queues[i])
				p.readSegment(sf, s, p.queues[i])
			}()
		}
	}()
}

// stop ends the readers and workers (at a failure, or when the caller is
// done) and waits for them.
func (p *pipeline) stop() {
	p.cancel()
	p.readers.Wait()
	close(p.work)
	p.workers.Wait()
}
