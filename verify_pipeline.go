package treeoflife

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"slices"

	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// The stages of the verification pipeline (verify_parallel.go): a segment
// reader fills batches, a worker hashes them.

// vbatch is one item of a segment's queue: its header (the first item), or
// a batch of whole frames, checked for length, checksum and seq by the
// reader and hashed by a worker.
type vbatch struct {
	slot *readerSlot   // whose buffer it is; nil for a header
	done chan struct{} // closed once hashed

	// The first item of a segment.
	openErr error // openSegment's error: the header is unknown
	hdr     segmentHeader

	// A batch, from the reader.
	seg   string // the segment's name, for errors
	buf   []byte // the frames as read; byte 47 of each header is overwritten (see leafInput)
	offs  []int  // where each frame starts in buf
	base  int64  // the segment offset of buf[0]
	first uint64 // the seq of the first frame
	prev  Hash   // the chain value stored before the first frame (the header's PrevChain in the first batch)
	fail  error  // what stopped the reader after these frames: a damaged frame, a wrong seq

	// A batch, from the worker.
	skipped  bool      // not hashed: the verification was cancelled
	good     int       // frames before the first chain mismatch
	chainErr error     // that mismatch
	leaves   []Hash    // leaf hashes of the good frames
	roots    []subtree // roots of the perfect subtrees the good frames' leaves make, in order
}

// subtree is the root of a perfect Merkle subtree of 2^level leaves.
type subtree struct {
	level int
	hash  Hash
}

// closedDone is the done channel of a header item: nothing to hash.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// storedChain is the chain value stored in frame i's header.
func (b *vbatch) storedChain(i int) []byte { return b.buf[b.offs[i]+12 : b.offs[i]+44] }

// offset is the segment offset of frame i.
func (b *vbatch) offset(i int) int64 { return b.base + int64(b.offs[i]) }

// release gives a batch's buffers back to its reader.
func (b *vbatch) release() {
	if b.slot == nil {
		return
	}
	b.fail, b.chainErr = nil, nil
	b.offs, b.leaves, b.roots = b.offs[:0], b.leaves[:0], b.roots[:0]
	b.good, b.skipped = 0, false
	if cap(b.buf) > 2*b.slot.size {
		b.buf = nil
	}
	b.slot.free <- b
}

// segmentScan is a reader's position in a segment.
type segmentScan struct {
	r     io.Reader
	name  string
	off   int64  // the segment offset of the next frame
	seq   uint64 // the seq it must have
	prev  Hash   // the chain value stored in the frame before it
	stop  uint64 // no frame with this seq or a later one is read (the limit)
	carry []byte // the start of the next frame, read into the previous buffer
	err   error  // the source's error, once it returned one
}

// readSegment reads sf into batches from slot s and sends them to q, in
// order, and to the workers, until the segment ends or fails.
func (p *pipeline) readSegment(sf segmentFile, s *readerSlot, q chan<- *vbatch) {
	sr, err := openSegment(p.dir, sf, segmentLimit(sf, p.lim))
	q <- &vbatch{done: closedDone, openErr: err, hdr: headerOf(sr)}
	if err != nil {
		return
	}
	defer sr.Close()
	sc := &segmentScan{r: sr.r, name: sf.Name, off: sr.off, seq: sr.Header.FirstSeq, prev: sr.Header.PrevChain, stop: ^uint64(0)}
	if p.lim != nil {
		sc.stop = p.lim.Head.Size
	}
	for {
		var b *vbatch
		select {
		case b = <-s.free:
		case <-p.ctx.Done():
			return
		}
		more := sc.fill(b, p.batchBytes)
		b.done = make(chan struct{})
		q <- b
		p.work <- b
		if !more {
			return
		}
	}
}

func headerOf(sr *segmentReader) segmentHeader {
	if sr == nil {
		return segmentHeader{}
	}
	return sr.Header
}

