package treeoflife

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment files. The byte layout is specified in FORMAT.md; the constants and
// functions here are its only implementation.
const (
	segmentMagic      = "TOLSEG01" // the trailing "01" is the segment format version
	segmentExt        = ".seg"
	compressedExt     = ".seg.gz"
	segmentNameDigits = 20

	// segmentFixedSize is the header without its frontier hashes and CRC:
	// magic(8) logID(16) firstSeq(8) created(8) prevChain(32) frontierCount(1).
	segmentFixedSize = 8 + 16 + 8 + 8 + 32 + 1

	// frameHeaderSize: payloadLen(4) seq(8) chain(32) crc32c(4).
	frameHeaderSize = 4 + 8 + 32 + 4

	// maxFramePayload caps the payload length a reader accepts before it
	// allocates, whatever the header claims. MaxEntrySize may not exceed it.
	maxFramePayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName returns the file name of the segment whose first record is seq.
func segmentName(firstSeq uint64) string {
	s := strconv.FormatUint(firstSeq, 10)
	return strings.Repeat("0", segmentNameDigits-len(s)) + s + segmentExt
}

// segmentFile is one segment as found in the directory.
type segmentFile struct {
	FirstSeq   uint64
	Name       string // file name: NNN.seg or NNN.seg.gz
	Compressed bool
}

// parseSegmentName parses "NNN.seg" and "NNN.seg.gz"; ok is false for any
// other name.
func parseSegmentName(name string) (seq uint64, compressed, ok bool) {
	base, compressed := strings.CutSuffix(name, compressedExt)
	if !compressed {
		var found bool
		if base, found = strings.CutSuffix(name, segmentExt); !found {
			return 0, false, false
		}
	}
	if len(base) != segmentNameDigits {
		return 0, false, false
	}
	for i := 0; i < len(base); i++ {
		if base[i] < '0' || base[i] > '9' {
			return 0, false, false
		}
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, compressed, err == nil
}

// listSegments returns the segments in dir in sequence order. When a segment
// exists both plain and compressed (a crash during compression), the plain
// file is listed: it is the original, the compressed copy is redone.
//
// After local retention (START), only the segments the log keeps are
// listed: those from START's first record on.
func listSegments(dir string) ([]segmentFile, error) {
	segs, _, err := listKept(dir, nil)
	return segs, err
}

// listAllSegments is listSegments with every segment file, START or not.
func listAllSegments(dir string) ([]segmentFile, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	bySeq := make(map[uint64]segmentFile)
	for _, de := range des {
		seq, compressed, ok := parseSegmentName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		if prev, dup := bySeq[seq]; dup && !prev.Compressed {
			continue
		}
		bySeq[seq] = segmentFile{FirstSeq: seq, Name: de.Name(), Compressed: compressed}
	}
	segs := make([]segmentFile, 0, len(bySeq))
	for _, s := range bySeq {
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b segmentFile) int {
		switch {
		case a.FirstSeq < b.FirstSeq:
			return -1
		case a.FirstSeq > b.FirstSeq:
			return 1
		}
		return 0
	})
	return segs, nil
}

// segmentHeader starts every segment file. It carries the state of the log
// just before the segment's first record, so that each segment can be checked
// against its predecessor and the log can be reopened from its last segment.
type segmentHeader struct {
	LogID     [16]byte
	FirstSeq  uint64
	Created   int64  // Unix nanoseconds when the segment was started
	PrevChain Hash   // chain value after record FirstSeq-1 (genesis value for 0)
	Frontier  []Hash // Merkle frontier of the first FirstSeq records, largest subtree first
}

// size is the header's length in bytes. It depends only on FirstSeq (the
// frontier holds one hash per set bit), so it is known before the writer has
// filled in the frontier of a new segment's header.
func (h *segmentHeader) size() int64 {
	return int64(segmentFixedSize + 32*bits.OnesCount64(h.FirstSeq) + 4)
}

func (h *segmentHeader) appendTo(b []byte) []byte {
	start := len(b)
	b = append(b, segmentMagic...)
	b = append(b, h.LogID[:]...)
	b = binary.BigEndian.AppendUint64(b, h.FirstSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created))
	b = append(b, h.PrevChain[:]...)
	b = append(b, byte(len(h.Frontier)))
	for _, f := range h.Frontier {
		b = append(b, f[:]...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// errHeader is the reason a segment header is rejected.
type errHeader struct{ reason string }

func (e errHeader) Error() string { return e.reason }

// readSegmentHeader reads and checks a segment header: magic, version,
// frontier size and checksum. It does not check that the header fits the
// log; the caller compares LogID, FirstSeq and PrevChain.
func readSegmentHeader(r io.Reader) (segmentHeader, error) {
	var fixed [segmentFixedSize]byte
	var h segmentHeader
	n, err := io.ReadFull(r, fixed[:])
	if m := min(n, 6); string(fixed[:m]) != segmentMagic[:m] || n == 0 {
		return h, fmt.Errorf("%w: not a segment file (bad magic)", ErrNotLog)
	}
	if err != nil {
		return h, errHeader{"segment header is truncated"}
	}
	if string(fixed[:6]) != segmentMagic[:6] {
		return h, fmt.Errorf("%w: not a segment file (bad magic)", ErrNotLog)
	}
	if string(fixed[:8]) != segmentMagic {
		return h, fmt.Errorf("%w: segment version %q", ErrUnsupportedVersion, fixed[6:8])
	}
	copy(h.LogID[:], fixed[8:24])
	h.FirstSeq = binary.BigEndian.Uint64(fixed[24:32])
	h.Created = int64(binary.BigEndian.Uint64(fixed[32:40]))
	copy(h.PrevChain[:], fixed[40:72])
	n = int(fixed[72])
	if n != bits.OnesCount64(h.FirstSeq) {
		return h, errHeader{fmt.Sprintf("segment header has %d frontier hashes, want %d for first seq %d", n, bits.OnesCount64(h.FirstSeq), h.FirstSeq)}
	}
	rest := make([]byte, 32*n+4)
	if _, err := io.ReadFull(r, rest); err != nil {
		return h, errHeader{"segment header is truncated"}
	}
	crc := crc32.Checksum(fixed[:], castagnoli)
	crc = crc32.Update(crc, castagnoli, rest[:32*n])
	if crc != binary.BigEndian.Uint32(rest[32*n:]) {
		return h, errHeader{"segment header checksum mismatch"}
	}
	h.Frontier = make([]Hash, n)
	for i := range h.Frontier {
		copy(h.Frontier[i][:], rest[32*i:])
	}
	return h, nil
}

// frame is one decoded record frame. Payload aliases the reader's buffer and
// is valid until the next call to Next.
type frame struct {
	Seq     uint64
	Chain   Hash
	Payload []byte
	Offset  int64  // of the frame header in the uncompressed segment
	Sum     uint32 // the checksum stored in the header; a reader returns a frame only once it matches
}

// frameError is a frame the reader could not decode: cut short, a checksum
// mismatch or an impossible length. Whether it is a torn tail or corruption
// is for the caller to decide (see scanForFrame).
type frameError struct {
	Offset int64
	Reason string
	Short  bool // the file ended inside the frame
}

func (e *frameError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason) }

// segmentReader streams the frames of one segment in O(1) memory (one
// payload buffer).
type segmentReader struct {
	r          *bufio.Reader
	compressed bool
	closer     []io.Closer
	Header     segmentHeader
	off        int64 // offset of the next frame
	buf        []byte
}

// openSegment opens the segment file (plain or compressed) and reads its
// header. limit, when >= 0, is the number of uncompressed bytes to read: it
// stops the reader at what a concurrent writer had completed.
func openSegment(dir string, sf segmentFile, limit int64) (*segmentReader, error) {
	f, err := os.Open(filepath.Join(dir, sf.Name))
	if errors.Is(err, os.ErrNotExist) {
		// The compressor may have replaced NNN.seg with NNN.seg.gz since the
		// directory was listed; the compressed file holds the same bytes.
		other := sf
		other.Compressed = !sf.Compressed
		if other.Compressed {
			other.Name = strings.TrimSuffix(sf.Name, segmentExt) + compressedExt
		} else {
			other.Name = strings.TrimSuffix(sf.Name, compressedExt) + segmentExt
		}
		f, err = os.Open(filepath.Join(dir, other.Name))
		sf = other
	}
	if err != nil {
		return nil, err
	}
	sr := &segmentReader{closer: []io.Closer{f}, compressed: sf.Compressed}
	var src io.Reader = f
	if sf.Compressed {
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			f.Close()
			return nil, &frameError{Offset: 0, Reason: "compressed segment is damaged: " + err.Error()}
		}
		sr.closer = append(sr.closer, zr)
		src = zr
	}
	if limit >= 0 {
		src = io.LimitReader(src, limit)
	}
	sr.r = bufio.NewReaderSize(src, 256<<10)
	sr.Header, err = readSegmentHeader(sr.r)
	if err != nil {
		sr.Close()
		return nil, err
	}
	sr.off = sr.Header.size()
	return sr, nil
}

// openSegmentAt opens a segment positioned at the frame starting at
// uncompressed offset off, which must be a frame boundary taken from the
// segment's index. For a compressed segment, zoff is the offset of the gzip
// member that starts there (0 if unknown: the segment is decompressed from
// its start). end, when >= 0, is the uncompressed offset to stop at.
func openSegmentAt(dir string, sf segmentFile, off, zoff, end int64) (*segmentReader, error) {
	sr, err := openSegment(dir, sf, end)
	if err != nil || off <= sr.off {
		return sr, err
	}
	f := sr.closer[0].(*os.File)
	var src io.Reader
	switch {
	case !sr.compressed:
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			sr.Close()
			return nil, err
		}
		src = f
	case zoff > 0:
		if _, err := f.Seek(zoff, io.SeekStart); err != nil {
			sr.Close()
			return nil, err
		}
		zr := sr.closer[1].(*gzip.Reader)
		if err := zr.Reset(bufio.NewReaderSize(f, 64<<10)); err != nil {
			sr.Close()
			return nil, &frameError{Offset: off, Reason: "compressed segment is damaged: " + err.Error()}
		}
		src = zr
	default:
		if _, err := io.CopyN(io.Discard, sr.r, off-sr.off); err != nil {
			sr.Close()
			return nil, &frameError{Offset: sr.off, Reason: "segment ends before offset " + strconv.FormatInt(off, 10), Short: true}
		}
		sr.off = off
		return sr, nil
	}
	if end >= 0 {
		src = io.LimitReader(src, end-off)
	}
	sr.r.Reset(src)
	sr.off = off
	return sr, nil
}

