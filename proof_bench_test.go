package treeoflife

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkProveInclusion measures a proof from a complete HASHES cache in
// logs of growing size. Each log is built (and its cache filled) before
// the timed loop, so it is only built when the benchmark runs (-bench).
func BenchmarkProveInclusion(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			for i := 0; i < n; i++ {
				if _, err := l.Info("payment", Fields{"i": i}); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Sync(ctx); err != nil {
				b.Fatal(err)
			}
			size := uint64(n)
			if _, err := l.ProveInclusion(ctx, 0, size); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq = (seq + 7919) % size
				if _, err := l.ProveInclusion(ctx, seq, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
