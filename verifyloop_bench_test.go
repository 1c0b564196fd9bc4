//go:build linux

package treeoflife

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkVerifyBackground measures a background verification pass over
// 100,000 records (one second of logging at 100K records/s): unpaced, its
// CPU per record says what share of a core keeping up with that rate
// needs; paced, the share of a core the pass actually takes (cpu-share).
//
//	go test -run XXX -bench VerifyBackground -benchtime 3x .
func BenchmarkVerifyBackground(b *testing.B) {
	ctx := context.Background()
	l, err := Open(b.TempDir(), Options{Durability: DurabilityBuffered, SegmentSize: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 100_000
	for i := range n {
		if _, err := l.Info("request served", Fields{"path": "/api/orders", "status": 200, "i": i}); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("unpaced", func(b *testing.B) {
		for b.Loop() {
			verifyUnpaced(ctx, b, l)
		}
		perRecord := b.Elapsed() / time.Duration(b.N*n)
		b.ReportMetric(float64(perRecord.Nanoseconds()), "ns/record")
		b.ReportMetric(float64(n)*perRecord.Seconds(), "core-share@100K/s")
	})
	b.Run("paced", func(b *testing.B) {
		var cpu, wall time.Duration
		for b.Loop() {
			c0, w0 := cpuTime(), time.Now()
			if _, err := l.verifyFrom(ctx, nil, true); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - c0
			wall += time.Since(w0)
		}
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-share")
	})
}

func verifyUnpaced(ctx context.Context, b *testing.B, l *ImmutableLogger) Head {
	h, err := VerifyDir(ctx, l.Dir())
	if err != nil {
		b.Fatal(fmt.Errorf("verify: %w", err))
	}
	return h.Head
}
