package treeoflife

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey returns a deterministic KeySize-byte key.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

// cheapScrypt makes passphrase derivation fast for the test (the format
// still records the parameters used).
func cheapScrypt(t *testing.T) {
	n := scryptN
	scryptN = 1 << 10
	t.Cleanup(func() { scryptN = n })
}

// sealedFrame is a record as stored, with where its frame is.
type sealedFrame struct {
	Segment string
	Seq     uint64
	Offset  int64 // of the frame in the uncompressed segment
	Payload []byte
}

// storedFrames returns every frame in dir, in order, payloads copied.
func storedFrames(t testing.TB, dir string) []sealedFrame {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var out []sealedFrame
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			out = append(out, sealedFrame{Segment: sf.Name, Seq: fr.Seq, Offset: fr.Offset, Payload: bytes.Clone(fr.Payload)})
		}
		require.NoError(t, sr.Close())
	}
	return out
}

// openedEntries decrypts every stored record of l's directory with l.
func openedEntries(t testing.TB, l *ImmutableLogger) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, fr := range storedFrames(t, l.Dir()) {
		pt, err := l.openPayload(fr.Seq, fr.Payload, nil)
		require.NoError(t, err, "record %d", fr.Seq)
		var m map[string]any
		require.NoError(t, json.Unmarshal(pt, &m), "record %d: %q", fr.Seq, pt)
		require.EqualValues(t, fr.Seq, m["seq"])
		out = append(out, m)
	}
	return out
}

func TestEncryptedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := testKey(1)
	l := openT(t, dir, Options{EncryptionKey: key, SegmentSize: MinSegmentSize})
	require.True(t, l.Encrypted())
	var recs []Record
	for i := 0; i < 60; i++ {
		rec, err := l.Log(context.Background(), levels[i%len(levels)], fmt.Sprintf("event %d", i), Fields{"n": i, "note": "µ <&> \u2028"})
		require.NoError(t, err)
		recs = append(recs, rec)
	}
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Sync(context.Background()))
	for _, fr := range storedFrames(t, dir) {
		require.Equal(t, byte(sealedVersion), fr.Payload[0], "every payload is an envelope")
		require.Equal(t, uint32(1), binary.BigEndian.Uint32(fr.Payload[1:5]), "data key 1")
	}
	check := func(l *ImmutableLogger) {
		entries := openedEntries(t, l)
		require.Len(t, entries, len(recs))
		for i, e := range entries {
			assert.Equal(t, recs[i].ID, e["id"])
			assert.Equal(t, recs[i].Level.String(), e["level"])
			assert.Equal(t, fmt.Sprintf("event %d", i), e["message"])
			assert.Equal(t, map[string]any{"n": float64(i), "note": "µ <&> \u2028"}, e["metadata"])
			assert.Nil(t, e["tenantId"])
		}
	}
	check(l)
	h := l.Head()
	require.NoError(t, l.Close())

	got, err := VerifyDir(context.Background(), dir) // no key
	require.NoError(t, err)
	require.Equal(t, h, got.Head)

	l = openT(t, dir, Options{EncryptionKey: key, SegmentSize: MinSegmentSize})
	defer l.Close()
	check(l)
	rec, err := l.Info("after reopen", nil)
	require.NoError(t, err)
	require.Equal(t, uint64(len(recs)), rec.Seq)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
}

func TestOpenPayloadPlainReturnsPayload(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	_, err := l.Info("plain", nil)
	require.NoError(t, err)
	require.NoError(t, l.Sync(context.Background()))
	fr := storedFrames(t, l.Dir())[0]
	out, err := l.openPayload(fr.Seq, fr.Payload, make([]byte, 0, 1024))
	require.NoError(t, err)
	require.Same(t, &fr.Payload[0], &out[0], "no copy for an unencrypted log")
}

