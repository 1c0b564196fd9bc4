package treeoflife

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// cut seals the open segment and starts the one h describes. The order is
// fixed so that a crash at any step leaves a log Open can continue:
//
//  1. make the open segment read-only (0444) and fsync it: data and mode are
//     durable together, so a read-only segment is always complete;
//  2. write the sealed segment's index (a cache: a failure is logged);
//  3. write CHECKPOINT for the sealed prefix (temporary file, fsync, rename),
//     committing to the sealed segments' indexes: the index is on disk
//     first, so that a reader that finds the checkpoint finds the index;
//  4. create the next segment (temporary file, fsync, rename, fsync dir);
//  5. queue the sealed segment for compression.
//
// A crash after 1 or 2 leaves a sealed last segment; Open starts the next one.
//
// A full disk can stop steps 3 and 4; the writer calls cut again when there
// is space, and it continues from step 3 (l.f is nil once 1 is done).
func (l *ImmutableLogger) cut(h *segmentHeader, sealedIdx *segmentIndex) error {
	old := segmentFile{FirstSeq: l.fSeq, Name: segmentName(l.fSeq)}
	if l.f != nil {
		if err := l.f.Chmod(0o444); err != nil {
			return l.segmentErr("seal", err)
		}
		if err := l.f.Sync(); err != nil {
			return l.segmentErr("fsync", err)
		}
		l.dirty = false
		if err := l.f.Close(); err != nil {
			return l.segmentErr("close", err)
		}
		l.f = nil
		l.noteSealed(h.FirstSeq)
		if err := writeIndex(l.dir, sealedIdx); err != nil {
			l.log.Warn("writing segment index failed; it is rebuilt on the next Open", "segment", old.Name, "err", err)
			sealedIdx = nil // kept whole in memory
		}
	}
	sealed := frontier{n: h.FirstSeq, hashes: h.Frontier}
	if err := l.writeCheckpoint(Head{Size: h.FirstSeq, Chain: h.PrevChain, Root: sealed.root()}); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if sealedIdx != nil {
		l.summariseSealed(sealedIdx)
	}
	if err := l.createSegment(h); err != nil {
		return err
	}
	if l.opts.Compress {
		l.compressor.add(old)
	}
	l.hashes.kick()
	l.kickRetention()
	return nil
}

