package treeoflife

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Parallel verification. Each segment's header holds the chain value and
// the Merkle frontier that the records before it end in, so a segment can
// be verified on its own, from its header, while others are. The results
// are then stitched in order: each header must equal the state the
// previous segment ended in (checkHeader, as in order), and the first
// failure in the order of the log is the one reported, with the head it was
// found at, exactly as verifying the segments one after the other does.
// Memory grows with the number of workers, not with the log.

// verifyWorkers is how many segments Verify reads at once.
func verifyWorkers() int { return runtime.GOMAXPROCS(0) }

// segmentCheck is the outcome of verifying one segment from its header.
type segmentCheck struct {
	done    chan struct{}
	openErr error         // openSegment's error: the header is unknown
	hdr     segmentHeader // valid when openErr is nil
	end     *verifier     // the state after its records (or at its failure)
	err     error         // a failure in its records
}

// parallel verifies segs in parallel as far as the segments of lim's
// snapshot go, leaving v in the state after the last one, and returns the
// segments it did not take (written after the snapshot): the caller goes on
// with them in order.
func (v *verifier) parallel(ctx context.Context, segs []segmentFile, lim *verifyLimit, workers int) ([]segmentFile, error) {
	n := len(segs)
	if lim != nil {
		n = sort.Search(len(segs), func(i int) bool { return segs[i].FirstSeq > lim.SegmentSeq })
	}
	if n < 2 {
		return segs, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	checks := make([]segmentCheck, n)
	for i := range checks {
		checks[i].done = make(chan struct{})
	}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				v.checkSegment(ctx, segs[i], lim, &checks[i])
				close(checks[i].done)
			}
		}()
	}
	defer func() {
		cancel() // stop the workers at a failure
		wg.Wait()
	}()
	for i := range n {
		c := &checks[i]
		<-c.done
		sf := segs[i]
		if c.openErr != nil {
			return nil, segmentOpenError(sf, v.size, c.openErr)
		}
		if err := v.checkHeader(sf, &c.hdr); err != nil {
			return nil, err
		}
		v.size, v.chain, v.frontier, v.next = c.end.size, c.end.chain, c.end.frontier, c.end.next
		if c.err != nil {
			return nil, c.err
		}
	}
	return segs[n:], nil
}

// checkSegment verifies sf's records from the state its header records.
func (v *verifier) checkSegment(ctx context.Context, sf segmentFile, lim *verifyLimit, c *segmentCheck) {
	if err := ctx.Err(); err != nil {
		c.openErr = err
		return
	}
	sr, err := openSegment(v.dir, sf, segmentLimit(sf, lim))
	if err != nil {
		c.openErr = err
		return
	}
	defer sr.Close()
	h := sr.Header
	c.hdr = h
	w := &verifier{dir: v.dir, logID: v.logID, size: h.FirstSeq, chain: h.PrevChain,
		frontier: frontier{n: h.FirstSeq, hashes: slices.Clone(h.Frontier)}, pins: v.pins}
	// The pins up to the segment's first record are the previous
	// segments' to check (after their last record).
	w.next = sort.Search(len(w.pins), func(i int) bool { return w.pins[i].size > h.FirstSeq })
	c.end = w
	c.err = w.records(ctx, sf, sr, lim)
}
