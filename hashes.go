package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// hashesFile caches the log's stored Merkle hashes (FORMAT.md, "HASHES"),
// so that a proof reads O(log n) of them rather than every record.
const hashesFile = "HASHES"

// hashFlushCount is how many stored hashes an extension holds in memory
// before it appends them to HASHES (2 MiB).
const hashFlushCount = 1 << 16

// errCacheMismatch is a proof computed from the cache that does not verify
// against the head of the records: the cache is damaged or stale.
var errCacheMismatch = errors.New("stored hashes do not match the log's head")

// hashCache holds the stored hashes of the log's Merkle tree, in the order
// of tlog.StoredHashIndex: those of the first fileN records in HASHES, those
// of the records after them, up to n, in mem. A writable cache (the
// logger's) appends mem to HASHES as it grows; a read-only one (a Reader's)
// never writes, and keeps in memory what the file lacks.
//
// It is a cache, never trusted: every proof made from it is checked against
// the head computed from the records themselves (see prove), and a
// mismatch rebuilds it from the segments once.
type hashCache struct {
	dir      string
	writable bool
	log      *slog.Logger

	mu       sync.Mutex
	opened   bool // HASHES was looked for
	noFile   bool // ignore HASHES (a read-only cache found it damaged)
	cut      bool // the log was cut by local retention: no cache (drop)
	closed   bool
	f        *os.File
	fileN    uint64 // records whose stored hashes are in f
	mem      []tlog.Hash
	n        uint64   // records whose stored hashes are in f or mem
	front    frontier // Merkle frontier of the first n records
	buf      []byte
	reads    int // stored hashes read from f, for tests
	bgCancel context.CancelFunc
	bgWake   chan struct{}
	bgDone   chan struct{}
}

func newHashCache(dir string, writable bool, log *slog.Logger) *hashCache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &hashCache{dir: dir, writable: writable, log: log}
}

// proofSource returns a snapshot of the records that may be read and the
// head of exactly those records, which proofs are checked against.
type proofSource func() (*readView, Head, error)

// prove calls check with the source's head, and unless it returns done or
// an error (arguments out of range), brings the cache up to the head's size
// and calls fn with a reader of it. When fn reports errCacheMismatch, the
// cache is rebuilt from the segments and fn called again, once; a second
// mismatch is an ErrProof.
//
// On a log cut by local retention, lowest is the first record the proof
// needs (ErrNotLocal when it was removed), dry a dry run of fn naming the
// hashes it reads, and the cache is not used (see proveCut).
func (c *hashCache) prove(ctx context.Context, src proofSource, check func(head Head) (done bool, err error), lowest uint64, dry func(r tlog.HashReader, head Head), fn func(r tlog.HashReader, v *readView, head Head) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	v, head, err := src()
	if err != nil {
		return err
	}
	if done, err := check(head); done || err != nil {
		return err
	}
	if first := v.firstLocal(); first > 0 {
		if lowest < first {
			return fmt.Errorf("%w: record %d (the local log begins at record %d)", ErrNotLocal, lowest, first)
		}
		err := proveCut(ctx, v, head.Size, func(r tlog.HashReader) { dry(r, head) }, func(r tlog.HashReader) error { return fn(r, v, head) })
		if errors.Is(err, errCacheMismatch) {
			return fmt.Errorf("%w: the records read from the segments do not hash to the log's head (size %d, root %s); the log may be damaged (run Verify)", ErrProof, head.Size, head.Root)
		}
		return err
	}
	for attempt := 0; ; attempt++ {
		err := c.extendLocked(ctx, v, head.Size)
		if err == nil {
			err = fn(hashReader{c}, v, head)
		}
		if !errors.Is(err, errCacheMismatch) {
			return err
		}
		if attempt == 1 {
			return fmt.Errorf("%w: the records read from the segments do not hash to the log's head (size %d, root %s), even with %s rebuilt; the log may be damaged (run Verify)",
				ErrProof, head.Size, head.Root, hashesFile)
		}
		c.log.Warn("stored hashes do not match the log; rebuilding them from the segments", "file", hashesFile, "size", head.Size)
		if err := c.resetLocked(); err != nil {
			return err
		}
	}
}

