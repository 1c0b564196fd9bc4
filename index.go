package treeoflife

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Segment indexes let queries skip what cannot match. An index is a cache:
// it is rebuilt from its segment when missing or damaged, and Verify never
// relies on it. Each sealed segment NNN.seg has NNN.idx beside it; the active
// segment's index lives in memory and is written when the segment is sealed.
const (
	indexMagic = "TOLIDX01"
	indexExt   = ".idx"

	// indexBlockRecords is how many records one index block covers: the
	// unit a query reads or skips.
	indexBlockRecords = 256

	indexBlockSize = 8 + 8 + 8 + 4 + 8 + 8 + 2 + 32
)

// indexBlock describes up to indexBlockRecords consecutive records.
type indexBlock struct {
	FirstSeq uint64
	Offset   int64 // of the first frame, in the uncompressed segment
	ZOffset  int64 // of the gzip member starting with this block in NNN.seg.gz; 0 if unknown
	Count    uint32
	MinTime  int64 // Unix nanoseconds of the entries' timestamps
	MaxTime  int64
	Levels   uint16 // bit l set when a record has Level l
	Prev     Hash   // chain value before the block's first record
}

// segmentIndex summarises one segment.
type segmentIndex struct {
	FirstSeq    uint64
	Count       uint64
	Size        int64 // uncompressed bytes, header included
	MinTime     int64
	MaxTime     int64
	LevelCounts [LevelSystem + 1]uint64
	Blocks      []indexBlock

	// partial: rebuilt without the key of some records (level 0, time 0),
	// so not the index a checkpoint commits to.
	partial bool
	sum     Hash // digest(), once summed
	summed  bool

	// src, when not nil, makes this the summary of a sealed segment's
	// index: Blocks is nil and loaded() loads them (indexblocks.go).
	// zoffsets says whether the blocks had their gzip member offsets, and
	// oldest and newest are their known times (blockTimes).
	src            *blockSource
	zoffsets       bool
	oldest, newest int64
}

func newSegmentIndex(firstSeq uint64, headerSize int64) *segmentIndex {
	return &segmentIndex{FirstSeq: firstSeq, Size: headerSize}
}

// add records the frame of record seq at offset off; prev is the chain
// value before it.
func (x *segmentIndex) add(seq uint64, off, frameLen int64, level Level, t int64, prev *Hash) {
	n := len(x.Blocks)
	if n == 0 || x.Blocks[n-1].Count == indexBlockRecords {
		x.Blocks = append(x.Blocks, indexBlock{FirstSeq: seq, Offset: off, MinTime: t, MaxTime: t, Prev: *prev})
		n++
	}
	b := &x.Blocks[n-1]
	b.Count++
	b.MinTime = min(b.MinTime, t)
	b.MaxTime = max(b.MaxTime, t)
	if level.valid() {
		b.Levels |= 1 << level
		x.LevelCounts[level]++
	}
	if x.Count == 0 {
		x.MinTime, x.MaxTime = t, t
	}
	x.MinTime = min(x.MinTime, t)
	x.MaxTime = max(x.MaxTime, t)
	x.Count++
	x.Size = off + frameLen
}

func (x *segmentIndex) clone() *segmentIndex {
	c := *x
	c.Blocks = append([]indexBlock(nil), x.Blocks...)
	return &c
}

func indexName(firstSeq uint64) string {
	return strings.TrimSuffix(segmentName(firstSeq), segmentExt) + indexExt
}