// Close releases the segment's file.
func (sr *segmentReader) Close() error {
	var err error
	for i := len(sr.closer) - 1; i >= 0; i-- {
		if cerr := sr.closer[i].Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Offset is the offset of the next frame.
func (sr *segmentReader) Offset() int64 { return sr.off }

// Next returns the next frame, io.EOF at a clean end of the segment, or a
// *frameError. A damaged compressed stream is reported as a *frameError too.
func (sr *segmentReader) Next() (frame, error) {
	var hdr [frameHeaderSize]byte
	n, err := io.ReadFull(sr.r, hdr[:])
	if err == io.EOF {
		return frame{}, io.EOF
	}
	if err != nil {
		if n > 0 && err == io.ErrUnexpectedEOF {
			return frame{}, &frameError{Offset: sr.off, Reason: "frame header cut short", Short: true}
		}
		return frame{}, &frameError{Offset: sr.off, Reason: "read: " + err.Error()}
	}
	fr, plen, ferr := parseFrameHeader(hdr[:], sr.off)
	if ferr != nil {
		return frame{}, ferr
	}
	if err := sr.readPayload(plen); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return frame{}, &frameError{Offset: sr.off, Reason: "frame payload cut short", Short: true}
		}
		return frame{}, &frameError{Offset: sr.off, Reason: "read: " + err.Error()}
	}
	if frameCRC(hdr[:], sr.buf) != fr.Sum {
		return frame{}, &frameError{Offset: sr.off, Reason: "frame checksum mismatch"}
	}
	fr.Payload = sr.buf
	sr.off += int64(frameHeaderSize + plen)
	return fr, nil
}