// openLocked opens HASHES (creating it when writable) and loads the
// frontier at the end of what it holds. A file that cannot be used is
// ignored (read-only) or emptied (writable): it is only a cache.
func (c *hashCache) openLocked() error {
	if c.opened {
		return nil
	}
	c.opened = true
	path := filepath.Join(c.dir, hashesFile)
	var err error
	if c.writable {
		// No fsync of the directory: a HASHES lost in a crash is rebuilt.
		// A symbolic link planted in its place is not followed but
		// replaced: the file is only a cache, and only ever ours.
		c.f, err = fileutil.OpenFileNoFollow(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				c.f, err = fileutil.CreateTemp(path, os.O_RDWR, 0o644)
			}
		}
	} else if !c.noFile {
		c.f, err = os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("treeoflife: open %s: %w", path, err)
	}
	if c.f == nil {
		return nil
	}
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("treeoflife: stat %s: %w", path, err)
	}
	c.fileN = recordsIn(st.Size())
	if c.writable && st.Size() != 32*tlog.StoredHashCount(int64(c.fileN)) {
		// Cut a partial hash a crash left, so appends continue after the
		// last whole record.
		if err := c.f.Truncate(32 * tlog.StoredHashCount(int64(c.fileN))); err != nil {
			return fmt.Errorf("treeoflife: truncate %s: %w", path, err)
		}
	}
	c.n = c.fileN
	if c.front, err = c.readFrontier(c.fileN); err != nil {
		c.log.Warn("stored hashes unreadable; rebuilding them", "file", hashesFile, "err", err)
		return c.resetLocked()
	}
	return nil
}

// recordsIn returns the largest number of records whose stored hashes fit
// in size bytes.
func recordsIn(size int64) uint64 {
	if size < 32 {
		return 0
	}
	// StoredHashCount(m) >= m, so m <= size/32.
	hi := size / 32
	m := sort.Search(int(hi)+1, func(m int) bool { return 32*tlog.StoredHashCount(int64(m)) > size })
	return uint64(m - 1)
}

// readFrontier reads the frontier of the first n records from the file:
// the root of each maximal perfect subtree, largest first.
func (c *hashCache) readFrontier(n uint64) (frontier, error) {
	f := frontier{n: n}
	start := uint64(0)
	for level := 63; level >= 0; level-- {
		if n&(1<<level) == 0 {
			continue
		}
		h, err := c.readHash(tlog.StoredHashIndex(level, int64(start>>level)))
		if err != nil {
			return frontier{}, err
		}
		f.hashes = append(f.hashes, Hash(h))
		start += 1 << level
	}
	return f, nil
}

func (c *hashCache) readHash(index int64) (tlog.Hash, error) {
	var h tlog.Hash
	if base := tlog.StoredHashCount(int64(c.fileN)); index >= base {
		if i := index - base; i < int64(len(c.mem)) {
			return c.mem[i], nil
		}
		return h, fmt.Errorf("treeoflife: stored hash %d is beyond the %d records cached", index, c.n)
	}
	if _, err := c.f.ReadAt(h[:], 32*index); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		// Cut short under us, or unreadable: rebuilt like a damaged one.
		return h, fmt.Errorf("%w: read %s: %v", errCacheMismatch, hashesFile, err)
	}
	c.reads++
	return h, nil
}