// TestPlaintextNeverOnDisk logs a secret into an encrypted log with small,
// compressed segments and looks for it in every file: segments, compressed
// segments (decompressed too), indexes, HEADER, CHECKPOINT.
func TestPlaintextNeverOnDisk(t *testing.T) {
	const secret = "Zebra-Quartz-7731-secret"
	dir := t.TempDir()
	key := testKey(7)
	l := openT(t, dir, Options{EncryptionKey: key, SegmentSize: MinSegmentSize, Compress: true, Durability: DurabilityBuffered})
	for i := 0; i < 300; i++ {
		_, err := l.Log(context.Background(), levels[i%len(levels)], "card "+secret, Fields{"holder": secret, "i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(context.Background()))
	l.compressor.wait()
	levels := map[Level]uint64{}
	for _, x := range l.segmentIndexes() {
		for lv, n := range x.LevelCounts {
			if n > 0 {
				levels[Level(lv)] += n
			}
		}
	}
	require.NoError(t, l.Close())

	var gz, idx int
	hexKey, b64Key := hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, s := range []string{secret, "card ", `"holder"`, hexKey, b64Key} {
			require.NotContains(t, string(b), s, "%s holds %q", p, s)
		}
		require.False(t, bytes.Contains(b, key), "%s holds the key", p)
		switch {
		case strings.HasSuffix(p, compressedExt):
			gz++
			zr, err := gzip.NewReader(bytes.NewReader(b))
			require.NoError(t, err)
			plain, err := io.ReadAll(zr)
			require.NoError(t, err)
			require.NotContains(t, string(plain), secret, "%s, decompressed", p)
		case strings.HasSuffix(p, indexExt):
			idx++
		}
		return nil
	}))
	require.Greater(t, gz, 1, "sealed segments were compressed")
	require.Greater(t, idx, 1, "indexes were written")

	// The indexes know levels (the writer's own), and rebuilt ones do too:
	// recovery decrypts to find them.
	require.Len(t, levels, len(Levels()))
	idxFiles, err := filepath.Glob(filepath.Join(dir, "*"+indexExt))
	require.NoError(t, err)
	for _, p := range idxFiles {
		require.NoError(t, os.Remove(p))
	}
	l = openT(t, dir, Options{EncryptionKey: key, SegmentSize: MinSegmentSize})
	defer l.Close()
	rebuilt := map[Level]uint64{}
	for _, x := range l.segmentIndexes() {
		for lv, n := range x.LevelCounts {
			if n > 0 {
				rebuilt[Level(lv)] += n
			}
		}
		require.NotZero(t, x.MinTime)
	}
	require.Equal(t, levels, rebuilt)
}

// segmentIndexes returns a copy of the logger's indexes, for tests.
func (l *ImmutableLogger) segmentIndexes() []*segmentIndex {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*segmentIndex, len(l.indexes))
	for i, x := range l.indexes {
		out[i] = x.clone()
	}
	return out
}

func TestOpenKeyErrors(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{EncryptionKey: testKey(1)})
	_, err := l.Info("x", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	_, err = Open(dir, Options{EncryptionKey: testKey(2)})
	require.ErrorIs(t, err, ErrWrongKey)
	require.ErrorContains(t, err, KeyID(testKey(1)), "names the key it needs")
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrKeyRequired)
	_, err = Open(dir, Options{Passphrase: "pass"})
	require.ErrorIs(t, err, ErrWrongKey)
	kr, err := NewKeyring(testKey(3), testKey(4))
	require.NoError(t, err)
	_, err = Open(dir, Options{Keys: kr})
	require.ErrorIs(t, err, ErrWrongKey)

	plain := t.TempDir()
	l = openT(t, plain, Options{})
	require.NoError(t, l.Close())
	_, err = Open(plain, Options{EncryptionKey: testKey(1)})
	require.ErrorIs(t, err, ErrInvalidOptions, "encryption is chosen at creation")

	for _, o := range []Options{
		{EncryptionKey: make([]byte, 16)},
		{EncryptionKey: testKey(1), Passphrase: "p"},
		{Passphrase: "p", Keys: kr},
		{EncryptionKey: testKey(1), MaxEntrySize: maxFramePayload},
	} {
		_, err := Open(t.TempDir(), o)
		require.ErrorIs(t, err, ErrInvalidOptions)
	}

	// The right key still opens it, and the failed attempts changed nothing.
	l = openT(t, dir, Options{EncryptionKey: testKey(1)})
	defer l.Close()
	require.Len(t, openedEntries(t, l), 1)
}

