package treeoflife

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls below
// add what is cheap to build at run time (a real segment in every state of
// truncation).

// fuzzSegment builds a real segment with the library: the first segment of a
// log of a few records.
func fuzzSegment(f *testing.F) []byte {
	f.Helper()
	dir := f.TempDir()
	l, err := Open(dir, Options{SegmentSize: MinSegmentSize})
	require.NoError(f, err)
	for i := 0; i < 3; i++ {
		_, err := l.Info("fuzz seed", Fields{"i": i})
		require.NoError(f, err)
	}
	require.NoError(f, l.Close())
	b, err := os.ReadFile(filepath.Join(dir, segmentName(0)))
	require.NoError(f, err)
	return b
}

// FuzzSegmentReader reads arbitrary bytes as a segment file. The reader must
// not panic, must end, must not allocate for a frame more than the file could
// hold, and every frame it accepts must re-encode to exactly the bytes it was
// read from (the encoding is canonical).
func FuzzSegmentReader(f *testing.F) {
	seg := fuzzSegment(f)
	f.Add(seg)
	f.Add(seg[:len(seg)-1])
	f.Add(seg[:segmentFixedSize+4+frameHeaderSize+10])
	f.Add(seg[:segmentFixedSize+4])
	f.Add(seg[:segmentFixedSize])
	// A first frame claiming 1 MiB in a file of 20 KiB: the reader must not
	// allocate the claimed length.
	long := append(append([]byte(nil), seg...), bytes.Repeat([]byte("x"), 20<<10)...)
	binary.BigEndian.PutUint32(long[segmentFixedSize+4:], 1<<20)
	f.Add(long)
	f.Add([]byte{})
	f.Add([]byte("TOLSEG02 a later version"))
	f.Add(bytes.Repeat([]byte{0xff}, 200))
	// One directory per fuzzing process: the inputs run one at a time.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		scanForFrame(data, 0, false) // recovery runs it on any bytes: it must not panic
		name := segmentName(0)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		sr, err := openSegment(dir, segmentFile{FirstSeq: 0, Name: name}, -1)
		if err != nil {
			var he errHeader
			if !errors.As(err, &he) && !errors.Is(err, ErrNotLog) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("openSegment: unexpected error type %T: %v", err, err)
			}
			return
		}
		defer sr.Close()
		hsize := sr.Header.size()
		require.LessOrEqual(t, hsize, int64(len(data)))
		require.Equal(t, data[:hsize], sr.Header.appendTo(nil), "the header must re-encode to its bytes")

		off := hsize
		for n := 0; ; n++ {
			// Each frame is at least 49 bytes, so the loop is bounded.
			require.LessOrEqual(t, n, len(data)/(frameHeaderSize+1), "more frames than the file can hold")
			fr, err := sr.Next()
			// A length field is trusted only as far as the file goes: the
			// payload buffer grows with the bytes that arrive, so it stays
			// within twice the file (doubling), plus allocator rounding.
			require.LessOrEqual(t, cap(sr.buf), 2*len(data)+8192,
				"payload buffer of %d bytes for a frame at offset %d of a %d-byte file", cap(sr.buf), off, len(data))
			if err == io.EOF {
				require.Equal(t, int64(len(data)), off, "io.EOF only at the end of the file")
				return
			}
			if err != nil {
				var fe *frameError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, off, fe.Offset)
				return
			}
			require.Equal(t, off, fr.Offset)
			end := off + frameHeaderSize + int64(len(fr.Payload))
			require.LessOrEqual(t, end, int64(len(data)))
			re := make([]byte, frameHeaderSize+len(fr.Payload))
			copy(re[frameHeaderSize:], fr.Payload)
			fillFrameHeader(re, fr.Seq, &fr.Chain)
			require.Equal(t, data[off:end], re, "frame at offset %d must re-encode to its bytes", off)
			require.Equal(t, end, sr.Offset())
			// Recovery searches a damaged tail with scanForFrame: it must
			// find the frames the reader accepts.
			require.True(t, scanForFrame(data[off:], fr.Seq-1, fr.Seq > 0), "scanForFrame misses the frame at %d", off)
			require.False(t, scanForFrame(data[off:end], fr.Seq, true), "scanForFrame finds a frame for a later seq in the frame at %d", off)
			off = end
		}
	})
}

