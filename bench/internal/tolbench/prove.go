package tolbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	tol "github.com/treeoflife/treeoflife"
)

// ProveSamples is how many proofs RowProve times (its Entries).
const ProveSamples = 2000

// tolProve writes ProveN entries with Buffered and a signer (not timed),
// builds the proof cache with a first proof (timed apart: Note), then times
// ProveInclusion for ProveSamples random records against the whole tree
// (the row's p50/p99; entries/s is proofs/s), and reports the time to verify
// one (VerifyInclusion) in the note.
func (r *runner) tolProve(ctx context.Context) (Row, error) {
	row := Row{Name: RowProve, Writers: 1, Entries: ProveSamples}
	s, _, err := benchSigner()
	if err != nil {
		return row, err
	}
	dir := filepath.Join(r.dir, RowProve)
	n := r.cfg.ProveN
	r.cfg.logf("tolbench: writing %d entries with Buffered for %s (not timed)", n, RowProve)
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, Signer: s, SegmentSize: r.cfg.SegmentSize})
	if err != nil {
		return row, err
	}
	defer lg.Close()
	if _, err := drive(ctx, n, r.cfg.WritersBuffered, nil, func(i int) error {
		e := r.entry(i)
		_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
		return err
	}); err != nil {
		return row, err
	}
	if err := lg.Sync(ctx); err != nil {
		return row, err
	}
	size := lg.Head().Size
	t0 := time.Now()
	if _, err := lg.ProveInclusion(ctx, 0, size); err != nil {
		return row, err
	}
	build := time.Since(t0)

	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]int64, ProveSamples)
	m, err := r.startMeter(RowProve)
	if err != nil {
		return row, err
	}
	start := time.Now()
	for i := range lat {
		seq := rng.Uint64N(size)
		t := time.Now()
		if _, err := lg.ProveInclusion(ctx, seq, size); err != nil {
			return row, err
		}
		lat[i] = int64(time.Since(t))
	}
	elapsed := time.Since(start)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)

	// Verifying: receipts of random records, each checked as a customer
	// would, offline with the public key (signature and inclusion proof).
	_, vs, err := benchSigner()
	if err != nil {
		return row, err
	}
	var vlat []int64
	var proofOnly []int64
	for i := 0; i < 200; i++ {
		rc, err := lg.Receipt(ctx, rng.Uint64N(size))
		if err != nil {
			return row, err
		}
		t := time.Now()
		c, err := rc.Verify(vs)
		if err != nil {
			return row, err
		}
		vlat = append(vlat, int64(time.Since(t)))
		proof := make(tlog.RecordProof, len(rc.Proof))
		for j, h := range rc.Proof {
			proof[j] = tlog.Hash(h)
		}
		t = time.Now()
		if err := tol.VerifyInclusion(proof, rc.Seq, c.Size, rc.LeafHash, c.Root); err != nil {
			return row, err
		}
		proofOnly = append(proofOnly, int64(time.Since(t)))
	}
	var vr, pr Row
	percentiles(&vr, vlat)
	percentiles(&pr, proofOnly)
	row.Note = fmt.Sprintf("%d records; first proof (builds HASHES) %.1f s; verifying an inclusion proof p50 %.3f ms, p99 %.3f ms; a whole receipt (signature too) p50 %.3f ms, p99 %.3f ms",
		size, build.Seconds(), pr.P50ms, pr.P99ms, vr.P50ms, vr.P99ms)
	row.VerifyP99ms = pr.P99ms
	r.proveDir = dir
	return row, diskUsage(&row, dir)
}
