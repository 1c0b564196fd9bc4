package tolbench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	tol "github.com/treeoflife/treeoflife"
)

// tolSlog is RowBuffered through log/slog: the same entries, as slog.LogAttrs
// with typed attrs (as RowSlog writes them), into a SlogHandler on a logger
// opened with DurabilityBuffered, at SlogRevenue. It fails if the handler
// counted a failure, which slog itself would drop.
func (r *runner) tolSlog(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowTolSlog)
	var h *tol.SlogHandler
	return r.tolWriteWith(ctx, RowTolSlog, dir, tol.Options{Durability: tol.DurabilityBuffered}, r.cfg.N, r.cfg.WritersBuffered, false,
		func(lg *tol.ImmutableLogger) (func(i int) error, func() error) {
			h = tol.NewSlogHandler(lg, nil)
			sl := slog.New(h)
			write := func(i int) error {
				e := r.entry(i)
				sl.LogAttrs(ctx, tol.SlogRevenue, e.Msg,
					slog.Int64("amount", e.Amount),
					slog.String("currency", e.Currency),
					slog.String("customer_id", e.CustomerID),
					slog.String("order_id", e.OrderID),
					slog.Bool("captured", e.Captured))
				return nil
			}
			check := func() error {
				if n := h.Failures(); n > 0 {
					return fmt.Errorf("the slog handler failed %d records", n)
				}
				return nil
			}
			return write, check
		})
}