func TestPassphrase(t *testing.T) {
	cheapScrypt(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{Passphrase: "correct horse battery staple"})
	_, err := l.Audit("login", Fields{"user": "u1"})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	h, _, err := readHeader(dir)
	require.NoError(t, err)
	require.Equal(t, formatVersionExt, h.Version)
	require.NotNil(t, h.Encryption.KDF)
	require.Equal(t, kdfName, h.Encryption.KDF.Name)
	require.Len(t, h.Encryption.KDF.Salt, 16)
	require.Equal(t, scryptN, h.Encryption.KDF.N)

	other := t.TempDir()
	lo := openT(t, other, Options{Passphrase: "correct horse battery staple"})
	require.NoError(t, lo.Close())
	ho, _, err := readHeader(other)
	require.NoError(t, err)
	require.NotEqual(t, h.Encryption.KDF.Salt, ho.Encryption.KDF.Salt, "a random salt per log")
	require.NotEqual(t, h.Encryption.DataKeys[0].MasterKeyID, ho.Encryption.DataKeys[0].MasterKeyID)

	_, err = Open(dir, Options{Passphrase: "wrong"})
	require.ErrorIs(t, err, ErrWrongKey)

	l = openT(t, dir, Options{Passphrase: "correct horse battery staple"})
	entries := openedEntries(t, l)
	require.Len(t, entries, 1)
	require.Equal(t, "login", entries[0]["message"])
	require.NoError(t, l.Close())

	key, err := PassphraseKey(dir, "correct horse battery staple")
	require.NoError(t, err)
	l = openT(t, dir, Options{EncryptionKey: key})
	require.Len(t, openedEntries(t, l), 1)
	require.NoError(t, l.Close())
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	l := openT(t, dir, Options{EncryptionKey: k1, SegmentSize: MinSegmentSize})
	for i := 0; i < 40; i++ {
		_, err := l.Info("before", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.RotateKey(context.Background(), k2))
	for i := 0; i < 40; i++ {
		_, err := l.Info("after", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	entries := openedEntries(t, l)
	require.Len(t, entries, 80)
	require.NoError(t, l.Close())
	frames := storedFrames(t, dir)
	assert.Equal(t, uint32(1), binary.BigEndian.Uint32(frames[39].Payload[1:5]))
	assert.Equal(t, uint32(2), binary.BigEndian.Uint32(frames[40].Payload[1:5]))

	h, _, err := readHeader(dir)
	require.NoError(t, err)
	require.Len(t, h.Encryption.DataKeys, 2)
	assert.Equal(t, KeyID(k1), h.Encryption.DataKeys[0].MasterKeyID)
	assert.Equal(t, KeyID(k2), h.Encryption.DataKeys[1].MasterKeyID)
	assert.Equal(t, uint64(40), h.Encryption.DataKeys[1].From)
	_, err = VerifyDir(context.Background(), dir)
	require.NoError(t, err, "the chain is untouched")

	// Only the old key: the active data key cannot be unwrapped.
	_, err = Open(dir, Options{EncryptionKey: k1})
	require.ErrorIs(t, err, ErrKeyRequired)
	// Only the new key: new records, but the old ones need the old key, and
	// a rebuilt index knows nothing of them (level and time 0).
	idxFiles, err := filepath.Glob(filepath.Join(dir, "*"+indexExt))
	require.NoError(t, err)
	for _, p := range idxFiles {
		require.NoError(t, os.Remove(p))
	}
	l = openT(t, dir, Options{EncryptionKey: k2})
	fr := storedFrames(t, dir)[0]
	_, err = l.openPayload(fr.Seq, fr.Payload, nil)
	require.ErrorIs(t, err, ErrKeyRequired)
	require.ErrorContains(t, err, KeyID(k1))
	var unknown, known uint64
	for _, x := range l.segmentIndexes() {
		unknown += x.Count - x.LevelCounts[LevelInfo]
		known += x.LevelCounts[LevelInfo]
	}
	require.Equal(t, uint64(40), unknown, "records under the missing key")
	require.Equal(t, uint64(40), known)
	require.NoError(t, l.Close())
	for _, p := range idxFiles {
		if _, err := os.Stat(p); err == nil {
			x, err := os.ReadFile(p)
			require.NoError(t, err)
			xi, err := unmarshalIndex(x)
			require.NoError(t, err)
			require.Equal(t, xi.Count, xi.LevelCounts[LevelInfo], "only complete indexes are cached: %s", p)
		}
	}

	// Both: everything reads.
	kr, err := NewKeyring(k2, k1)
	require.NoError(t, err)
	l = openT(t, dir, Options{Keys: kr})
	require.Len(t, openedEntries(t, l), 80)
	var info uint64
	for _, x := range l.segmentIndexes() {
		info += x.LevelCounts[LevelInfo]
	}
	require.Equal(t, uint64(80), info, "with both keys the index is whole again")
	require.NoError(t, l.Close())

	// Rotation by configuration: a keyring whose active key has wrapped no
	// data key of the log starts a new one at Open.
	kr3, err := NewKeyring(k3, k1, k2)
	require.NoError(t, err)
	l = openT(t, dir, Options{Keys: kr3})
	_, err = l.Info("third", nil)
	require.NoError(t, err)
	require.Len(t, openedEntries(t, l), 81)
	require.NoError(t, l.Close())
	h, _, err = readHeader(dir)
	require.NoError(t, err)
	require.Len(t, h.Encryption.DataKeys, 3)
	assert.Equal(t, KeyID(k3), h.Encryption.DataKeys[2].MasterKeyID)
	_, err = VerifyDir(context.Background(), dir)
	require.NoError(t, err)
	// The keyring's order does not matter once k3 has a data key: no new
	// one with k1 active (no rollback to an older master key).
	kr1, err := NewKeyring(k1, k2, k3)
	require.NoError(t, err)
	l = openT(t, dir, Options{Keys: kr1})
	require.NoError(t, l.Close())
	h, _, err = readHeader(dir)
	require.NoError(t, err)
	require.Len(t, h.Encryption.DataKeys, 3)
}

func TestDataKeyRecordLimit(t *testing.T) {
	old := dataKeyMaxRecords
	dataKeyMaxRecords = 10
	t.Cleanup(func() { dataKeyMaxRecords = old })
	dir := t.TempDir()
	l := openT(t, dir, Options{EncryptionKey: testKey(1)})
	for i := 0; i < 35; i++ {
		_, err := l.Info("x", Fields{"i": i})
		require.NoError(t, err)
	}
	require.Len(t, openedEntries(t, l), 35)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
	h, _, err := readHeader(dir)
	require.NoError(t, err)
	require.Len(t, h.Encryption.DataKeys, 4, "a new data key every 10 records")
	for i, fr := range storedFrames(t, dir) {
		require.Equal(t, uint32(i/10+1), binary.BigEndian.Uint32(fr.Payload[1:5]), "record %d", i)
	}
	l = openT(t, dir, Options{EncryptionKey: testKey(1)})
	require.Len(t, openedEntries(t, l), 35)
	require.NoError(t, l.Close())
}

// TestSealedTamperDetected: Verify needs no key and still locates a
// modified sealed record; the record no longer decrypts.
func TestSealedTamperDetected(t *testing.T) {
	for _, fixCRC := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixCRC=%v", fixCRC), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{EncryptionKey: testKey(5), SegmentSize: MinSegmentSize})
			for i := 0; i < 60; i++ {
				_, err := l.Security("access", Fields{"i": i})
				require.NoError(t, err)
			}
			require.NoError(t, l.Sync(context.Background()))
			frames := storedFrames(t, dir)
			require.NotEqual(t, frames[0].Segment, frames[len(frames)-1].Segment, "several segments")
			victim := frames[5]
			modified := bytes.Clone(victim.Payload)
			modified[envelopeHeaderSize+nonceSize+3] ^= 0x01
			_, err := l.openPayload(victim.Seq, modified, nil)
			require.ErrorIs(t, err, ErrDecrypt)

			p := filepath.Join(dir, victim.Segment)
			require.NoError(t, os.Chmod(p, 0o644))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			frame := b[victim.Offset:]
			copy(frame[frameHeaderSize:], modified)
			if fixCRC {
				binary.BigEndian.PutUint32(frame[44:48], frameCRC(frame[:frameHeaderSize], modified))
			}
			require.NoError(t, os.WriteFile(p, b, 0o444))

			var te *TamperError
			require.ErrorAs(t, verifyErr(l.Verify(context.Background())), &te)
			assert.Equal(t, victim.Seq, te.Seq)
			assert.Equal(t, victim.Segment, te.Segment)
			assert.Equal(t, victim.Offset, te.Offset)
			require.NoError(t, l.Close())
			_, err = VerifyDir(context.Background(), dir)
			require.ErrorAs(t, err, &te)
			assert.Equal(t, victim.Seq, te.Seq)
		})
	}
}

