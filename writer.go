package treeoflife

// The writer goroutine: it writes what the appenders queued, in order,
// fsyncs as the durability mode asks (group commit), and fails closed on an
// error it cannot recover from.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// run is the writer goroutine: it takes everything accepted so far, writes
// it, fsyncs when the durability mode asks, and completes the generation.
func (l *ImmutableLogger) run() {
	defer close(l.writerDone)
	tick := time.NewTicker(l.opts.FlushInterval)
	defer tick.Stop()
	var groupWait *time.Timer
	// While the disk is full, retry every diskFullRetry (retryC is nil
	// otherwise, and never fires).
	retry := time.NewTimer(diskFullRetry)
	retry.Stop()
	defer retry.Stop()
	var retryC <-chan time.Time
	l.wmu.Lock() // an appender may flush already (flushInline)
	stalled := len(l.stalled) > 0
	l.wmu.Unlock()
	if stalled { // opened on a full disk
		retry.Reset(diskFullRetry)
		retryC = retry.C
	}
	for {
		stop, timed := false, false
		select {
		case <-l.kick:
		case <-tick.C:
			timed = true
		case <-retryC:
		case <-l.quit:
			stop = true
		}
		pending, wait := 0, false
		if !stop && !timed {
			pending, wait = l.waitForGroup()
		}
		if wait {
			// Wait (briefly) for the rest of the group to arrive: for as
			// long as it keeps arriving, up to groupWaitMax in all.
			start := time.Now()
			for wait {
				if groupWait == nil {
					groupWait = time.NewTimer(groupWaitIdle)
				} else {
					groupWait.Reset(groupWaitIdle)
				}
				select {
				case <-l.full:
					wait = false
				case <-groupWait.C:
					last := pending
					pending, wait = l.waitForGroup()
					wait = wait && pending > last && time.Since(start) < groupWaitMax
				case <-l.quit:
					stop, wait = true, false
				}
				groupWait.Stop()
			}
		}
		l.wmu.Lock()
		n := l.flush(stop, timed)
		if stop {
			l.stopped = true
		}
		stalled := len(l.stalled) > 0
		l.wmu.Unlock()
		if stop {
			return
		}
		retryC = nil
		if stalled {
			retry.Reset(diskFullRetry)
			retryC = retry.C
		}
		if l.opts.Durability == DurabilitySync && n > 1 {
			l.expectGroup(n)
		}
	}
}

// groupWaitIdle and groupWaitMax bound how long the Sync writer waits for
// the callers of the last group commit to log again before it writes what
// it has: it stops waiting when none arrives within groupWaitIdle, a
// fraction of an fsync, so that a caller that does not come back costs the
// others little; and after groupWaitMax in all. Many callers on few CPUs
// take longer than groupWaitIdle to come back, and a group written before
// they all have is followed by a second fsync for the rest, which costs
// more than the wait.
const (
	groupWaitIdle = 200 * time.Microsecond
	groupWaitMax  = 1 * time.Millisecond
)

// expectGroup tells linkLocked to signal l.full once the n callers the
// writer has just woken have logged again, on top of the records already
// pending: in Sync mode they usually log again at once, and one group
// commit for all the waiting callers, rather than two half-sized ones that
// alternate (one filling while the other is fsynced), halves the fsyncs
// per record.
func (l *ImmutableLogger) expectGroup(n int) {
	select {
	case <-l.full: // a stale signal
	default:
	}
	l.mu.Lock()
	l.fullAt = l.pendRecords + n
	l.mu.Unlock()
}

// waitForGroup returns the number of pending records and reports whether
// the writer should wait for l.full before taking them: an expected group
// is not complete yet.
func (l *ImmutableLogger) waitForGroup() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pendRecords, l.fullAt > 0 && l.pendRecords < l.fullAt && !l.syncRequested && l.err == nil
}

// flushBytes is how much a Buffered logger lets pile up before an appender
// writes it itself rather than leave it to the writer goroutine.
const flushBytes = chunkSize

// flushInline writes what is pending from an appender's goroutine, unless
// someone is writing already. With more busy logging goroutines than Ps, the
// writer goroutine gets only its turn on a P, less than a fast producer
// needs; work done by an appender is done when it is due.
func (l *ImmutableLogger) flushInline() {
	if l.wmu.TryLock() {
		l.flush(false, false)
		l.wmu.Unlock()
	}
}