// fill reads whole frames into b, checking each as segmentReader.Next
// does (length, checksum) and its seq, up to size bytes (more for a larger
// frame). It reports whether the segment goes on after them; when it does
// not, b.fail says why, or is nil at a clean end.
func (sc *segmentScan) fill(b *vbatch, size int) bool {
	buf := b.buf[:0]
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	buf = append(buf, sc.carry...)
	b.seg, b.base, b.first, b.prev = sc.name, sc.off, sc.seq, sc.prev
	defer func() {
		b.buf = buf
		if len(b.offs) > 0 {
			copy(sc.prev[:], b.storedChain(len(b.offs)-1))
		}
	}()
	pos := 0
	for {
		for {
			if sc.seq >= sc.stop {
				return false
			}
			if len(buf)-pos < frameHeaderSize {
				break
			}
			hdr := buf[pos : pos+frameHeaderSize]
			plen := int(binary.BigEndian.Uint32(hdr[0:4]))
			if plen == 0 || plen > maxFramePayload {
				_, _, ferr := parseFrameHeader(hdr, sc.off) // the reason
				b.fail = sc.damaged(ferr)
				return false
			}
			if len(buf)-pos-frameHeaderSize < plen {
				break
			}
			payload := buf[pos+frameHeaderSize : pos+frameHeaderSize+plen]
			if frameCRC(hdr, payload) != binary.BigEndian.Uint32(hdr[44:48]) {
				b.fail = sc.damaged(&frameError{Offset: sc.off, Reason: "frame checksum mismatch"})
				return false
			}
			if seq := binary.BigEndian.Uint64(hdr[4:12]); seq != sc.seq {
				b.fail = &TamperError{Segment: sc.name, Seq: sc.seq, Offset: sc.off,
					Reason: fmt.Sprintf("found seq %d where seq %d belongs (record inserted, deleted or reordered)", seq, sc.seq)}
				return false
			}
			hdr[47] = leafHashPrefix // see leafInput
			b.offs = append(b.offs, pos)
			pos += frameHeaderSize + plen
			sc.off += int64(frameHeaderSize + plen)
			sc.seq++
		}
		if len(buf) == cap(buf) && len(b.offs) > 0 {
			sc.carry = append(sc.carry[:0], buf[pos:]...)
			buf = buf[:pos]
			return true
		}
		if sc.err != nil {
			b.fail = sc.ended(len(buf) - pos)
			return false
		}
		if len(buf) == cap(buf) {
			// A frame larger than the buffer: grow it, as bytes arrive
			// (a damaged length cannot make it allocate more).
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := sc.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			sc.err = err
		}
	}
}

// damaged is the failure a damaged frame at the scan's position is.
func (sc *segmentScan) damaged(fe *frameError) error {
	return &TamperError{Segment: sc.name, Seq: sc.seq, Offset: fe.Offset, Reason: "damaged frame: " + fe.Reason}
}

// ended is what the source's error means with pending bytes of the next
// frame read: nil at a clean end, else what segmentReader.Next reports.
func (sc *segmentScan) ended(pending int) error {
	short := func(reason string) error {
		return sc.damaged(&frameError{Offset: sc.off, Reason: reason, Short: true})
	}
	err := sc.err
	switch {
	case err == io.EOF && pending == 0:
		return nil
	case pending < frameHeaderSize && (err == io.EOF || pending > 0 && err == io.ErrUnexpectedEOF):
		return short("frame header cut short")
	case pending >= frameHeaderSize && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return short("frame payload cut short")
	}
	return sc.damaged(&frameError{Offset: sc.off, Reason: "read: " + err.Error()})
}

// leafHashPrefix is RFC 6962's leaf hash prefix.
const leafHashPrefix = 0x00

// leafInput: once a frame's checksum has been checked, the reader sets the
// last byte of its header (the checksum's) to leafHashPrefix, so that the
// leaf hash's input, 0x00 || payload, lies in the buffer as one slice.

// batchHasher is a worker's scratch space.
type batchHasher struct {
	scratch []Hash
	lnk     [2][65]byte // two link messages
	pair    sha256x2.Pair
}