// hashReader reads the cache for tlog; the caller holds c.mu.
type hashReader struct{ c *hashCache }

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, err := r.c.readHash(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// resetLocked forgets every stored hash, so that the next extension
// recomputes them all from the segments.
func (c *hashCache) resetLocked() error {
	c.fileN, c.n, c.mem, c.front = 0, 0, c.mem[:0], frontier{}
	switch {
	case c.writable && c.f != nil:
		if err := c.f.Truncate(0); err != nil {
			return fmt.Errorf("treeoflife: truncate %s: %w", hashesFile, err)
		}
	case !c.writable && c.f != nil:
		c.f.Close()
		c.f, c.noFile = nil, true
	}
	return nil
}

// extendLocked adds the stored hashes of records c.n … to-1, read from the
// segments of v.
func (c *hashCache) extendLocked(ctx context.Context, v *readView, to uint64) error {
	if c.cut || v.firstLocal() > 0 {
		return nil // a cut log's proofs do without the cache (proveCut)
	}
	if err := c.openLocked(); err != nil {
		return err
	}
	if c.writable && c.fileN > to && len(c.mem) == 0 {
		// The logger's cache never holds more than its durable records:
		// the rest is stale (another log's, or junk).
		if err := c.f.Truncate(32 * tlog.StoredHashCount(int64(to))); err != nil {
			return fmt.Errorf("treeoflife: truncate %s: %w", hashesFile, err)
		}
		front, err := c.readFrontier(to)
		if err != nil {
			return err
		}
		c.fileN, c.n, c.front = to, to, front
	}
	if c.n >= to {
		return nil
	}
	err := scanRecords(ctx, v, c.n, to, func(seq uint64, payload []byte) error {
		c.appendLeaf(leafHash(payload))
		if len(c.mem) >= hashFlushCount {
			return c.flushLocked(false)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.flushLocked(true)
}

// appendLeaf adds the stored hashes of record c.n: its leaf hash, then the
// root of every perfect subtree it completes, as tlog.StoredHashes does.
func (c *hashCache) appendLeaf(leaf Hash) {
	c.mem = append(c.mem, tlog.Hash(leaf))
	h := leaf
	for k := c.front.n; k&1 == 1; k >>= 1 {
		last := len(c.front.hashes) - 1
		h = Hash(tlog.NodeHash(tlog.Hash(c.front.hashes[last]), tlog.Hash(h)))
		c.front.hashes = c.front.hashes[:last]
		c.mem = append(c.mem, tlog.Hash(h))
	}
	c.front.hashes = append(c.front.hashes, h)
	c.front.n++
	c.n++
}

// flushLocked appends the hashes in memory to HASHES (fsynced when sync is
// set). A write error turns the cache read-only: the hashes stay in memory
// and proofs go on; the next Open starts from what the file holds.
func (c *hashCache) flushLocked(sync bool) error {
	if !c.writable || c.f == nil || len(c.mem) == 0 {
		return nil
	}
	c.buf = c.buf[:0]
	for _, h := range c.mem {
		c.buf = append(c.buf, h[:]...)
	}
	_, err := c.f.WriteAt(c.buf, 32*tlog.StoredHashCount(int64(c.fileN)))
	if err == nil && sync {
		err = c.f.Sync()
	}
	if err != nil {
		c.log.Warn("writing stored hashes failed; keeping them in memory", "file", hashesFile, "err", err)
		c.writable = false
		return nil
	}
	c.fileN, c.mem = c.n, c.mem[:0]
	return nil
}

// close closes HASHES.
func (c *hashCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.mem = nil
	if c.f == nil {
		return nil
	}
	return c.f.Close()
}

// scanRecords calls fn with the stored bytes of records from … to-1 of v,
// in order, reading from the index block that holds record from. The
// payload is valid only during the call.
func scanRecords(ctx context.Context, v *readView, from, to uint64, fn func(seq uint64, payload []byte) error) error {
	if to > v.Size {
		return fmt.Errorf("treeoflife: records up to %d requested, %d visible", to, v.Size)
	}
	seq := from
	for _, x := range v.Indexes {
		if seq >= to {
			break
		}
		if x.FirstSeq+x.Count <= seq || x.Count == 0 {
			continue
		}
		x, err := x.loaded()
		if err != nil {
			return err
		}
		if x.FirstSeq > seq {
			return &TamperError{Segment: segmentName(x.FirstSeq), Seq: seq, Offset: -1, Reason: "no segment holds this record"}
		}
		bi := sort.Search(len(x.Blocks), func(i int) bool { return x.Blocks[i].FirstSeq > seq }) - 1
		b := &x.Blocks[bi]
		zoff := int64(0)
		if bi > 0 {
			zoff = b.ZOffset
		}
		sf := v.segmentFile(x)
		sr, err := openSegmentAt(v.Dir, sf, b.Offset, zoff, v.limit(x))
		if err != nil {
			return segmentOpenError(sf, seq, err)
		}
		for seq < to && seq < x.FirstSeq+x.Count {
			if seq&1023 == 0 {
				if err := ctx.Err(); err != nil {
					sr.Close()
					return err
				}
			}
			fr, err := sr.Next()
			if err != nil {
				sr.Close()
				if err == io.EOF {
					return &TamperError{Segment: sf.Name, Seq: seq, Offset: sr.Offset(), Reason: "segment ends before the record"}
				}
				var fe *frameError
				if errors.As(err, &fe) {
					return &TamperError{Segment: sf.Name, Seq: seq, Offset: fe.Offset, Reason: "damaged frame: " + fe.Reason}
				}
				return err
			}
			if fr.Seq < seq {
				continue // before from, in the same block
			}
			if fr.Seq != seq {
				sr.Close()
				return &TamperError{Segment: sf.Name, Seq: seq, Offset: fr.Offset,
					Reason: fmt.Sprintf("found seq %d where seq %d belongs", fr.Seq, seq)}
			}
			if err := fn(seq, fr.Payload); err != nil {
				sr.Close()
				return err
			}
			seq++
		}
		sr.Close()
	}
	if seq < to {
		return &TamperError{Seq: seq, Offset: -1, Reason: fmt.Sprintf("the segments end before record %d", seq)}
	}
	return nil
}

// Background extension: after a segment is sealed, the logger brings
// HASHES up to the durable records, so that the next proof reads little.
// It runs only once HASHES exists (the log has been asked for a proof): a
// log that is never asked pays nothing.

// startBackground starts the goroutine that extends the cache when kicked.
func (c *hashCache) startBackground(src proofSource) {
	ctx, cancel := context.WithCancel(context.Background())
	c.bgCancel, c.bgWake, c.bgDone = cancel, make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(c.bgDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.bgWake:
			}
			if err := c.extendBackground(ctx, src); err != nil && ctx.Err() == nil {
				c.log.Warn("extending stored hashes failed", "file", hashesFile, "err", err)
			}
		}
	}()
}

// kick asks the background goroutine to extend the cache; it never blocks.
func (c *hashCache) kick() {
	if c == nil || c.bgWake == nil {
		return
	}
	select {
	case c.bgWake <- struct{}{}:
	default:
	}
}

// stopBackground ends the goroutine, abandoning an extension under way.
func (c *hashCache) stopBackground() {
	if c.bgCancel == nil {
		return
	}
	c.bgCancel()
	<-c.bgDone
}

// extendBackground extends the cache to the source's head, a bounded
// number of records at a time so that proofs do not wait long for c.mu.
func (c *hashCache) extendBackground(ctx context.Context, src proofSource) error {
	if _, err := os.Stat(filepath.Join(c.dir, hashesFile)); err != nil {
		return nil // never asked for a proof
	}
	v, head, err := src()
	if err != nil {
		return err
	}
	if v.firstLocal() > 0 {
		return nil // a cut log: proofs do without HASHES
	}
	for {
		c.mu.Lock()
		if c.closed || c.opened && c.n >= head.Size {
			c.mu.Unlock()
			return nil
		}
		err := c.openLocked()
		if err == nil {
			err = c.extendLocked(ctx, v, min(head.Size, c.n+hashFlushCount/2))
		}
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
