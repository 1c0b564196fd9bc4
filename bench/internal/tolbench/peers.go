package tolbench

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The peers write JSON lines to one buffered file, as a service would: no
// fsync (they have no equivalent of DurabilitySync), and the timed section
// ends after the buffer is flushed and the file closed.

// peerWrite creates the row's file, hands it to setup, which returns the
// per-entry write function and a function that flushes its buffer, and times
// the writes plus the flush and the file's Close.
func (r *runner) peerWrite(ctx context.Context, name string, setup func(f *os.File) (write func(e *Entry) error, flush func() error)) (Row, error) {
	row := Row{Name: name, Writers: r.cfg.WritersPeers, Entries: r.cfg.N}
	path := filepath.Join(r.dir, name+".log")
	f, err := os.Create(path)
	if err != nil {
		return row, err
	}
	defer f.Close()
	write, flush := setup(f)
	m, err := r.startMeter(name)
	if err != nil {
		return row, err
	}
	elapsed, werr := drive(ctx, r.cfg.N, r.cfg.WritersPeers, nil, func(i int) error { return write(r.entry(i)) })
	t0 := time.Now()
	ferr := flush()
	if ferr == nil {
		ferr = f.Close()
	}
	closing := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	if ferr != nil {
		return row, ferr
	}
	finish(&row, elapsed, closing)
	return row, diskUsage(&row, path)
}

// slog's JSONHandler serializes its writes with a mutex shared by every
// handler derived from it, so the goroutines share one logger and the
// bufio.Writer needs no lock of its own.
func (r *runner) slog(ctx context.Context) (Row, error) {
	return r.peerWrite(ctx, RowSlog, func(f *os.File) (func(*Entry) error, func() error) {
		w := bufio.NewWriterSize(f, r.cfg.BufferSize)
		lg := slog.New(slog.NewJSONHandler(w, nil))
		write := func(e *Entry) error {
			lg.LogAttrs(ctx, slog.LevelInfo, e.Msg,
				slog.Int64("amount", e.Amount),
				slog.String("currency", e.Currency),
				slog.String("customer_id", e.CustomerID),
				slog.String("order_id", e.OrderID),
				slog.Bool("captured", e.Captured))
			return nil
		}
		return write, w.Flush
	})
}

// zap: the production JSON encoder config, but built by hand rather than with
// zap.NewProduction, whose sampling would drop most of these entries and
// whose caller annotation the other loggers do not pay for either.
// BufferedWriteSyncer is zap's own locked, buffered writer.
func (r *runner) zap(ctx context.Context) (Row, error) {
	return r.peerWrite(ctx, RowZap, func(f *os.File) (func(*Entry) error, func() error) {
		// struct{ io.Writer } hides the file's Sync, so Stop flushes
		// without an fsync the other peers do not pay for.
		ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(struct{ io.Writer }{f}), Size: r.cfg.BufferSize}
		core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), ws, zapcore.InfoLevel)
		lg := zap.New(core)
		write := func(e *Entry) error {
			lg.Info(e.Msg,
				zap.Int64("amount", e.Amount),
				zap.String("currency", e.Currency),
				zap.String("customer_id", e.CustomerID),
				zap.String("order_id", e.OrderID),
				zap.Bool("captured", e.Captured))
			return nil
		}
		return write, ws.Stop
	})
}

// zerolog does not serialize writes, so its writer is a mutex around the
// bufio.Writer, one Write per event.
func (r *runner) zerolog(ctx context.Context) (Row, error) {
	return r.peerWrite(ctx, RowZerolog, func(f *os.File) (func(*Entry) error, func() error) {
		w := bufio.NewWriterSize(f, r.cfg.BufferSize)
		lw := &lockedWriter{w: w}
		lg := zerolog.New(lw).With().Timestamp().Logger()
		write := func(e *Entry) error {
			lg.Info().
				Int64("amount", e.Amount).
				Str("currency", e.Currency).
				Str("customer_id", e.CustomerID).
				Str("order_id", e.OrderID).
				Bool("captured", e.Captured).
				Msg(e.Msg)
			return nil
		}
		return write, w.Flush
	})
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