func (x *segmentIndex) marshal() []byte {
	if x.src != nil {
		panic("treeoflife: marshal of an index summary, whose blocks are not loaded")
	}
	b := make([]byte, 0, 64+len(x.LevelCounts)*8+len(x.Blocks)*indexBlockSize)
	b = append(b, indexMagic...)
	b = binary.BigEndian.AppendUint64(b, x.FirstSeq)
	b = binary.BigEndian.AppendUint64(b, x.Count)
	b = binary.BigEndian.AppendUint64(b, uint64(x.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(x.MinTime))
	b = binary.BigEndian.AppendUint64(b, uint64(x.MaxTime))
	for _, c := range x.LevelCounts {
		b = binary.BigEndian.AppendUint64(b, c)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(x.Blocks)))
	for _, k := range x.Blocks {
		b = binary.BigEndian.AppendUint64(b, k.FirstSeq)
		b = binary.BigEndian.AppendUint64(b, uint64(k.Offset))
		b = binary.BigEndian.AppendUint64(b, uint64(k.ZOffset))
		b = binary.BigEndian.AppendUint32(b, k.Count)
		b = binary.BigEndian.AppendUint64(b, uint64(k.MinTime))
		b = binary.BigEndian.AppendUint64(b, uint64(k.MaxTime))
		b = binary.BigEndian.AppendUint16(b, k.Levels)
		b = append(b, k.Prev[:]...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadIndex = errors.New("malformed index")

func unmarshalIndex(b []byte) (*segmentIndex, error) {
	fixed := 8 + 5*8 + len(segmentIndex{}.LevelCounts)*8 + 4
	if len(b) < fixed+4 || string(b[:8]) != indexMagic {
		return nil, errBadIndex
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errBadIndex
	}
	x := &segmentIndex{}
	p := body[8:]
	u64 := func() uint64 { v := binary.BigEndian.Uint64(p); p = p[8:]; return v }
	x.FirstSeq, x.Count, x.Size = u64(), u64(), int64(u64())
	x.MinTime, x.MaxTime = int64(u64()), int64(u64())
	for i := range x.LevelCounts {
		x.LevelCounts[i] = u64()
	}
	n := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if len(p) != n*indexBlockSize {
		return nil, errBadIndex
	}
	x.Blocks = make([]indexBlock, n)
	var total uint64
	for i := range x.Blocks {
		k := &x.Blocks[i]
		k.FirstSeq, k.Offset, k.ZOffset = u64(), int64(u64()), int64(u64())
		k.Count = binary.BigEndian.Uint32(p)
		p = p[4:]
		k.MinTime, k.MaxTime = int64(u64()), int64(u64())
		k.Levels = binary.BigEndian.Uint16(p)
		copy(k.Prev[:], p[2:34])
		p = p[34:]
		if k.FirstSeq != x.FirstSeq+total || k.Count == 0 || k.Count > indexBlockRecords {
			return nil, errBadIndex
		}
		total += uint64(k.Count)
	}
	if total != x.Count {
		return nil, errBadIndex
	}
	return x, nil
}

func writeIndex(dir string, x *segmentIndex) error {
	return fileutil.WriteFileAtomic(filepath.Join(dir, indexName(x.FirstSeq)), x.marshal(), 0o444)
}

// payloadOpener turns a stored payload into its entry JSON (see
// ImmutableLogger.openPayload), so that an encrypted log's index gets its
// records' levels and times.
type payloadOpener func(seq uint64, payload, dst []byte) ([]byte, error)

// loadIndex reads the index of a sealed segment, rebuilding (and trying to rewrite)
// it from the segment when it is missing, damaged or does not fit. When it
// rebuilds, open (if not nil) turns payloads into entries; a payload open
// fails on (a sealed record without its key) is indexed with level 0 and
// time 0, and such an index is not written to disk, so that a later Open
// with the key rebuilds it whole.
func loadIndex(dir string, sf segmentFile, open payloadOpener) (*segmentIndex, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexName(sf.FirstSeq)))
	if err == nil {
		if x, err := unmarshalIndex(b); err == nil && x.FirstSeq == sf.FirstSeq {
			return x, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	x, complete, err := buildIndexWith(dir, sf, -1, open)
	if err != nil {
		return nil, err
	}
	if !complete {
		x.partial = true
		return x, nil
	}
	// The index is only a cache: a log on a full disk still opens, and the
	// next Open tries again.
	_ = writeIndex(dir, x)
	return x, nil
}

// buildIndex scans a segment (up to limit bytes, or all when limit < 0).
func buildIndex(dir string, sf segmentFile, limit int64) (*segmentIndex, error) {
	x, _, err := buildIndexWith(dir, sf, limit, nil)
	return x, err
}

// buildIndexWith is buildIndex with open (when not nil) applied to payloads;
// complete is false when open failed on a payload.
func buildIndexWith(dir string, sf segmentFile, limit int64, open payloadOpener) (x *segmentIndex, complete bool, err error) {
	sr, err := openSegment(dir, sf, limit)
	if err != nil {
		return nil, false, segmentOpenError(sf, sf.FirstSeq, err)
	}
	defer sr.Close()
	x = newSegmentIndex(sr.Header.FirstSeq, sr.Header.size())
	prev := sr.Header.PrevChain
	var scratch []byte
	complete = true
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			return x, complete, nil
		}
		if err != nil {
			return nil, false, segmentOpenError(sf, x.FirstSeq+x.Count, err)
		}
		entry := fr.Payload
		if open != nil {
			if entry, err = open(fr.Seq, fr.Payload, scratch[:0]); err != nil {
				entry, complete = nil, false
			} else if len(entry) > 0 && &entry[0] != &fr.Payload[0] {
				scratch = entry // a decrypted entry: reuse its buffer (never the reader's)
			}
		}
		level, t := entryLevelTime(entry)
		x.add(fr.Seq, fr.Offset, int64(frameHeaderSize+len(fr.Payload)), level, t, &prev)
		prev = fr.Chain
	}
}

// entryLevelTime reads the level and timestamp of a stored entry from their
// fixed places at its start (FORMAT.md, "Entries"): the id is always 36
// characters and the timestamp 30. It returns 0 values when they are not
// where they belong.
func entryLevelTime(p []byte) (Level, int64) {
	const (
		tsStart    = len(`{"id":"`) + 36 + len(`","timestamp":"`)
		tsLen      = len("2006-01-02T15:04:05.000000000Z")
		levelStart = tsStart + tsLen + len(`","level":"`)
	)
	if len(p) < levelStart+4 || !bytes.Equal(p[tsStart+tsLen:levelStart], []byte(`","level":"`)) {
		return 0, 0
	}
	t, err := time.Parse(time.RFC3339Nano, string(p[tsStart:tsStart+tsLen]))
	if err != nil {
		return 0, 0
	}
	end := bytes.IndexByte(p[levelStart:], '"')
	if end < 0 {
		return 0, t.UnixNano()
	}
	lv, err := ParseLevel(string(p[levelStart : levelStart+end]))
	if err != nil {
		return 0, t.UnixNano()
	}
	return lv, t.UnixNano()
}
