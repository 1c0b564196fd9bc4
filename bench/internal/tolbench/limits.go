package tolbench

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The limits rows show how close the logger comes to what the machine can
// do at all: RowCeiling writes the same bytes as RowSync with a raw group
// commit (one write and one fsync for whatever the writers handed over, no
// chain, no encoding), and RowSHA256 hashes records of RowBuffered's size
// as Verify does (the leaf hash and the chain hash of each), on one core.

// ceiling is RowCeiling.
func (r *runner) ceiling(ctx context.Context) (Row, error) {
	n, writers := r.cfg.NSync, r.cfg.WritersSync
	row := Row{Name: RowCeiling, Writers: writers, Entries: n}
	dir := filepath.Join(r.dir, RowCeiling)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return row, err
	}
	f, err := os.Create(filepath.Join(dir, "records"))
	if err != nil {
		return row, err
	}
	defer f.Close()
	// The bytes: each entry as JSON, about the size of a stored record.
	payload := func(i int) ([]byte, error) {
		e := r.entry(i)
		return json.Marshal(struct {
			Msg    string         `json:"message"`
			Fields map[string]any `json:"metadata"`
		}{e.Msg, e.Fields})
	}
	// The group commit: callers append to a shared buffer and wait for
	// its generation; one goroutine swaps the buffer out, writes it with
	// one write and one fsync, and releases that generation.
	var (
		mu    sync.Mutex
		buf   []byte
		gen   = make(chan struct{})
		ioErr error
	)
	kick := make(chan struct{}, 1)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var spare []byte
		for {
			select {
			case <-kick:
			case <-stop:
				return
			}
			mu.Lock()
			b, g := buf, gen
			buf, gen = spare[:0], make(chan struct{})
			mu.Unlock()
			if len(b) > 0 {
				_, err := f.Write(b)
				if err == nil {
					err = f.Sync()
				}
				mu.Lock()
				ioErr = cmp.Or(ioErr, err)
				mu.Unlock()
			}
			close(g)
			spare = b
		}
	}()
	lat := make([]int64, n)
	m, err := r.startMeter(RowCeiling)
	if err != nil {
		close(stop)
		<-stopped
		return row, err
	}
	elapsed, werr := drive(ctx, n, writers, lat, func(i int) error {
		b, err := payload(i)
		if err != nil {
			return err
		}
		mu.Lock()
		buf = append(buf, b...)
		g := gen
		mu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
		<-g
		mu.Lock()
		defer mu.Unlock()
		return ioErr
	})
	close(stop)
	<-stopped
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	finish(&row, elapsed, 0)
	percentiles(&row, lat)
	row.Note = "the same entries' bytes (JSON), written by a raw group commit: callers append to a shared buffer, one goroutine writes it with one write and one fsync and releases them; no chain, no frame, no encoding"
	return row, diskUsage(&row, dir)
}

// sha256Row is RowSHA256: it reads RowBuffered's segments (not timed) and
// hashes records of their average size, as Verify does, on one core.
func (r *runner) sha256Row(ctx context.Context) (Row, error) {
	row := Row{Name: RowSHA256, Writers: 1, Entries: r.cfg.N}
	dir := filepath.Join(r.dir, RowBuffered)
	var total int64
	var buf []byte
	const maxBuf = 64 << 20
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".seg" {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		if len(buf) < maxBuf {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, int64(maxBuf-len(buf))))
			if err != nil {
				return err
			}
			buf = append(buf, b...)
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	if total == 0 || r.cfg.N == 0 {
		return row, fmt.Errorf("no segments of %s to hash in %s", RowBuffered, dir)
	}
	size := int(total / int64(r.cfg.N))
	if size < 1 || len(buf) < 2*size {
		return row, fmt.Errorf("segments of %d bytes for %d records", total, r.cfg.N)
	}
	m, err := r.startMeter(RowSHA256)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	var chain [32]byte
	var in [1 + 32 + 32]byte
	h := sha256.New()
	off := 0
	for i := 0; i < r.cfg.N; i++ {
		if i&4095 == 0 && ctx.Err() != nil {
			return row, ctx.Err()
		}
		if off+size > len(buf) {
			off = 0
		}
		h.Reset()
		h.Write([]byte{0})
		h.Write(buf[off : off+size])
		var leaf [32]byte
		h.Sum(leaf[:0])
		in[0] = 2
		copy(in[1:], chain[:])
		copy(in[33:], leaf[:])
		chain = sha256.Sum256(in[:])
		off += size
	}
	elapsed := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	finish(&row, elapsed, 0)
	row.BytesPerEntry = float64(size) // hashed, not written
	row.Note = fmt.Sprintf("records of %d bytes (the average of %s's segments), leaf and chain hash each, one goroutine; chain %x…", size, RowBuffered, chain[:4])
	return row, nil
}