// readPayload reads an n-byte payload into sr.buf. Beyond 4 KiB the buffer
// grows by doubling only as bytes arrive, so a damaged length field cannot
// make the reader allocate much more than the file holds.
func (sr *segmentReader) readPayload(n int) error {
	const first = 4096
	if cap(sr.buf) >= n || n <= first {
		if cap(sr.buf) < n {
			sr.buf = make([]byte, n, first)
		}
		sr.buf = sr.buf[:n]
		_, err := io.ReadFull(sr.r, sr.buf)
		return err
	}
	sr.buf = sr.buf[:0]
	for len(sr.buf) < n {
		k := min(max(first, len(sr.buf)), n-len(sr.buf))
		sr.buf = slices.Grow(sr.buf, k)
		m, err := io.ReadFull(sr.r, sr.buf[len(sr.buf):len(sr.buf)+k])
		sr.buf = sr.buf[:len(sr.buf)+m]
		if err != nil {
			return err
		}
	}
	return nil
}

// parseFrameHeader decodes a frame header without its checksum check.
func parseFrameHeader(hdr []byte, off int64) (frame, int, *frameError) {
	plen := binary.BigEndian.Uint32(hdr[0:4])
	if plen == 0 {
		return frame{}, 0, &frameError{Offset: off, Reason: "zero-length frame"}
	}
	if plen > maxFramePayload {
		return frame{}, 0, &frameError{Offset: off, Reason: fmt.Sprintf("frame length %d exceeds the %d-byte limit", plen, maxFramePayload)}
	}
	fr := frame{Seq: binary.BigEndian.Uint64(hdr[4:12]), Offset: off, Sum: binary.BigEndian.Uint32(hdr[44:48])}
	copy(fr.Chain[:], hdr[12:44])
	return fr, int(plen), nil
}