// TestSealedRecordBoundToPosition: a sealed record opens only at its own
// seq in its own log (the additional data), and a cut or unknown envelope
// is a clear error.
func TestSealedRecordBoundToPosition(t *testing.T) {
	key := testKey(9)
	a := openT(t, t.TempDir(), Options{EncryptionKey: key})
	defer a.Close()
	b := openT(t, t.TempDir(), Options{EncryptionKey: key})
	defer b.Close()
	for i := 0; i < 5; i++ {
		_, err := a.Info("a", Fields{"i": i})
		require.NoError(t, err)
		_, err = b.Info("b", Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, a.Sync(context.Background()))
	fa := storedFrames(t, a.Dir())

	_, err := a.openPayload(3, fa[3].Payload, nil)
	require.NoError(t, err)
	_, err = a.openPayload(4, fa[3].Payload, nil)
	require.ErrorIs(t, err, ErrDecrypt, "moved to another position")
	_, err = b.openPayload(3, fa[3].Payload, nil)
	require.ErrorIs(t, err, ErrDecrypt, "moved to another log")

	// Same data key, other log ID: the additional data alone refuses it.
	moved := &logKeys{logID: b.logID}
	moved.data.Store(a.keys.data.Load())
	_, err = moved.open(3, fa[3].Payload, nil)
	require.ErrorIs(t, err, ErrDecrypt)

	p := fa[3].Payload
	for name, bad := range map[string][]byte{
		"cut tag":       p[:len(p)-1],
		"only header":   p[:envelopeOverhead-1],
		"plain JSON":    []byte(`{"id":"x"}`),
		"unknown key":   append([]byte{sealedVersion, 0, 0, 0, 9}, p[envelopeHeaderSize:]...),
		"key ID zero":   append([]byte{sealedVersion, 0, 0, 0, 0}, p[envelopeHeaderSize:]...),
		"other version": append([]byte{0x03}, p[1:]...),
		"version 1":     append([]byte{sealedVersion1}, p[1:]...),
		"nonce changed": append(append(bytes.Clone(p[:envelopeHeaderSize]), 0xff), p[envelopeHeaderSize+1:]...),
	} {
		_, err := a.openPayload(3, bad, nil)
		require.ErrorIs(t, err, ErrDecrypt, name)
	}
}

func TestEncryptedConcurrentWriters(t *testing.T) {
	for _, d := range []Durability{DurabilitySync, DurabilityBuffered} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{Durability: d, EncryptionKey: testKey(3), SegmentSize: 32 << 10})
			const writers, per = 8, 150
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := l.Revenue("payment", Fields{"writer": w, "i": i}); !assert.NoError(t, err) {
							return
						}
					}
				}()
			}
			// Rotation while writing: records go to one data key or the
			// other, all readable.
			require.NoError(t, l.RotateKey(context.Background(), testKey(4)))
			wg.Wait()
			require.NoError(t, verifyErr(l.Verify(context.Background())))
			entries := openedEntries(t, l)
			require.Len(t, entries, writers*per)
			seen := map[string]bool{}
			for _, e := range entries {
				m := e["metadata"].(map[string]any)
				k := fmt.Sprint(m["writer"], "/", m["i"])
				require.False(t, seen[k])
				seen[k] = true
			}
			require.NoError(t, l.Close())
		})
	}
}

