package treeoflife

import (
	"encoding/binary"
	"errors"
	"io"
	"sort"

	"github.com/treeoflife/treeoflife/internal/sha256x2"
)

// readFrames calls fn with every frame of records from..to-1 visible in v,
// in order, reading only the index blocks that hold them. The frame's
// Payload is valid only during the call.
func readFrames(v *readView, from, to uint64, fn func(fr *frame) error) error {
	to = min(to, v.Size)
	if from >= to {
		return nil
	}
	// The segment holding from: the last index whose FirstSeq <= from.
	si := sort.Search(len(v.Indexes), func(i int) bool { return v.Indexes[i].FirstSeq > from }) - 1
	if si < 0 {
		return &TamperError{Seq: from, Offset: -1, Reason: "no segment holds this record"}
	}
	next := from
	for ; si < len(v.Indexes) && next < to; si++ {
		x, err := v.Indexes[si].loaded()
		if err != nil {
			return err
		}
		bi := sort.Search(len(x.Blocks), func(i int) bool { return x.Blocks[i].FirstSeq > next }) - 1
		if bi < 0 {
			continue // an empty segment
		}
		b := x.Blocks[bi]
		sf := v.segmentFile(x)
		sr, err := openSegmentAt(v.Dir, sf, b.Offset, b.ZOffset, v.limit(x))
		if err != nil {
			return segmentOpenError(sf, next, err)
		}
		err = func() error {
			defer sr.Close()
			for next < to {
				fr, err := sr.Next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					var fe *frameError
					if errors.As(err, &fe) {
						return &TamperError{Segment: sf.Name, Seq: next, Offset: fe.Offset, Reason: "damaged frame: " + fe.Reason}
					}
					return err
				}
				if fr.Seq < next {
					continue
				}
				if fr.Seq != next {
					return &TamperError{Segment: sf.Name, Seq: next, Offset: fr.Offset, Reason: "record missing from its segment"}
				}
				if err := fn(&fr); err != nil {
					return err
				}
				next++
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	if next < to {
		return &TamperError{Seq: next, Offset: -1, Reason: "record missing from the log"}
	}
	return nil
}

// stateAt returns the chain value and Merkle frontier after the first n
// records visible in v: from the header of the segment holding record n,
// replaying the records of that segment before it.
func stateAt(v *readView, n uint64) (Hash, frontier, error) {
	si := sort.Search(len(v.Indexes), func(i int) bool { return v.Indexes[i].FirstSeq > n }) - 1
	if si < 0 {
		return Hash{}, frontier{}, &TamperError{Seq: n, Offset: -1, Reason: "no segment holds this record"}
	}
	x := v.Indexes[si]
	sf := v.segmentFile(x)
	sr, err := openSegment(v.Dir, sf, v.limit(x))
	if err != nil {
		return Hash{}, frontier{}, segmentOpenError(sf, x.FirstSeq, err)
	}
	chain, f := sr.Header.PrevChain, frontier{n: x.FirstSeq, hashes: sr.Header.Frontier}
	sr.Close()
	err = readFrames(v, x.FirstSeq, n, func(fr *frame) error {
		f.append(leafHash(fr.Payload))
		chain = fr.Chain
		return nil
	})
	return chain, f, err
}

// batchLeaves appends to leaves the leaf hashes of the frames of body, a
// batch body batchBody made (so its frames are well-formed: nothing is
// checked), and returns them with the chain value of its last frame. It
// hashes two records at a time (sha256x2): each leaf hash's input, 0x00 ||
// payload, is the payload with the last header byte set to the prefix,
// which is put back afterwards.
func batchLeaves(body []byte, leaves []Hash, pair *sha256x2.Pair) ([]Hash, Hash) {
	var last Hash
	var in [2][]byte
	var saved [2]byte
	k := 0
	for off := 0; off < len(body); {
		n := int(binary.BigEndian.Uint32(body[off:]))
		copy(last[:], body[off+12:off+44])
		in[k] = body[off+frameHeaderSize-1 : off+frameHeaderSize+n]
		saved[k], in[k][0] = in[k][0], leafHashPrefix
		off += frameHeaderSize + n
		if k++; k < 2 && off < len(body) {
			continue
		}
		if k == 2 {
			a, b := pair.Sum2(in[0], in[1])
			leaves = append(leaves, a, b)
		} else {
			leaves = append(leaves, sha256x2.Sum(in[0]))
		}
		for i := range k {
			in[i][0] = saved[i]
		}
		k = 0
	}
	return leaves, last
}

// walkBatch calls fn for each frame of a batch body (frames as stored),
// checking lengths and checksums.
func walkBatch(body []byte, fn func(fr *frame) error) error {
	for off := 0; off < len(body); {
		if len(body)-off < frameHeaderSize {
			return &frameError{Offset: int64(off), Reason: "frame header cut short", Short: true}
		}
		hdr := body[off : off+frameHeaderSize]
		fr, n, ferr := parseFrameHeader(hdr, int64(off))
		if ferr != nil {
			return ferr
		}
		if len(body)-off-frameHeaderSize < n {
			return &frameError{Offset: int64(off), Reason: "frame payload cut short", Short: true}
		}
		fr.Payload = body[off+frameHeaderSize : off+frameHeaderSize+n]
		if frameCRC(hdr, fr.Payload) != fr.Sum {
			return &frameError{Offset: int64(off), Reason: "frame checksum mismatch"}
		}
		if err := fn(&fr); err != nil {
			return err
		}
		off += frameHeaderSize + n
	}
	return nil
}
