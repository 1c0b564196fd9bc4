package treeoflife

import (
	"container/list"
	"sync"
)

// A sealed segment's index is kept in memory as its summary: the counts,
// times and digest, without its blocks, so that the memory a logger or a
// Reader holds does not grow with the log. Its blocks are read from its
// .idx file when a read needs them, checked against the digest the summary
// keeps (the index that was trusted when the segment was sealed or loaded),
// and the blocks of the most recently used segments are cached.

// blockCacheSegments is how many sealed segments' blocks a logger or a
// Reader keeps in memory.
const blockCacheSegments = 16

// blockSource loads and caches the blocks of the summarised indexes of one
// log. It is safe for concurrent use.
type blockSource struct {
	dir string
	// rebuild builds a segment's index from its records; complete is false
	// when some records' levels and times could not be read (no key).
	rebuild func(sf segmentFile) (x *segmentIndex, complete bool, err error)
	write   bool // rewrite an index file found missing or damaged (the logger)

	mu    sync.Mutex
	lru   list.List // of *blockCacheEntry, most recently used first
	byIdx map[*segmentIndex]*list.Element
}

type blockCacheEntry struct {
	x      *segmentIndex
	blocks []indexBlock
}

func newBlockSource(dir string, write bool, rebuild func(sf segmentFile) (*segmentIndex, bool, error)) *blockSource {
	return &blockSource{dir: dir, write: write, rebuild: rebuild, byIdx: map[*segmentIndex]*list.Element{}}
}

// summarise returns the summary of x, a sealed segment's complete index,
// whose blocks s loads on demand; x itself is not changed. An index
// already summarised, or partial (rebuilt without the key of some records,
// so not the one the index file holds), is returned as it is. The caller
// serialises calls on x (x.digest).
func (s *blockSource) summarise(x *segmentIndex) *segmentIndex {
	if x.src != nil || x.partial {
		return x
	}
	x.digest()
	y := *x
	y.Blocks = nil
	y.src = s
	y.zoffsets = hasMemberOffsets(x)
	y.oldest, y.newest = blockTimes(x.Blocks)
	s.put(&y, x.Blocks)
	return &y
}

// loaded returns x with its blocks: x itself when they are in memory (the
// active segment's index, or one not summarised), or a copy of its summary
// with the blocks, loaded when not cached. The blocks are shared: they must
// not be changed (clone x to change them).
func (x *segmentIndex) loaded() (*segmentIndex, error) {
	if x.src == nil {
		return x, nil
	}
	b, err := x.src.get(x)
	if err != nil {
		return nil, err
	}
	y := *x
	y.Blocks, y.src = b, nil
	return &y, nil
}

func (s *blockSource) get(x *segmentIndex) ([]indexBlock, error) {
	s.mu.Lock()
	if e, ok := s.byIdx[x]; ok {
		s.lru.MoveToFront(e)
		b := e.Value.(*blockCacheEntry).blocks
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	// Loaded without the lock: two goroutines may load the same blocks,
	// which are the same.
	b, err := s.load(x)
	if err != nil {
		return nil, err
	}
	s.put(x, b)
	return b, nil
}

func (s *blockSource) put(x *segmentIndex, b []indexBlock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byIdx[x]; ok {
		s.lru.MoveToFront(e)
		return
	}
	s.byIdx[x] = s.lru.PushFront(&blockCacheEntry{x: x, blocks: b})
	for s.lru.Len() > blockCacheSegments {
		e := s.lru.Back()
		s.lru.Remove(e)
		delete(s.byIdx, e.Value.(*blockCacheEntry).x)
	}
}

// load reads the blocks of summary x from its index file, which must be the
// index the summary was made from (its canonical hash, x's digest): an
// index file missing, damaged or replaced since is rebuilt from the
// segment, as loadIndex does. A missing or damaged file is then rewritten
// (by the logger); a replaced one is left as it is, as evidence.
func (s *blockSource) load(x *segmentIndex) ([]indexBlock, error) {
	y, err := readIndexFile(s.dir, x.FirstSeq)
	if err == nil && y.digest() == x.sum {
		return y.Blocks, nil
	}
	rewrite := s.write && err != nil
	sf := segmentFileOf(s.dir, x.FirstSeq)
	y, complete, err := s.rebuild(sf)
	if err != nil {
		return nil, err
	}
	if y.digest() == x.sum {
		if rewrite {
			_ = writeIndex(s.dir, y) // only a cache: the next load rebuilds it again
		}
		return y.Blocks, nil
	}
	if !complete {
		// Rebuilt without the key (a Reader of an encrypted log): the
		// records' levels and times are unknown, as when the index file
		// is missing at open.
		return y.Blocks, nil
	}
	return nil, &TamperError{Segment: sf.Name, Seq: x.FirstSeq, Offset: -1,
		Reason: "segment does not match the index it had when it was sealed or first read"}
}

// blockTimes folds the blocks' time ranges as summarise (stats.go) does:
// the oldest and newest known times, 0 when none is known.
func blockTimes(bs []indexBlock) (oldest, newest int64) {
	for i := range bs {
		lo, hi := bs[i].MinTime, bs[i].MaxTime
		if lo == 0 {
			lo = hi
		}
		if lo != 0 && (oldest == 0 || lo < oldest) {
			oldest = lo
		}
		if hi != 0 && (newest == 0 || hi > newest) {
			newest = hi
		}
	}
	return oldest, newest
}