func TestKeyFromEnv(t *testing.T) {
	key := testKey(0xab)
	for name, v := range map[string]string{
		"hex":        hex.EncodeToString(key),
		"base64":     base64.StdEncoding.EncodeToString(key),
		"raw base64": base64.RawURLEncoding.EncodeToString(key),
		"spaces":     "  " + hex.EncodeToString(key) + "\n",
	} {
		t.Setenv("TOL_TEST_KEY", v)
		got, err := KeyFromEnv("TOL_TEST_KEY")
		require.NoError(t, err, name)
		require.Equal(t, key, got, name)
	}
	t.Setenv("TOL_TEST_KEY", "")
	_, err := KeyFromEnv("TOL_TEST_KEY")
	require.ErrorIs(t, err, ErrKeyRequired)
	t.Setenv("TOL_TEST_KEY", hex.EncodeToString(key[:16]))
	_, err = KeyFromEnv("TOL_TEST_KEY")
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.NotContains(t, err.Error(), hex.EncodeToString(key[:16]), "the error never shows the value")
}

func TestKeyring(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	kr, err := NewKeyring(k1, k2)
	require.NoError(t, err)
	require.Equal(t, KeyID(k1), kr.ActiveKeyID())
	require.ElementsMatch(t, []string{KeyID(k1), KeyID(k2)}, kr.IDs())
	require.NotEqual(t, KeyID(k1), KeyID(k2))
	require.Len(t, KeyID(k1), 16)

	ctx := context.Background()
	dk := testKey(0x42)
	w, err := kr.WrapKey(ctx, KeyID(k2), dk, []byte("aad"))
	require.NoError(t, err)
	got, err := kr.UnwrapKey(ctx, KeyID(k2), w, []byte("aad"))
	require.NoError(t, err)
	require.Equal(t, dk, got)
	_, err = kr.UnwrapKey(ctx, KeyID(k2), w, []byte("other"))
	require.ErrorIs(t, err, ErrWrongKey)
	_, err = kr.UnwrapKey(ctx, KeyID(k1), w, []byte("aad"))
	require.ErrorIs(t, err, ErrWrongKey)
	_, err = kr.UnwrapKey(ctx, KeyID(testKey(3)), w, []byte("aad"))
	require.ErrorIs(t, err, ErrKeyRequired)
	require.ErrorIs(t, kr.SetActive(KeyID(testKey(3))), ErrKeyRequired)
	_, err = NewKeyring(make([]byte, 31))
	require.ErrorIs(t, err, ErrInvalidOptions)
}

