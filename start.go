package treeoflife

// START: where a log whose oldest segments local retention removed now
// begins (FORMAT.md, "Retention").

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// startFile records the cut made by local retention: the log's first local
// record and a checkpoint of the records before it.
const startFile = "START"

// maxStartSize bounds START: its checkpoint (at most 16 KiB signed) and 65
// bytes of JSON per removed segment's index hash.
const maxStartSize = 64 << 20

// startJSON is START as stored.
type startJSON struct {
	First      uint64   `json:"first"`
	Indexes    []string `json:"indexes"`
	Checkpoint string   `json:"checkpoint"`
}

// logStart is a parsed START: records before First were removed locally
// (they are in the backup); cp is the checkpoint of exactly First records,
// whose chain value and root the first kept segment's header must carry;
// indexes are the digests (SHA-256 of the canonical index) of the removed
// segments' indexes, in order, so that a checkpoint's indexes line, which
// covers every sealed segment from the first, can still be checked.
type logStart struct {
	First   uint64
	Indexes []Hash
	cp      *Checkpoint
	raw     []byte // the checkpoint, as signed
	signed  bool
}

// head is the log's head at the cut.
func (s *logStart) head() Head { return s.cp.Head() }

// marshal encodes s as START holds it.
func (s *logStart) marshal() ([]byte, error) {
	j := startJSON{First: s.First, Indexes: make([]string, len(s.Indexes)), Checkpoint: string(s.raw)}
	for i, h := range s.Indexes {
		j.Indexes[i] = h.String()
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readStartOf returns the log's START, or nil when the log was never cut.
// A START that does not parse, is of another log, or whose checkpoint does
// not describe its cut, is tampering. With logID nil, the checkpoint's
// origin is not checked (listSegments, which needs only where the log
// begins).
func readStartOf(dir string, logID *[16]byte) (*logStart, error) {
	f, err := os.Open(filepath.Join(dir, startFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("treeoflife: read %s: %w", startFile, err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limitedReader{f: f, n: maxStartSize + 1}); err != nil {
		return nil, fmt.Errorf("treeoflife: read %s: %w", startFile, err)
	}
	return parseStart(buf.Bytes(), logID)
}

// limitedReader reads at most n bytes of f.
type limitedReader struct {
	f *os.File
	n int64
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errStartTooLarge
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	n, err := r.f.Read(p)
	r.n -= int64(n)
	return n, err
}

var errStartTooLarge = errors.New("START is larger than its limit")

// parseStart parses and checks START's bytes.
func parseStart(b []byte, logID *[16]byte) (*logStart, error) {
	bad := func(why string) error {
		return &TamperError{Segment: startFile, Seq: 0, Offset: -1, Reason: "START " + why}
	}
	if len(b) > maxStartSize {
		return nil, bad("is larger than its limit")
	}
	var j startJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, bad("is malformed: " + err.Error())
	}
	if dec.More() {
		return nil, bad("is malformed: data after the object")
	}
	if j.First == 0 {
		return nil, bad("records a cut at record 0")
	}
	s := &logStart{First: j.First, raw: []byte(j.Checkpoint)}
	for _, h := range j.Indexes {
		var x Hash
		if err := x.UnmarshalText([]byte(h)); err != nil {
			return nil, bad("has a malformed index hash: " + err.Error())
		}
		s.Indexes = append(s.Indexes, x)
	}
	text, sigs, err := splitCheckpoint(s.raw)
	if err != nil {
		return nil, bad("holds a malformed checkpoint: " + err.Error())
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil, bad("holds a malformed checkpoint: " + err.Error())
	}
	if logID != nil && c.Origin != checkpointOrigin(*logID) {
		return nil, bad(fmt.Sprintf("holds a checkpoint of another log (%s)", c.Origin))
	}
	if c.Size != s.First {
		return nil, bad(fmt.Sprintf("records a cut at record %d but holds a checkpoint of %d records", s.First, c.Size))
	}
	if len(s.Indexes) == 0 || c.Indexes.Segments != len(s.Indexes) || digestIndexHashes(s.Indexes, nil) != c.Indexes.Digest {
		return nil, bad("lists index hashes that do not match its checkpoint's indexes line")
	}
	s.cp, s.signed = c, sigs != nil
	return s, nil
}

// writeStart records s durably: temporary file, fsync, rename, fsync of the
// directory. Nothing is removed before it returns.
func writeStart(dir string, s *logStart) error {
	b, err := s.marshal()
	if err != nil {
		return err
	}
	if err := fileutil.WriteFileAtomic(filepath.Join(dir, startFile), b, 0o444); err != nil {
		return fmt.Errorf("treeoflife: write %s: %w", startFile, err)
	}
	return nil
}

// listKept returns the segments the log keeps locally, with its START:
// segments before START's first record are left over from a cut that a
// crash interrupted (Open removes them) and are not part of the log.
// With logID nil, START's origin is not checked.
func listKept(dir string, logID *[16]byte) ([]segmentFile, *logStart, error) {
	st, err := readStartOf(dir, logID)
	if err != nil {
		return nil, nil, err
	}
	segs, err := listAllSegments(dir)
	if err != nil {
		return nil, nil, err
	}
	if st != nil {
		i := 0
		for i < len(segs) && segs[i].FirstSeq < st.First {
			i++
		}
		segs = segs[i:]
	}
	return segs, st, nil
}

// startVerifier returns a verifier positioned where the local log begins:
// at genesis, or, for a cut log, after START's first records, with the chain
// value and frontier of the first kept segment's header once they are
// checked against START's checkpoint (its chain value and Merkle root at
// exactly that size). segs are the kept segments.
func startVerifier(dir string, logID [16]byte, segs []segmentFile, st *logStart) (*verifier, error) {
	v := newVerifier(dir, logID)
	if st == nil {
		return v, nil
	}
	if len(segs) == 0 || segs[0].FirstSeq != st.First {
		want := st.First
		if len(segs) > 0 {
			return nil, &TamperError{Segment: segs[0].Name, Seq: want, Offset: 0,
				Reason: fmt.Sprintf("START records the log as beginning at record %d, but records %d to %d are missing (deleted segment?)", want, want, segs[0].FirstSeq-1)}
		}
		return nil, &TamperError{Seq: want, Offset: -1, Reason: fmt.Sprintf("START records the log as beginning at record %d, but no segment holds it", want)}
	}
	sf := segs[0]
	sr, err := openSegment(dir, sf, -1)
	if err != nil {
		return nil, segmentOpenError(sf, st.First, err)
	}
	h := sr.Header
	sr.Close()
	f := frontier{n: h.FirstSeq, hashes: h.Frontier}
	head := st.head()
	switch {
	case h.FirstSeq != st.First || len(h.Frontier) != countBits(st.First):
		return nil, &TamperError{Segment: sf.Name, Seq: st.First, Offset: 0, Reason: "segment header does not start where START's checkpoint ends"}
	case h.PrevChain != head.Chain:
		return nil, &TamperError{Segment: sf.Name, Seq: st.First, Offset: 0,
			Reason: "segment's starting chain value differs from the checkpoint in START (the log before the cut was rewritten)"}
	case f.root() != head.Root:
		return nil, &TamperError{Segment: sf.Name, Seq: st.First, Offset: 0,
			Reason: "segment's Merkle frontier does not hash to the root of the checkpoint in START"}
	}
	v.size, v.chain, v.frontier = st.First, head.Chain, f.clone()
	return v, nil
}

func countBits(n uint64) int {
	c := 0
	for ; n != 0; n &= n - 1 {
		c++
	}
	return c
}

// checkSignature checks START's checkpoint against the trusted keys:
// a signature by one of them that does not verify is tampering; trusted
// reports whether one of them signed it.
func (s *logStart) checkSignature(known note.Verifiers) (trusted bool, err error) {
	if known == nil || !s.signed {
		return false, nil
	}
	_, n, err := OpenCheckpoint(s.raw, known)
	if err := signatureError(err, startFile); err != nil {
		return false, err
	}
	return n != nil, nil
}

// digestIndexHashes is digestIndexes over the digests of removed segments'
// indexes (cut) followed by the indexes xs.
func digestIndexHashes(cut []Hash, xs []*segmentIndex) Hash {
	h := newIndexDigest()
	for _, d := range cut {
		h.Write(d[:])
	}
	for _, x := range xs {
		d := x.digest()
		h.Write(d[:])
	}
	return Hash(h.Sum(nil))
}

// cut returns the index digests of the removed segments (nil for no START).
func (s *logStart) cut() []Hash {
	if s == nil {
		return nil
	}
	return s.Indexes
}