// flush takes everything accepted so far, writes it, fsyncs when the
// durability mode (or stop, or a timed flush, or Sync) asks, and completes
// the generation. It returns the number of records it took. l.wmu held.
func (l *ImmutableLogger) flush(stop, timed bool) int {
	if l.stopped {
		return 0 // Close has written everything and closes the file
	}
	l.lockAppend()
	if timed && l.opts.SegmentMaxAge > 0 && l.segRecords > 0 && l.err == nil && l.diskFull == nil {
		if now := l.opts.Clock(); now.Sub(l.segCreated) >= l.opts.SegmentMaxAge {
			l.rotateLocked(now)
		}
	}
	chunks, gen, records := l.pend, l.gen, l.pendRecords
	l.pend, l.pendBytes, l.pendRecords, l.fullAt, l.gen, l.kicked = nil, 0, 0, 0, newGeneration(), false
	l.inflight = chunks
	syncReq := l.syncRequested
	l.syncRequested = false
	// Every record with a seq is in chunks; the chain value after them is
	// known once they are all linked, which finishChunk waits for.
	gen.end = writtenState{size: l.size}
	failed, full := l.err, l.diskFull
	if l.admitWaiters > 0 {
		l.admitCond.Broadcast()
	}
	l.mu.Unlock()

	// The frontier is grown even when nothing is written (after a
	// failure), so that Head stays right.
	for _, c := range chunks {
		l.finishChunk(c)
	}
	gen.end.chain = l.wchain
	if len(chunks) > 0 || len(l.stalled) > 0 {
		gen.end.front = l.wfront.clone()
	}
	if len(chunks) > 0 {
		// Before the write: a segment sealed there writes its index.
		l.lockAppend()
		for _, c := range chunks {
			l.indexChunkLocked(c)
		}
		l.mu.Unlock()
	}
	err := failed
	todo, wrote := chunks, []*chunk(nil)
	if len(l.stalled) > 0 {
		// Records a full disk held back go first: the order is the chain's.
		todo = append(l.stalled, chunks...)
	}
	if err == nil {
		if full != nil && !stop && time.Since(l.lastTry) < diskFullRetry {
			// The disk was full a moment ago: retry at a bounded rate.
			err = full
			l.stalled = todo
		} else {
			doSync := l.opts.Durability == DurabilitySync || syncReq || stop ||
				timed && time.Since(l.lastSync) >= l.opts.FlushInterval
			var n int
			n, err = l.write(todo, doSync)
			wrote, l.stalled = todo[:n], nil
			l.obs.noteWritten(wrote)
			l.obs.noteGroup(records)
			switch {
			case errors.Is(err, ErrDiskFull) && !stop:
				l.stalled, l.lastTry = todo[n:], time.Now()
			case err != nil:
				if errors.Is(err, ErrDiskFull) {
					err = fmt.Errorf("closing with %d chunks of records unwritten: %w", len(todo)-n, err)
				}
				l.fail(err)
			}
		}
	}
	l.lockAppend()
	if len(chunks) > 0 {
		l.front = gen.end.front
	}
	l.inflight = nil
	l.recycleLocked(wrote)
	if errors.Is(err, ErrDiskFull) && l.err == nil {
		if l.diskFull == nil {
			l.log.Error("disk full: records are refused until space is available; accepted records are kept in order and written then", "err", err)
		}
		l.diskFull = err
	} else if err == nil && l.diskFull != nil {
		l.diskFull = nil
		l.log.Info("space is available again: the records held back are written and logging resumes", "size", gen.end.size)
	}
	advanced := false
	if err == nil && len(todo) > 0 {
		gen.end.segSeq, gen.end.segLen = l.fSeq, l.fLen
		l.written = gen.end
		advanced = true
	}
	if err == nil && !l.dirty && l.durable.size != l.written.size {
		l.durable = l.written
		advanced = true
	}
	if advanced {
		close(l.committed)
		l.committed = make(chan struct{})
	}
	if l.admitWaiters > 0 {
		l.admitCond.Broadcast() // the state they wait on may have changed: l.err, l.diskFull
	}
	l.mu.Unlock()
	gen.err = err
	close(gen.done)
	return records
}