// TestHeaderEncryptionStrict: a HEADER's encryption parameters are checked
// before anything is derived or unwrapped.
func TestHeaderEncryptionStrict(t *testing.T) {
	cheapScrypt(t)
	dir := t.TempDir()
	l := openT(t, dir, Options{Passphrase: "p"})
	require.NoError(t, l.Close())
	p := filepath.Join(dir, headerFile)
	orig, err := os.ReadFile(p)
	require.NoError(t, err)
	for name, edit := range map[string]func(*logHeader){
		"cipher":          func(h *logHeader) { h.Encryption.Cipher = "AES-128-CBC" },
		"huge scrypt N":   func(h *logHeader) { h.Encryption.KDF.N = 1 << 30 },
		"scrypt N not 2^": func(h *logHeader) { h.Encryption.KDF.N = 3000 },
		"short salt":      func(h *logHeader) { h.Encryption.KDF.Salt = h.Encryption.KDF.Salt[:4] },
		"no data keys":    func(h *logHeader) { h.Encryption.DataKeys = nil },
		"key id gap":      func(h *logHeader) { h.Encryption.DataKeys[0].ID = 2 },
		"wrapped+erased":  func(h *logHeader) { now := time.Now(); h.Encryption.DataKeys[0].ErasedAt = &now },
		"version 1":       func(h *logHeader) { h.Version = 1 },
	} {
		var h logHeader
		require.NoError(t, json.Unmarshal(orig, &h))
		edit(&h)
		b, err := json.Marshal(&h)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(p, 0o644))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		_, err = Open(dir, Options{Passphrase: "p"})
		require.ErrorIs(t, err, ErrNotLog, name)
	}
	require.NoError(t, os.WriteFile(p, orig, 0o444))
	l = openT(t, dir, Options{Passphrase: "p"})
	require.NoError(t, l.Close())
}

