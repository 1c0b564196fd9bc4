package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Tail follows the log: it yields the entries that match f that are already
// in the log, then each new matching entry as soon as the writer has written
// it, in order, until ctx ends or the logger is closed. Either ends the
// iteration quietly, without an error, so a range loop simply stops; records
// written before Close are all yielded first. Breaking out of the loop stops
// it too.
//
// With f.Limit set, Tail starts with the newest f.Limit existing matches
// (like tail -n) rather than all of them; it does not cap what follows. To
// follow only new records, set f.FromSeq to Head().Size. With f.ToSeq set,
// Tail ends after the record before it. f.Reverse is an error
// (ErrInvalidFilter), and so is any other invalid filter or query; an error
// reading the log is yielded once and ends the iteration.
func (l *ImmutableLogger) Tail(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if f.Reverse {
			yield(Entry{}, fmt.Errorf("%w: Tail follows the log forwards; Reverse is not allowed", ErrInvalidFilter))
			return
		}
		cf, err := compileFilter(f)
		if err != nil {
			yield(Entry{}, err)
			return
		}
		v, changed, err := l.view()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		// fail yields a read error; ctx ending is not one.
		fail := func(err error) {
			if ctx.Err() == nil {
				yield(Entry{}, err)
			}
		}
		stopped := false
		emit := func(e *Entry) bool {
			if !yield(*e, nil) {
				stopped = true
			}
			return !stopped
		}
		if cf.limit > 0 {
			backlog, err := newestIn(ctx, v, l.opener(), cf, cf.limit)
			if err != nil {
				fail(err)
				return
			}
			for i := range backlog {
				if !emit(&backlog[i]) {
					return
				}
			}
		} else if err := forwardIn(ctx, v, l.opener(), cf, emit); err != nil || stopped {
			if err != nil {
				fail(err)
			}
			return
		}
		next := v.Size
		final := false
		for !final && next < cf.to {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				v, changed, err = l.view()
				if errors.Is(err, ErrClosed) {
					v, final = l.closedView(), true
				} else if err != nil {
					fail(err)
					return
				}
			case <-l.quit:
				v, final = l.closedView(), true
			}
			if v.Size <= next {
				continue
			}
			cf.from = max(cf.from, next)
			if err := forwardIn(ctx, v, l.opener(), cf, emit); err != nil {
				fail(err)
				return
			}
			if stopped {
				return
			}
			next = v.Size
		}
	}
}

// closedView is the final view of a closed logger: everything its writer
// wrote before it stopped.
func (l *ImmutableLogger) closedView() *readView {
	<-l.writerDone
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.viewLocked(l.written)
}

// forwardIn emits the matches in v in order.
func forwardIn(ctx context.Context, v *readView, open payloadOpener, cf *compiledFilter, emit func(*Entry) bool) error {
	s := newScan(ctx, v, open, cf)
	defer s.close()
	return s.run(false, emit)
}

// readerTailPoll is how often Reader.Tail looks for new records.
var readerTailPoll = 200 * time.Millisecond

// Tail is ImmutableLogger.Tail for a log that another process may be
// writing: it yields the matching entries already on disk (the newest
// f.Limit of them when f.Limit is set), then polls the directory every
// 200 ms and yields each new matching record once it is complete on disk,
// in order. It ends quietly when ctx ends, when the Reader is closed, or
// after the record before f.ToSeq; breaking out of the loop stops it too.
// f.Reverse is an error (ErrInvalidFilter), as is any other invalid filter
// or query. An error reading the log (damage, an encrypted log: see
// Reader) is yielded once and ends the iteration.
func (r *Reader) Tail(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if f.Reverse {
			yield(Entry{}, fmt.Errorf("%w: Tail follows the log forwards; Reverse is not allowed", ErrInvalidFilter))
			return
		}
		cf, err := compileFilter(f)
		if err != nil {
			yield(Entry{}, err)
			return
		}
		v, err := r.snapshot()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		fail := func(err error) {
			if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
				yield(Entry{}, err)
			}
		}
		stopped := false
		emit := func(e *Entry) bool {
			if !yield(*e, nil) {
				stopped = true
			}
			return !stopped
		}
		if cf.limit > 0 {
			backlog, err := newestIn(ctx, v, r.opener(), cf, cf.limit)
			if err != nil {
				fail(err)
				return
			}
			for i := range backlog {
				if !emit(&backlog[i]) {
					return
				}
			}
		} else if err := forwardIn(ctx, v, r.opener(), cf, emit); err != nil || stopped {
			if err != nil {
				fail(err)
			}
			return
		}
		next := v.Size
		t := time.NewTicker(readerTailPoll)
		defer t.Stop()
		for next < cf.to {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			v, err = r.snapshot()
			if err != nil {
				fail(err)
				return
			}
			if v.Size <= next {
				continue
			}
			cf.from = max(cf.from, next)
			if err := forwardIn(ctx, v, r.opener(), cf, emit); err != nil {
				fail(err)
				return
			}
			if stopped {
				return
			}
			next = v.Size
		}
	}
}
