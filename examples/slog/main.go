// Command slog uses treeoflife as the handler of a log/slog logger: a
// service that already logs with slog gets hash-chained records without
// changing its logging calls, and uses the custom levels for business and
// audit events.
//
//	go run ./examples/slog
//
// The log goes to a new temporary directory, removed on exit.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-slog")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

// run logs through slog, then reads the log back and verifies it.
func run(w io.Writer, dir string) error {
	ctx := context.Background()
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		return err
	}
	defer logger.Close()

	// slog.Logger drops what a handler returns; OnError reports it, and
	// Failures counts it. Writes that must not be lost use the logger's
	// own methods, which return the error (and the record's seq).
	h := treeoflife.NewSlogHandler(logger, &treeoflife.SlogOptions{
		OnError: func(err error) { fmt.Fprintln(w, "slog write failed:", err) },
	})
	slogger := slog.New(h).With("service", "checkout")

	slogger.Info("service started", "version", "1.4.2")
	slogger.Debug("not stored: below the handler's level")
	// The custom levels: AUDIT, REVENUE, SECURITY.
	slogger.Log(ctx, treeoflife.SlogAudit, "user login", "userId", "u-17", slog.Group("client", "ip", "203.0.113.9", "agent", "curl/8"))
	req := slogger.WithGroup("order")
	req.Log(ctx, treeoflife.SlogRevenue, "payment captured", "id", "ord-981", "amount", 4999, "currency", "EUR")
	slogger.Log(ctx, treeoflife.SlogSecurity, "password reset requested", "userId", "u-17")
	slogger.Warn("slow upstream", "ms", 812)

	// An audit-critical write, with its error: the error-returning API.
	rec, err := logger.Audit("refund approved", treeoflife.Fields{"orderId": "ord-981", "by": "u-3"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "refund stored at seq %d\n", rec.Seq)

	es, err := logger.Read(ctx, treeoflife.Filter{})
	if err != nil {
		return err
	}
	for _, e := range es {
		fmt.Fprintf(w, "%d %-8s %-26s %v\n", e.Seq, e.Level, e.Message, e.Metadata)
	}
	if _, err := logger.Verify(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "verified %d records, %d slog failures\n", logger.Head().Size, h.Failures())
	return nil
}
