package tolbench

import (
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
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
// chain, no encoding), RowSHA256 hashes records of RowBuffered's size as
// Verify does (the leaf hash and the chain hash of each), on one core, and
// RowAESGCM seals their payloads with AES-256-GCM, on one core.

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

// bufferedRecords reads RowBuffered's segments, up to 64 MiB of them, and
// returns their bytes and the average size of a record's frame in them
// (the segments' bytes over N: their headers are counted too).
func (r *runner) bufferedRecords() (buf []byte, size int, err error) {
	dir := filepath.Join(r.dir, RowBuffered)
	var total int64
	const maxBuf = 64 << 20
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
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
		return nil, 0, err
	}
	if total == 0 || r.cfg.N == 0 {
		return nil, 0, fmt.Errorf("no segments of %s to read in %s", RowBuffered, dir)
	}
	size = int(total / int64(r.cfg.N))
	if size <= frameHeaderBytes || len(buf) < 2*size {
		return nil, 0, fmt.Errorf("segments of %d bytes for %d records", total, r.cfg.N)
	}
	return buf, size, nil
}

// timeRecords is the timed section of a limits row over records read by
// bufferedRecords: it calls fn row.Entries times, with i and the next size
// bytes of buf (starting again at its beginning when it runs out), stops
// early with ctx's error when ctx is done, and fills in row's rate and
// meters.
func (r *runner) timeRecords(ctx context.Context, row *Row, buf []byte, size int, fn func(i int, rec []byte)) error {
	m, err := r.startMeter(row.Name)
	if err != nil {
		return err
	}
	t0 := time.Now()
	off := 0
	for i := 0; i < row.Entries; i++ {
		if i&4095 == 0 && ctx.Err() != nil {
			break
		}
		if off+size > len(buf) {
			off = 0
		}
		fn(i, buf[off:off+size])
		off += size
	}
	elapsed := time.Since(t0)
	if err := m.stop(row); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	finish(row, elapsed, 0)
	return nil
}

// frameHeaderBytes is the size of a record's frame header (FORMAT.md,
// "Frame"): the rest of a frame is its payload, the entry JSON.
const frameHeaderBytes = 48

// sha256Row is RowSHA256: it reads RowBuffered's segments (not timed) and
// hashes records of their average size, as Verify does, on one core.
func (r *runner) sha256Row(ctx context.Context) (Row, error) {
	row := Row{Name: RowSHA256, Writers: 1, Entries: r.cfg.N}
	buf, size, err := r.bufferedRecords()
	if err != nil {
		return row, err
	}
	var chain [32]byte
	var in [1 + 32 + 32]byte
	h := sha256.New()
	err = r.timeRecords(ctx, &row, buf, size, func(_ int, rec []byte) {
		h.Reset()
		h.Write([]byte{0})
		h.Write(rec)
		var leaf [32]byte
		h.Sum(leaf[:0])
		in[0] = 2
		copy(in[1:], chain[:])
		copy(in[33:], leaf[:])
		chain = sha256.Sum256(in[:])
	})
	if err != nil {
		return row, err
	}
	row.BytesPerEntry = float64(size) // hashed, not written
	row.Note = fmt.Sprintf("records of %d bytes (the average of %s's segments), leaf and chain hash each, one goroutine; chain %x…", size, RowBuffered, chain[:4])
	return row, nil
}

// aesGCMRow is RowAESGCM: it seals payloads of the size of RowBuffered's
// (the entry JSON) with AES-256-GCM, one after the other on one goroutine,
// as an encrypted logger seals each record: a 12-byte nonce, and additional
// data of the size of a record's (log ID, seq, envelope header). Nothing
// else an encrypted record costs is in it: its CPU per entry is the least
// encryption adds to a Buffered record's.
func (r *runner) aesGCMRow(ctx context.Context) (Row, error) {
	row := Row{Name: RowAESGCM, Writers: 1, Entries: r.cfg.N}
	buf, size, err := r.bufferedRecords()
	if err != nil {
		return row, err
	}
	size -= frameHeaderBytes
	block, err := aes.NewCipher(benchKey[:])
	if err != nil {
		return row, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return row, err
	}
	var nonce [12]byte
	var aad [16 + 8 + 5]byte
	out := make([]byte, 0, size+aead.Overhead())
	err = r.timeRecords(ctx, &row, buf, size, func(i int, rec []byte) {
		binary.BigEndian.PutUint64(nonce[4:], uint64(i))
		binary.BigEndian.PutUint64(aad[16:24], uint64(i))
		out = aead.Seal(out[:0], nonce[:], rec, aad[:])
	})
	if err != nil {
		return row, err
	}
	row.BytesPerEntry = float64(size) // sealed, not written
	row.Note = fmt.Sprintf("payloads of %d bytes (%s's average record, less its frame header), one goroutine; last tag %x…", size, RowBuffered, out[len(out)-aead.Overhead():][:4])
	return row, nil
}
