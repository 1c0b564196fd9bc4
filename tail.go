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
		t := newTailer(ctx, f, nil, yield, func(error) bool { return false })
		if t == nil {
			return
		}
		v, changed, err := l.view()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		t.open = l.opener() // a closed or zero logger has none: view said so
		if !t.backlog(v) {
			return
		}
		next := v.Size
		final := false
		for !final && next < t.cf.to {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				v, changed, err = l.view()
				if errors.Is(err, ErrClosed) {
					v, final = l.closedView(), true
				} else if err != nil {
					t.fail(err)
					return
				}
			case <-l.quit:
				v, final = l.closedView(), true
			}
			if !t.after(v, &next) {
				return
			}
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
		// A Reader closed meanwhile ends the tail quietly.
		t := newTailer(ctx, f, r.opener(), yield, func(err error) bool { return errors.Is(err, ErrClosed) })
		if t == nil {
			return
		}
		v, err := r.snapshot()
		if err != nil {
			yield(Entry{}, err)
			return
		}
		if !t.backlog(v) {
			return
		}
		next := v.Size
		tick := time.NewTicker(readerTailPoll)
		defer tick.Stop()
		for next < t.cf.to {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			v, err = r.snapshot()
			if err != nil {
				t.fail(err)
				return
			}
			if !t.after(v, &next) {
				return
			}
		}
	}
}

// A tailer is what ImmutableLogger.Tail and Reader.Tail share: the
// compiled filter, the consumer, and how a tail ends.
type tailer struct {
	ctx     context.Context
	cf      *compiledFilter
	open    payloadOpener
	yield   func(Entry, error) bool
	quiet   func(error) bool // errors that end the tail without being yielded
	stopped bool             // the consumer broke out of its loop
}

// newTailer checks and compiles f; it yields the error and returns nil
// when f cannot be followed.
func newTailer(ctx context.Context, f Filter, open payloadOpener, yield func(Entry, error) bool, quiet func(error) bool) *tailer {
	if f.Reverse {
		yield(Entry{}, fmt.Errorf("%w: Tail follows the log forwards; Reverse is not allowed", ErrInvalidFilter))
		return nil
	}
	cf, err := compileFilter(f)
	if err != nil {
		yield(Entry{}, err)
		return nil
	}
	return &tailer{ctx: ctx, cf: cf, open: open, yield: yield, quiet: quiet}
}

// fail yields a read error; the end of ctx is not one.
func (t *tailer) fail(err error) {
	if t.ctx.Err() == nil && !t.quiet(err) {
		t.yield(Entry{}, err)
	}
}

func (t *tailer) emit(e *Entry) bool {
	if !t.yield(*e, nil) {
		t.stopped = true
	}
	return !t.stopped
}

// backlog yields the matches already in v: the newest cf.limit of them,
// or all of them, in order. It reports whether the tail goes on.
func (t *tailer) backlog(v *readView) bool {
	if t.cf.limit > 0 {
		entries, err := newestIn(t.ctx, v, t.open, t.cf, t.cf.limit)
		if err != nil {
			t.fail(err)
			return false
		}
		for i := range entries {
			if !t.emit(&entries[i]) {
				return false
			}
		}
		return true
	}
	if err := forwardIn(t.ctx, v, t.open, t.cf, t.emit); err != nil {
		t.fail(err)
		return false
	}
	return !t.stopped
}

// after yields the matches in v from *next on and moves *next to the end
// of v. It reports whether the tail goes on.
func (t *tailer) after(v *readView, next *uint64) bool {
	if v.Size <= *next {
		return true
	}
	t.cf.from = max(t.cf.from, *next)
	if err := forwardIn(t.ctx, v, t.open, t.cf, t.emit); err != nil {
		t.fail(err)
		return false
	}
	*next = v.Size
	return !t.stopped
}
