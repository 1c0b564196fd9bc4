package treeoflife

// Proofs on a log that local retention cut: the Merkle hashes they need are
// computed from the first kept segment's frontier and the records after it,
// since HASHES, which starts at record 0, can no longer be rebuilt.

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/tlog"
)

// drop removes HASHES once the log is cut: it can no longer be rebuilt
// from the segments, and proofs of a cut log do without it (proveCut).
func (c *hashCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	c.opened, c.noFile, c.cut = true, true, true
	c.fileN, c.n, c.mem, c.front = 0, 0, nil, frontier{}
	if c.writable {
		os.Remove(filepath.Join(c.dir, hashesFile))
	}
}

// recordingReader is a tlog.HashReader that notes the indexes asked for
// and answers zero hashes: a dry run of a proof, whose shape depends only
// on the sizes.
type recordingReader struct{ want map[int64]bool }

func (r recordingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	for _, i := range indexes {
		r.want[i] = true
	}
	return make([]tlog.Hash, len(indexes)), nil
}

// mapReader answers the hashes computed for one proof.
type mapReader struct {
	got   map[int64]tlog.Hash
	first uint64
}

func (r mapReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := r.got[x]
		if !ok {
			return nil, fmt.Errorf("%w: the proof needs hashes of records before %d", ErrNotLocal, r.first)
		}
		out[i] = h
	}
	return out, nil
}

// proveCut runs fn, a proof over the first size records of a cut log v,
// with the hashes dry names: computed in one pass over the records from
// the first kept one to size, starting from the Merkle frontier in its
// segment header. Memory is O(log n) plus the hashes asked for; time is
// proportional to the records kept locally.
func proveCut(ctx context.Context, v *readView, size uint64, dry func(r tlog.HashReader), fn func(r tlog.HashReader) error) error {
	want := map[int64]bool{}
	dry(recordingReader{want})
	first := v.firstLocal()
	_, f0, err := stateAt(v, first)
	if err != nil {
		return err
	}
	got := map[int64]tlog.Hash{}
	type node struct {
		level int
		idx   int64
		h     Hash
	}
	note := func(n node) {
		if i := tlog.StoredHashIndex(n.level, n.idx); want[i] {
			got[i] = tlog.Hash(n.h)
		}
	}
	// The frontier's subtrees, largest first, cover records 0 … first-1.
	var stack []node
	var at int64
	rest := first
	for _, h := range f0.hashes {
		level := bits.Len64(rest) - 1
		n := node{level: level, idx: at >> level, h: h}
		note(n)
		stack = append(stack, n)
		at += 1 << level
		rest &^= 1 << level
	}
	err = scanRecords(ctx, v, first, size, func(seq uint64, payload []byte) error {
		n := node{level: 0, idx: int64(seq), h: leafHash(payload)}
		note(n)
		for len(stack) > 0 && stack[len(stack)-1].level == n.level {
			left := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n = node{level: n.level + 1, idx: left.idx >> 1, h: Hash(tlog.NodeHash(tlog.Hash(left.h), tlog.Hash(n.h)))}
			note(n)
		}
		stack = append(stack, n)
		return nil
	})
	if err != nil {
		return err
	}
	return fn(mapReader{got: got, first: first})
}