// compressor gzips sealed segments in the background, one at a time.
type compressor struct {
	l    *ImmutableLogger
	mu   sync.Mutex
	todo []segmentFile
	busy sync.WaitGroup // one per queued segment; tests wait on it
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

func startCompressor(l *ImmutableLogger) *compressor {
	c := &compressor{l: l, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *compressor) add(sf segmentFile) {
	c.busy.Add(1)
	c.mu.Lock()
	c.todo = append(c.todo, sf)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop abandons the segment being compressed (its temporary file is removed;
// the next Open queues it again) and waits for the goroutine to end.
func (c *compressor) stop() {
	close(c.quit)
	<-c.done
}

// wait blocks until every segment queued so far has been compressed (or has
// failed to be). Tests use it; it must not be called after stop.
func (c *compressor) wait() { c.busy.Wait() }

func (c *compressor) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		var sf segmentFile
		have := len(c.todo) > 0
		if have {
			sf = c.todo[0]
			c.todo = c.todo[1:]
		}
		c.mu.Unlock()
		if !have {
			select {
			case <-c.wake:
				continue
			case <-c.quit:
				return
			}
		}
		err := c.compress(sf)
		c.busy.Done()
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			c.l.log.Error("compressing sealed segment failed; it stays uncompressed", "segment", sf.Name, "err", err)
		}
	}
}

var errStopped = errors.New("stopped")

// compress writes NNN.seg.gz beside the sealed NNN.seg durably, then removes
// NNN.seg. Until the removal both exist and readers use the plain file.
func (c *compressor) compress(sf segmentFile) error {
	dir := c.l.dir
	src, err := os.Open(filepath.Join(dir, sf.Name))
	if err != nil {
		return err
	}
	defer src.Close()
	gzName := strings.TrimSuffix(sf.Name, segmentExt) + compressedExt
	dst := filepath.Join(dir, gzName)
	tmp := dst + ".tmp"
	out, err := fileutil.CreateTemp(tmp, os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(tmp)
		}
	}()
	// One gzip member per index block, so that a query can start reading
	// at any block (the index records where each member starts); gunzip
	// reads the members as one stream.
	idx := c.l.segmentIndexOf(sf.FirstSeq)
	var starts []int64
	if idx != nil {
		for _, b := range idx.Blocks[min(1, len(idx.Blocks)):] {
			starts = append(starts, b.Offset)
		}
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	cw := &countingWriter{w: bw}
	// BestSpeed: JSON entries compress to about a sixth at this level, and
	// sealing must keep up with a busy logger on a small machine.
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	in := &stoppableReader{r: bufio.NewReaderSize(src, 256<<10), quit: c.quit}
	var pos int64
	for i := 0; i <= len(starts); i++ {
		if i > 0 {
			idx.Blocks[i].ZOffset = cw.n
			zw.Reset(cw)
		}
		var err error
		if i < len(starts) {
			_, err = io.CopyN(zw, in, starts[i]-pos)
			pos = starts[i]
		} else {
			_, err = io.Copy(zw, in)
		}
		if err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := out.Chmod(0o444); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	ok = true
	if idx != nil {
		// The index with the member offsets goes first: until the rename,
		// readers use NNN.seg and ignore them.
		if err := writeIndex(dir, idx); err != nil {
			os.Remove(tmp)
			return err
		}
		c.l.replaceIndex(idx)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := fileutil.SyncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, sf.Name)); err != nil {
		return err
	}
	return fileutil.SyncDir(dir)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// segmentIndexOf returns a copy of the index of the segment starting at
// firstSeq, with its blocks, or nil (also when they cannot be loaded: the
// segment is then compressed without member offsets).
func (l *ImmutableLogger) segmentIndexOf(firstSeq uint64) *segmentIndex {
	l.mu.Lock()
	var x *segmentIndex
	if i := l.indexPos(firstSeq); i >= 0 {
		x = l.indexes[i]
	}
	l.mu.Unlock()
	if x == nil {
		return nil
	}
	x, err := x.loaded()
	if err != nil {
		return nil
	}
	return x.clone()
}

// summariseSealed replaces x, the index of a segment just sealed and whose
// index file is written, by its summary (indexblocks.go).
func (l *ImmutableLogger) summariseSealed(x *segmentIndex) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.indexPos(x.FirstSeq); i >= 0 && l.indexes[i] == x && i < len(l.indexes)-1 {
		l.indexes[i] = l.blocks.summarise(x)
	}
}

// replaceIndex replaces the index of segment x.FirstSeq by x, which has the
// blocks' member offsets, as its summary when the one it replaces is one.
func (l *ImmutableLogger) replaceIndex(x *segmentIndex) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := l.indexPos(x.FirstSeq); i >= 0 {
		if l.indexes[i].src != nil {
			x = l.blocks.summarise(x)
		}
		l.indexes[i] = x
	}
}

// indexPos finds the index of the segment starting at firstSeq; l.mu held.
func (l *ImmutableLogger) indexPos(firstSeq uint64) int {
	i, found := slices.BinarySearchFunc(l.indexes, firstSeq, func(x *segmentIndex, s uint64) int {
		return cmp.Compare(x.FirstSeq, s)
	})
	if !found {
		return -1
	}
	return i
}

type stoppableReader struct {
	r    io.Reader
	quit chan struct{}
}

func (s *stoppableReader) Read(p []byte) (int, error) {
	select {
	case <-s.quit:
		return 0, errStopped
	default:
	}
	return s.r.Read(p)
}