// frameCRC is the CRC-32C of the frame header's first 44 bytes followed by the
// payload.
func frameCRC(hdr, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(hdr[:44], castagnoli), castagnoli, payload)
}

// scanForFrame reports whether b holds, at any offset, a well-formed frame
// (length within b, checksum correct) whose seq lies after afterSeq. A damaged
// frame at the end of the active segment is a torn write only if nothing valid
// was written after it: a crash loses a suffix, never a record in the middle.
func scanForFrame(b []byte, afterSeq uint64, haveAfter bool) bool {
	for i := 0; i+frameHeaderSize < len(b); i++ {
		hdr := b[i : i+frameHeaderSize]
		fr, plen, ferr := parseFrameHeader(hdr, 0)
		if ferr != nil || i+frameHeaderSize+plen > len(b) {
			continue
		}
		if haveAfter && fr.Seq <= afterSeq {
			continue
		}
		if frameCRC(hdr, b[i+frameHeaderSize:i+frameHeaderSize+plen]) == fr.Sum {
			return true
		}
	}
	return false
}

// validFrames counts the well-formed frames (as scanForFrame finds them)
// for sequence numbers from nextSeq on in b, stepping over each one it finds,
// and returns the largest sequence number among them.
func validFrames(b []byte, nextSeq uint64) (n int, lastSeq uint64) {
	for i := 0; i+frameHeaderSize < len(b); i++ {
		hdr := b[i : i+frameHeaderSize]
		fr, plen, ferr := parseFrameHeader(hdr, 0)
		if ferr != nil || i+frameHeaderSize+plen > len(b) || fr.Seq < nextSeq {
			continue
		}
		if frameCRC(hdr, b[i+frameHeaderSize:i+frameHeaderSize+plen]) == fr.Sum {
			n++
			lastSeq = max(lastSeq, fr.Seq)
			i += frameHeaderSize + plen - 1
		}
	}
	return n, lastSeq
}

// putFrameHeader fills in the header of the frame fr (header and payload,
// nothing after) but its checksum; finishFrame adds that.
func putFrameHeader(fr []byte, seq uint64, chain *Hash) {
	binary.BigEndian.PutUint32(fr[0:4], uint32(len(fr)-frameHeaderSize))
	binary.BigEndian.PutUint64(fr[4:12], seq)
	copy(fr[12:44], chain[:])
}

// finishFrame adds the checksum to the frame putFrameHeader filled in at the
// start of b, and returns the frame's length.
func finishFrame(b []byte) int {
	n := frameHeaderSize + int(binary.BigEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint32(b[44:48], frameCRC(b[:frameHeaderSize], b[frameHeaderSize:n]))
	return n
}

// fillFrameHeader fills in the whole header of the frame fr.
func fillFrameHeader(fr []byte, seq uint64, chain *Hash) {
	putFrameHeader(fr, seq, chain)
	finishFrame(fr)
}

func statFile(dir, name string) (os.FileInfo, error) { return os.Stat(filepath.Join(dir, name)) }

func indexNameToCompressed(firstSeq uint64) string {
	return strings.TrimSuffix(segmentName(firstSeq), segmentExt) + compressedExt
}