// BenchmarkLogBuffered8 logs entries like bench/'s (a message and five
// fields) from 8 goroutines to a DurabilityBuffered log, plain and
// encrypted, and reports entries/s including Close:
//
//	go test -run '^$' -bench LogBuffered8 -benchtime 1000000x -count 5
func BenchmarkLogBuffered8(b *testing.B) {
	fields := make([]Fields, 1024)
	for i := range fields {
		fields[i] = Fields{"amount": 1000 + i, "currency": "USD", "customer_id": fmt.Sprintf("cus_%08d", i),
			"order_id": fmt.Sprintf("ord_%010d", i*7), "captured": i%2 == 0}
	}
	run := func(b *testing.B, opts Options) {
		opts.Durability = DurabilityBuffered
		l, err := Open(b.TempDir(), opts)
		if err != nil {
			b.Fatal(err)
		}
		const writers = 8
		b.ReportAllocs()
		b.ResetTimer()
		t0 := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < b.N; i += writers {
					if _, err := l.Log(context.Background(), LevelRevenue, "payment received", fields[i%len(fields)]); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "entries/s")
	}
	b.Run("plain", func(b *testing.B) { run(b, Options{}) })
	b.Run("encrypted", func(b *testing.B) { run(b, Options{EncryptionKey: testKey(1)}) })
}

// FuzzOpenSealed: whatever a payload holds, opening it returns the entry it
// sealed or ErrDecrypt, never a panic or another entry.
func FuzzOpenSealed(f *testing.F) {
	l, err := Open(f.TempDir(), Options{EncryptionKey: testKey(1)})
	require.NoError(f, err)
	f.Cleanup(func() { l.Close() })
	for i := 0; i < 3; i++ {
		_, err := l.Info("seed", Fields{"i": i})
		require.NoError(f, err)
	}
	require.NoError(f, l.Sync(context.Background()))
	valid := map[string]uint64{}
	for _, fr := range storedFrames(f, l.Dir()) {
		f.Add(fr.Seq, fr.Payload)
		valid[string(fr.Payload)] = fr.Seq
	}
	f.Add(uint64(0), []byte{})
	f.Add(uint64(1), []byte(`{"id":"x"}`))
	f.Fuzz(func(t *testing.T, seq uint64, p []byte) {
		out, err := l.openPayload(seq, p, nil)
		if want, ok := valid[string(p)]; ok && want == seq {
			require.NoError(t, err)
			require.True(t, json.Valid(out))
			return
		}
		require.ErrorIs(t, err, ErrDecrypt)
		require.Nil(t, out)
	})
}

// When a new data key cannot be started, the old one stops sealing before
// the AES-GCM random-nonce limit; a successful rotation lifts the stop.
func TestNonceLimitHardStop(t *testing.T) {
	oldMax, oldHard := dataKeyMaxRecords, dataKeyHardLimit
	dataKeyMaxRecords, dataKeyHardLimit = 1<<40, 10 // no automatic rotation: as if it kept failing
	t.Cleanup(func() { dataKeyMaxRecords, dataKeyHardLimit = oldMax, oldHard })
	dir := t.TempDir()
	l := openT(t, dir, Options{EncryptionKey: testKey(1)})
	for i := range 10 {
		_, err := l.Info("x", Fields{"i": i})
		require.NoError(t, err)
	}
	_, err := l.Info("one too many", nil)
	require.ErrorIs(t, err, ErrKeyExhausted)
	require.Equal(t, uint64(10), l.Head().Size, "the refused record took no seq")
	require.NoError(t, l.RotateDataKey(context.Background()))
	_, err = l.Info("after rotation", nil)
	require.NoError(t, err)
	require.Len(t, openedEntries(t, l), 11)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
}

// New passphrase logs use scrypt N = 2^17; a HEADER with the old 2^15 still
// opens with its own parameters.
func TestScryptParameters(t *testing.T) {
	require.Equal(t, 1<<17, scryptN)
	n := scryptN
	t.Cleanup(func() { scryptN = n })
	scryptN = 1 << 15 // a log created before the change
	dir := t.TempDir()
	l := openT(t, dir, Options{Passphrase: "correct horse"})
	_, err := l.Info("x", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	scryptN = 1 << 17
	l = openT(t, dir, Options{Passphrase: "correct horse"})
	require.Len(t, openedEntries(t, l), 1)
	require.NoError(t, l.Close())
	h, _, err := readHeader(dir)
	require.NoError(t, err)
	require.Equal(t, 1<<15, h.Encryption.KDF.N, "HEADER keeps the parameters it was created with")
}