// fuzzLogID is the log ID of the checkpoints in the fuzzers' seeds.
var fuzzLogID = [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}

// FuzzParseCheckpoint: ParseCheckpoint must not panic, and what it accepts
// must marshal back to exactly the bytes parsed (one encoding per
// checkpoint).
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(formatCheckpoint(fuzzLogID, Head{}))
	f.Add(formatCheckpoint(fuzzLogID, Head{Size: 1<<64 - 1, Chain: Hash{1, 2, 3}, Root: Hash{0xff}}))
	f.Add([]byte("treeoflife/0123456789abcdeffedcba9876543210\n01\nAAAA\nchain 00\n"))
	full := &Checkpoint{Origin: checkpointOrigin(fuzzLogID), Size: 7, Root: Hash{9}, Chain: Hash{8},
		Time: time.Date(2026, 11, 29, 10, 0, 0, 5, time.UTC), Tenant: "acme", Header: Hash{7}, Indexes: IndexDigest{Segments: 2, Digest: Hash{6}}}
	f.Add(full.Marshal())
	empty := &Checkpoint{Origin: checkpointOrigin(fuzzLogID), Root: EmptyRoot, Time: time.Unix(0, 0)}
	f.Add(empty.Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheckpoint(data)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCheckpoint)
			return
		}
		require.Equal(t, string(data), string(c.Marshal()))
		c2, err := ParseCheckpoint(c.Marshal())
		require.NoError(t, err)
		require.Equal(t, c, c2)
	})
}

// FuzzEntryEncoding logs arbitrary messages and metadata keys and strings.
// Log must either refuse the entry with ErrInvalidEntry (an empty message,
// invalid UTF-8) or store a record whose payload is valid JSON holding exactly
// the message and metadata given.
func FuzzEntryEncoding(f *testing.F) {
	f.Add("hello", "key", "value")
	f.Add("quote \" backslash \\ newline \n tab \t nul \x00 del \x7f", "<html>", "a & b > c")
	f.Add("line\u2028para\u2029end", "emoji 🌳", "\ufffd replacement is valid")
	f.Add("bad \xff utf-8", "k", "v")
	f.Add("ok", "bad key \xc3", "v")
	f.Add("ok", "k", "bad value \xed\xa0\x80 (a surrogate)")
	f.Add("", "k", "v")
	dir := f.TempDir()
	// One segment for the whole run (no rotation), so each record's frame
	// starts where the previous one ended.
	l, err := Open(dir, Options{SegmentSize: 1 << 40})
	require.NoError(f, err)
	f.Cleanup(func() { l.Close() })
	seg, err := os.Open(filepath.Join(dir, segmentName(0)))
	require.NoError(f, err)
	f.Cleanup(func() { seg.Close() })
	hdr, err := readSegmentHeader(seg)
	require.NoError(f, err)
	next := hdr.size() // offset of the next record's frame
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, msg, key, val string) {
		before := l.Head()
		// The fuzzed strings as a value, a key, in a list and nested, built
		// in the same order for the entry and for what it must decode to.
		fields, want := Fields{}, map[string]any{}
		fields["list"], want["list"] = []string{val, key}, []any{val, key}
		fields["nested"], want["nested"] = map[string]any{key: val}, map[string]any{key: val}
		fields[key], want[key] = val, val
		rec, err := l.Log(ctx, LevelAudit, msg, fields)
		valid := msg != "" && utf8.ValidString(msg) && utf8.ValidString(key) && utf8.ValidString(val)
		if !valid {
			require.ErrorIs(t, err, ErrInvalidEntry)
			assert.Equal(t, before, l.Head(), "a refused entry takes no seq")
			return
		}
		// Escaping can grow a string sixfold (\u0000), and key and value are
		// stored three times each; the fixed fields take well under 1 KiB.
		if errors.Is(err, ErrEntryTooLarge) && 6*(len(msg)+3*len(key)+3*len(val))+1024 > DefaultMaxEntrySize {
			return
		}
		require.NoError(t, err)
		require.Equal(t, before.Size, rec.Seq)
		require.Equal(t, rec.Seq+1, l.Head().Size)

		// The logger is in DurabilitySync mode: the frame is in the file.
		payload := readFrameAt(t, seg, next, rec)
		next += int64(frameHeaderSize + len(payload))
		require.True(t, json.Valid(payload), "payload is not valid JSON: %q", payload)
		var e struct {
			Message  string         `json:"message"`
			Metadata map[string]any `json:"metadata"`
			Seq      uint64         `json:"seq"`
		}
		require.NoError(t, json.Unmarshal(payload, &e))
		require.Equal(t, msg, e.Message)
		require.Equal(t, want, e.Metadata)
		require.Equal(t, rec.Seq, e.Seq)
	})
}

