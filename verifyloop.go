package treeoflife

import (
	"context"
	"fmt"
	"time"
)

// verifyCPUShare bounds the CPU a background verification pass takes: it
// pauses, after each stretch of work, for (1-share)/share times as long as
// the work took. Wall time is counted as work, so the pass uses at most
// this share of one core, whatever else the process does.
const verifyCPUShare = 0.10

// verifyResume is where the next incremental pass starts: the first
// segment it has not verified whole and sealed, and the verifier's state at
// the start of that segment.
type verifyResume struct {
	segSeq   uint64
	size     uint64
	chain    Hash
	frontier frontier
	verified uint64 // the size the pass verified up to
}

// verifyLoop runs a background verification pass every VerifyInterval:
// incremental passes, which read only the segments written since the last
// pass (from the one that was active then), and every FullVerifyEvery-th
// pass, and the first, a full one, which re-reads every segment and index
// file. A pass that outlasts the interval delays the next.
func (l *ImmutableLogger) verifyLoop() {
	defer l.obs.loops.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTimer(l.opts.VerifyInterval)
	defer t.Stop()
	for pass := 0; ; pass++ {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		full := pass%l.opts.FullVerifyEvery == 0
		if err := l.verifyPass(ctx, full); err != nil && !isContextErr(err) {
			l.log.Error("background verification failed", "full", full, "err", err)
		}
		t.Reset(l.opts.VerifyInterval)
	}
}

// pacer pauses a verification so that it uses at most verifyCPUShare of a
// core.
type pacer struct {
	last  time.Time
	timer *time.Timer
}

func (p *pacer) pace(ctx context.Context) error {
	work := time.Since(p.last)
	pause := time.Duration(float64(work) * (1 - verifyCPUShare) / verifyCPUShare)
	if p.timer == nil {
		p.timer = time.NewTimer(pause)
	} else {
		p.timer.Reset(pause)
	}
	select {
	case <-p.timer.C:
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
	p.last = time.Now()
	return nil
}

// verifyPass verifies the written records, from the start (full) or from
// where the last successful pass left off, with paced CPU, and records the
// outcome (LastVerify, AlertTamper).
func (l *ImmutableLogger) verifyPass(ctx context.Context, full bool) error {
	start := time.Now()
	from := l.obs.resume
	if full {
		from = nil
	}
	l.cutMu.RLock()
	size, err := l.verifyFrom(ctx, from, full)
	l.cutMu.RUnlock()
	l.noteVerify(start, size, full, err)
	return err
}

// verifyFrom verifies the log on disk up to what the writer has written,
// starting at from (nil: the first segment), checking it against the local
// checkpoint and, when full, the index files it commits to. On success it
// moves l.obs.resume to the start of the last segment it read. It returns
// the number of records verified up to.
func (l *ImmutableLogger) verifyFrom(ctx context.Context, from *verifyResume, full bool) (uint64, error) {
	p := &pacer{last: time.Now()}
	hdr, id, raw, err := readHeaderRaw(l.dir)
	if err != nil {
		return 0, fmt.Errorf("treeoflife: %s: %w", l.dir, err)
	}
	segs, st, err := listKept(l.dir, &id)
	if err != nil {
		return 0, err
	}
	if st != nil && from != nil && from.segSeq < st.First {
		from = nil // cut since: start again where the log now begins
	}
	cp, err := readCheckpoint(l.dir, id)
	if err != nil {
		return 0, err
	}
	if err := checkCheckpointHeader(cp, headerDigest(raw), len(segs) > 0); err != nil && !headerInTransit(l.dir, cp) {
		return 0, err
	}
	var pins []pin
	if cp != nil {
		pins = append(pins, cp.pin("the checkpoint in CHECKPOINT"))
	}
	// The limit is taken after CHECKPOINT is read, as in VerifyWith.
	l.mu.Lock()
	w := l.written
	l.mu.Unlock()
	lim := &verifyLimit{Head: Head{Size: w.size, Chain: w.chain, Root: w.front.root()}, SegmentSeq: w.segSeq, SegmentLen: w.segLen}
	if from != nil && from.verified == w.size {
		return w.size, nil // nothing new since the last pass
	}

	if len(segs) == 0 {
		return 0, &TamperError{Seq: 0, Offset: -1, Reason: "the log has no segment files"}
	}
	v, err := startVerifier(l.dir, id, segs, st)
	if err != nil {
		return 0, err
	}
	v.pace = p.pace
	if from != nil {
		v.size, v.chain, v.frontier = from.size, from.chain, from.frontier.clone()
	}
	v.pins = sortPins(pins)
	if err := v.checkPins("", v.size, -1); err != nil {
		return v.size, err
	}
	if len(segs) == 0 {
		return 0, &TamperError{Seq: 0, Offset: -1, Reason: "the log has no segment files"}
	}
	var next *verifyResume
	for _, sf := range segs {
		if from != nil && sf.FirstSeq < from.segSeq {
			continue // verified whole and sealed by an earlier pass
		}
		if v.size >= lim.Head.Size && sf.FirstSeq > lim.SegmentSeq {
			break // written after the snapshot
		}
		limit := int64(-1)
		if sf.FirstSeq == lim.SegmentSeq {
			limit = lim.SegmentLen
		}
		next = &verifyResume{segSeq: sf.FirstSeq, size: v.size, chain: v.chain, frontier: v.frontier.clone()}
		if err := v.segment(ctx, sf, limit, lim); err != nil {
			return v.size, err
		}
		if err := p.pace(ctx); err != nil {
			return v.size, err
		}
	}
	h := v.head()
	if h.Size < lim.Head.Size {
		return h.Size, &TamperError{Seq: h.Size, Offset: -1,
			Reason: fmt.Sprintf("log ends after %d records but the logger has written %d (records cut off the tail)", h.Size, lim.Head.Size)}
	}
	if h != lim.Head {
		return h.Size, &TamperError{Seq: h.Size, Offset: -1, Reason: "the log on disk does not match the logger's head (rewritten history)"}
	}
	if len(v.pins) > 0 {
		if last := v.pins[len(v.pins)-1]; last.size > h.Size {
			return h.Size, &TamperError{Seq: h.Size, Offset: -1,
				Reason: fmt.Sprintf("log ends after %d records but %s records %d (records cut off the tail, or the log rolled back)", h.Size, last.source, last.size)}
		}
	}
	if full && cp != nil {
		if err := verifyIndexFiles(l.dir, segs, cp.Indexes, hdr.Encryption != nil, st.cut()); err != nil {
			return h.Size, err
		}
	}
	if next != nil {
		next.verified = h.Size
		l.obs.resume = next
	}
	return h.Size, nil
}
