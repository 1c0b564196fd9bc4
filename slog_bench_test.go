package treeoflife

import (
	"context"
	"log/slog"
	"testing"
)

// BenchmarkSlogHandler writes the bench/ entries through a SlogHandler and
// through Log with the same fields, on a Buffered logger.
func BenchmarkSlogHandler(b *testing.B) {
	ctx := context.Background()
	b.Run("slog", func(b *testing.B) {
		l := openB(b)
		sl := slog.New(NewSlogHandler(l, nil))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sl.LogAttrs(ctx, SlogRevenue, "payment received",
					slog.Int64("amount", 123456),
					slog.String("currency", "USD"),
					slog.String("customer_id", "cus_0123456789ABCD"),
					slog.String("order_id", "ord_0123456789ABCDEFGHJKMNPQ"),
					slog.Bool("captured", true))
			}
		})
	})
	b.Run("log", func(b *testing.B) {
		l := openB(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Log(ctx, LevelRevenue, "payment received", Fields{
					"amount": int64(123456), "currency": "USD", "customer_id": "cus_0123456789ABCD",
					"order_id": "ord_0123456789ABCDEFGHJKMNPQ", "captured": true})
			}
		})
	})
}

func openB(b *testing.B) *ImmutableLogger {
	l, err := Open(b.TempDir(), Options{Durability: DurabilityBuffered})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