// readFrameAt reads the frame at off in f and checks it is rec's: its seq,
// chain value and checksum.
func readFrameAt(t *testing.T, f *os.File, off int64, rec Record) []byte {
	t.Helper()
	var hdr [frameHeaderSize]byte
	_, err := f.ReadAt(hdr[:], off)
	require.NoError(t, err)
	fr, plen, ferr := parseFrameHeader(hdr[:], off)
	require.Nil(t, ferr)
	require.Equal(t, rec.Seq, fr.Seq)
	require.Equal(t, rec.Hash, fr.Chain)
	payload := make([]byte, plen)
	_, err = f.ReadAt(payload, off+frameHeaderSize)
	require.NoError(t, err)
	require.Equal(t, binary.BigEndian.Uint32(hdr[44:]), frameCRC(hdr[:], payload), "frame checksum")
	return payload
}

// FuzzOpenCheckpoint: a signed checkpoint from anywhere (an anchor, the
// backup, a witness) must not panic OpenCheckpoint or readCheckpoint's
// splitter; what OpenCheckpoint accepts is signed by the trusted key and
// its text parses to the checkpoint returned.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey, err := note.GenerateKey(&fuzzKeyReader{}, "fuzz-log")
	if err != nil {
		f.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		f.Fatal(err)
	}
	c := &Checkpoint{Origin: checkpointOrigin(fuzzLogID), Size: 3, Root: Hash{1}, Chain: Hash{2}, Time: time.Unix(1, 0), Header: Hash{3}}
	signed, err := note.Sign(&note.Note{Text: string(c.Marshal())}, signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(c.Marshal())
	f.Add(append(append([]byte(nil), signed...), "\u2014 other AAAA\n"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if text, _, err := splitCheckpoint(data); err == nil {
			ParseCheckpoint(text) // must not panic
		}
		got, n, err := OpenCheckpoint(data, note.VerifierList(v))
		if err != nil {
			return
		}
		require.NotEmpty(t, n.Sigs)
		require.Equal(t, "fuzz-log", n.Sigs[0].Name)
		again, err := ParseCheckpoint([]byte(n.Text))
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}

// fuzzKeyReader is a fixed key source for the fuzzers' signing key.
type fuzzKeyReader struct{}

func (fuzzKeyReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// FuzzSynced reads arbitrary bytes as a SYNCED file: it must not panic, and
// whatever it accepts re-encodes to exactly those bytes.
func FuzzSynced(f *testing.F) {
	id := [16]byte{1, 2, 3}
	f.Add((&syncedMark{LogID: id, Seq: 8, Offset: 4096}).appendTo(nil))
	f.Add([]byte(syncedMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, syncedFile), b, 0o644))
		seq := uint64(8)
		if len(b) >= 32 {
			seq = binary.BigEndian.Uint64(b[24:32])
		}
		off, ok := readSynced(dir, id, seq)
		if ok {
			require.Equal(t, b, (&syncedMark{LogID: id, Seq: seq, Offset: off}).appendTo(nil))
		}
	})
}