// write writes the chunks in order, sealing and starting segments where they
// say, and fsyncs the open segment if doSync. It returns how many chunks it
// wrote whole. When the disk is full (the error is ErrDiskFull), the file
// ends after them: the part of the next one that was written is cut off,
// and the caller may call write again with the rest once there is space.
func (l *ImmutableLogger) write(chunks []*chunk, doSync bool) (int, error) {
	for i, c := range chunks {
		if c.seg != nil {
			if err := l.cut(c.seg, c.sealed); err != nil {
				// Once the old segment is sealed (l.f is nil), what is
				// left (CHECKPOINT, the new segment) can be retried; a
				// failure to seal it, its fsync, cannot.
				if l.f == nil && isNoSpace(err) {
					err = fmt.Errorf("%w: %w", ErrDiskFull, err)
				}
				return i, err
			}
			c.seg, c.sealed = nil, nil // done: a retry only writes the records
		}
		if len(c.data) > 0 {
			start := l.fLen
			n, err := l.f.Write(c.data)
			l.fLen += int64(n)
			l.dirty = true
			if err != nil {
				err = l.segmentErr("write", err)
				if !isNoSpace(err) {
					return i, err
				}
				// Cut off what part of the chunk was written: the file
				// ends with a whole frame, and the retry writes it again.
				if terr := l.f.Truncate(start); terr != nil {
					return i, fmt.Errorf("%w; cutting the partial write off failed: %w", err, l.segmentErr("truncate", terr))
				}
				l.fLen = start
				return i, fmt.Errorf("%w: %w", ErrDiskFull, err)
			}
		}
	}
	if !doSync {
		l.startWriteback()
	}
	if doSync && l.dirty {
		// A failed fsync is final, even for ENOSPC: see fail.
		start := time.Now()
		err := l.f.Sync()
		l.obs.noteFsync(time.Since(start))
		if err != nil {
			return len(chunks), l.segmentErr("fsync", err)
		}
		l.dirty = false
		l.lastSync = time.Now()
		l.synced.note(l.dir, l.logID, l.fSeq, l.fLen)
	}
	return len(chunks), nil
}

// writebackBytes is how much of the open segment a write that is not
// fsynced at once (Buffered) leaves before it asks the kernel to start
// writing it to the device (startWriteback). Smaller hints, down to one per
// 256 KiB chunk, cost more than they save on a CPU-bound logger.
const writebackBytes = 4 << 20

// startWriteback has the kernel start writing the open segment's bytes
// that were written since it last did, in whole 4 KiB pages, once there
// are writebackBytes of them. Without it a Buffered logger's timed fsync,
// and the fsync that seals a segment, find everything since the last one
// still to be written, and the writer waits for all of it while callers
// fill the pending room and then wait too: 20% or more of the wall time
// at a few hundred MB/s. It makes nothing durable; what is durable still
// waits for the fsync (and SYNCED). l.wmu held.
func (l *ImmutableLogger) startWriteback() {
	if l.f == nil {
		return
	}
	if l.wbFile != l.f {
		l.wbFile, l.wbAt = l.f, 0
	}
	// Whole pages only: a page that is being written to the device may
	// make the next write to it wait.
	end := l.fLen &^ (4<<10 - 1)
	if end-l.wbAt < writebackBytes {
		return
	}
	_ = fileutil.StartWriteback(l.f, l.wbAt, end-l.wbAt) // a hint: the fsync decides
	l.wbAt = end
}

// diskFullRetry is how often a logger whose disk is full tries to write the
// records it holds back: a write of them is the probe, and costs a system
// call when the disk is still full.
const diskFullRetry = 200 * time.Millisecond

// isNoSpace reports whether err says the file system (or the user's quota)
// is full: a write that may succeed later, unlike an I/O error.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// segmentErr returns err from op on the open segment, naming the segment's
// file: its *os.File was created under the temporary name it had before
// the rename, which the error would name otherwise.
func (l *ImmutableLogger) segmentErr(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &os.PathError{Op: op, Path: filepath.Join(l.dir, segmentName(l.fSeq)), Err: err}
}

// fail records the first write or fsync error other than a full disk. From
// then on the logger accepts nothing until it is closed and opened again:
// after a failed fsync the kernel may have dropped the dirty pages (and
// marked them clean), so a retried fsync could succeed and acknowledge
// records that are not on disk; an I/O error on a write says the same of
// the device. A full disk is different: a write that fails with ENOSPC
// leaves nothing dirty behind it once the partial write is cut off, so
// the writer holds the records and retries (see ErrDiskFull).
func (l *ImmutableLogger) fail(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = err
	}
	l.mu.Unlock()
	if first {
		l.log.Error("write failed; the logger now refuses new records", "err", err)
		l.alert(AlertFailedClosed, err, "a write failed: the logger refuses new records until it is closed and opened again")
	}
}