// hash computes the leaf hash and chain value of b's frames, stopping at
// the first whose stored chain value differs, and the Merkle subtrees over
// the leaves before it.
//
// The hashes are independent of each other (a chain value is checked
// against its predecessor's stored value, which is the computed one up to
// the first mismatch), so they are computed two at a time (sha256x2).
func (h *batchHasher) hash(b *vbatch) {
	n := len(b.offs)
	b.leaves = slices.Grow(b.leaves[:0], n)[:n]
	leafInput := func(i int) []byte {
		fr := b.buf[b.offs[i]:]
		plen := int(binary.BigEndian.Uint32(fr[0:4]))
		return fr[frameHeaderSize-1 : frameHeaderSize+plen]
	}
	for i := 0; i < n; i += 2 {
		if i+1 == n {
			b.leaves[i] = sha256x2.Sum(leafInput(i))
			break
		}
		b.leaves[i], b.leaves[i+1] = h.pair.Sum2(leafInput(i), leafInput(i+1))
	}
	stored := func(i int) []byte { return b.buf[b.offs[i]+12 : b.offs[i]+44] }
	link := func(k, i int) []byte {
		m := &h.lnk[k]
		m[0] = chainPrefix
		if i == 0 {
			copy(m[1:33], b.prev[:])
		} else {
			copy(m[1:33], stored(i-1))
		}
		copy(m[33:], b.leaves[i][:])
		return m[:]
	}
	b.good = n
	for i := 0; i < n; i += 2 {
		var c [2]Hash
		if i+1 == n {
			c[0] = sha256x2.Sum(link(0, i))
		} else {
			c[0], c[1] = h.pair.Sum2(link(0, i), link(1, i+1))
		}
		for k := 0; k < 2 && i+k < n; k++ {
			if c[k] != Hash(stored(i+k)) {
				b.good = i + k
				b.chainErr = &TamperError{Segment: b.seg, Seq: b.first + uint64(i+k), Offset: b.offset(i + k),
					Reason: "chain value mismatch: the record or its predecessor was modified"}
				break
			}
		}
		if b.good < n {
			break
		}
	}
	b.roots = h.subtrees(b.roots[:0], b.first, b.leaves[:b.good])
}

// subtrees splits the leaves of records first… into the largest perfect
// subtrees of the log's Merkle tree, in order, and appends their roots.
func (h *batchHasher) subtrees(roots []subtree, first uint64, leaves []Hash) []subtree {
	for start := 0; start < len(leaves); {
		level := bits.Len(uint(len(leaves)-start)) - 1 // the largest that fits
		if at := first + uint64(start); at != 0 {
			level = min(level, bits.TrailingZeros64(at)) // and is aligned
		}
		n := 1 << level
		roots = append(roots, subtree{level: level, hash: h.root(leaves[start : start+n])})
		start += n
	}
	return roots
}

// root is the root of the perfect tree over leaves (a power of two of them).
func (h *batchHasher) root(leaves []Hash) Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	s := append(h.scratch[:0], leaves...)
	node := func(k, i int) []byte {
		m := &h.lnk[k]
		m[0] = nodePrefix
		copy(m[1:33], s[2*i][:])
		copy(m[33:], s[2*i+1][:])
		return m[:]
	}
	for len(s) > 1 {
		half := len(s) / 2
		for i := 0; i < half; i += 2 {
			if i+1 == half {
				s[i] = sha256x2.Sum(node(0, i))
				break
			}
			// Reads s[2i…2i+3] before it writes s[i] and s[i+1].
			s[i], s[i+1] = h.pair.Sum2(node(0, i), node(1, i+1))
		}
		s = s[:half]
	}
	h.scratch = s[:0]
	return s[0]
}

// nodePrefix is RFC 6962's interior node hash prefix.
const nodePrefix = 0x01

// nodeHash is RFC 6962's interior node hash, SHA-256(0x01 || left || right),
// as tlog.NodeHash, without copying its arguments.
func nodeHash(left, right *Hash) Hash {
	return sha256x2.Link(nodePrefix, (*[32]byte)(left), (*[32]byte)(right))
}
