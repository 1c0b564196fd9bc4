package treeoflife

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// copyLogDir copies the log directory src to dst (which must not exist),
// keeping each file's permissions: a read-only segment is a sealed one.
func copyLogDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(out, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, b, 0o600); err != nil {
			return err
		}
		return os.Chmod(out, fi.Mode().Perm())
	}))
}

// replaceInFile replaces old with new in a (possibly read-only) file,
// keeping its mode.
func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(path, 0o644))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644))
	require.NoError(t, os.Chmod(path, fi.Mode().Perm()))
}

// forgeCheckpoint rewrites the unsigned CHECKPOINT of dir as an attacker
// with write access can: it names the current HEADER and the given tenant.
func forgeCheckpoint(t *testing.T, dir, tenant string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)
	c, err := ParseCheckpoint(b)
	require.NoError(t, err)
	hdr, err := os.ReadFile(filepath.Join(dir, headerFile))
	require.NoError(t, err)
	c.Header, c.Tenant = headerDigest(hdr), tenant
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), c.Marshal(), 0o644))
}

// swapTenant writes records for acme and globex under root, then copies
// acme's log over globex's and names globex in its HEADER; with
// forgeCP, CHECKPOINT is rewritten to match as well.
func swapTenant(t *testing.T, root string, opts Options, forgeCP bool) {
	t.Helper()
	ctx := context.Background()
	ts := openTenantsT(t, root, opts)
	for _, id := range []string{"acme", "globex"} {
		for i := range 5 {
			_, err := ts.Log(ctx, id, LevelAudit, fmt.Sprintf("%s secret %d", id, i), nil)
			require.NoError(t, err)
		}
	}
	acme, err := ts.Dir("acme")
	require.NoError(t, err)
	globex, err := ts.Dir("globex")
	require.NoError(t, err)
	require.NoError(t, ts.Close())

	require.NoError(t, os.RemoveAll(globex))
	copyLogDir(t, acme, globex)
	replaceInFile(t, filepath.Join(globex, headerFile), `"tenant": "acme"`, `"tenant": "globex"`)
	if forgeCP {
		forgeCheckpoint(t, globex, "globex")
	}
}

// noAcme fails if any entry returned is acme's.
func noAcme(t *testing.T, es []Entry) {
	t.Helper()
	for _, e := range es {
		require.NotEqual(t, "acme", e.Tenant, "acme's record served as globex's: %+v", e)
	}
}

// TestTenantSwap: copying one tenant's log over another's, and naming the
// other tenant in HEADER, never serves the first tenant's records as the
// second's.
func TestTenantSwap(t *testing.T) {
	ctx := context.Background()
	for _, encrypted := range []bool{false, true} {
		for _, forgeCP := range []bool{false, true} {
			t.Run(fmt.Sprintf("encrypted=%v/checkpoint-forged=%v", encrypted, forgeCP), func(t *testing.T) {
				root := t.TempDir()
				opts := Options{}
				if encrypted {
					opts.EncryptionKey = testKey(0x21)
				}
				swapTenant(t, root, opts, forgeCP)
				ts := openTenantsT(t, root, opts)
				defer ts.Close()
				tl, err := ts.Get(ctx, "globex")
				switch {
				case encrypted:
					// acme's data keys are bound to acme: they do not
					// unwrap for globex.
					require.ErrorIs(t, err, ErrWrongKey)
					return
				case !forgeCP:
					// HEADER no longer matches the hash CHECKPOINT records.
					require.ErrorIs(t, err, ErrTampered)
					return
				}
				require.NoError(t, err)
				defer tl.Close()
				checkSwappedReads(t, tl.ImmutableLogger)

				dir, err := ts.Dir("globex")
				require.NoError(t, err)
				r, err := OpenReader(dir)
				require.NoError(t, err)
				defer r.Close()
				checkSwappedReads(t, r)
			})
		}
	}
}

type entryReader interface {
	Read(context.Context, Filter) ([]Entry, error)
	Query(context.Context, Query, Filter) ([]Entry, error)
	Search(context.Context, string, Filter) ([]Entry, error)
}

// checkSwappedReads requires every read of a swapped log to fail with a
// *TamperError naming the segment, seq and offset of the first record.
func checkSwappedReads(t *testing.T, src entryReader) {
	t.Helper()
	ctx := context.Background()
	check := func(es []Entry, err error) {
		t.Helper()
		noAcme(t, es)
		require.ErrorIs(t, err, ErrTampered)
		var te *TamperError
		require.True(t, errors.As(err, &te))
		require.NotEmpty(t, te.Segment)
		require.Greater(t, te.Offset, int64(0))
		require.Contains(t, te.Reason, `tenantId "acme"`)
	}
	check(src.Read(ctx, Filter{}))
	check(src.Query(ctx, Query{"level": "AUDIT"}, Filter{}))
	check(src.Search(ctx, "secret", Filter{}))
	check(src.Read(ctx, Filter{Reverse: true, Limit: 1}))
}

// TestLegacySealedLog: a log written in the earlier format (data keys
// wrapped without the tenant, version 1 envelopes) still opens and reads,
// and new records are sealed as version 2 beside the old ones.
func TestLegacySealedLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{EncryptionKey: testKey(0x31), Tenant: "acme", SegmentSize: MinSegmentSize}
	legacySealing = true
	t.Cleanup(func() { legacySealing = false })
	l := openT(t, dir, opts)
	for i := range 40 {
		_, err := l.Info(fmt.Sprintf("old %d", i), Fields{"i": i})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	legacySealing = false
	for _, fr := range storedFrames(t, dir) {
		require.Equal(t, byte(sealedVersion1), fr.Payload[0])
	}

	l = openT(t, dir, opts)
	for i := range 3 {
		_, err := l.Info(fmt.Sprintf("new %d", i), nil)
		require.NoError(t, err)
	}
	es, err := l.Read(ctx, Filter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, es, 43)
	require.Equal(t, "old 0", es[0].Message)
	require.Equal(t, "new 2", es[42].Message)
	require.NoError(t, l.Close())
	frames := storedFrames(t, dir)
	require.Equal(t, byte(sealedVersion1), frames[39].Payload[0])
	require.Equal(t, byte(sealedVersion), frames[40].Payload[0])
	_, err = VerifyDir(ctx, dir)
	require.NoError(t, err)

	// A data key added now is wrapped with the tenant bound.
	l = openT(t, dir, opts)
	require.NoError(t, l.RotateDataKey(ctx))
	_, err = l.Info("after rotation", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	h, id, err := readHeader(dir)
	require.NoError(t, err)
	kr, err := NewKeyring(testKey(0x31))
	require.NoError(t, err)
	k2 := &h.Encryption.DataKeys[1]
	_, err = kr.UnwrapKey(ctx, k2.MasterKeyID, k2.Wrapped, legacyDataKeyAAD(id, 2))
	require.ErrorIs(t, err, ErrWrongKey, "the new key does not unwrap without its tenant")
	_, err = kr.UnwrapKey(ctx, k2.MasterKeyID, k2.Wrapped, dataKeyAAD(id, 2, "acme"))
	require.NoError(t, err)
	l = openT(t, dir, opts)
	es, err = l.Read(ctx, Filter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, es, 44)
	require.NoError(t, l.Close())
}

// TestLegacyTenantSwap: with keys wrapped the earlier way (no tenant in
// the wrapping), a swapped log opens, but no record of it is served.
func TestLegacyTenantSwap(t *testing.T) {
	legacySealing = true
	t.Cleanup(func() { legacySealing = false })
	root := t.TempDir()
	opts := Options{EncryptionKey: testKey(0x41)}
	// Tenants of that era also had no tenant keys: their data keys are
	// wrapped by the master key (with tenant keys, the swapped log would
	// not even open: see TestTenantKeysRefuseSwap).
	for _, id := range []string{"acme", "globex"} {
		o := opts
		o.Tenant = id
		l := openT(t, filepath.Join(root, tenantsDir, id), o)
		for i := range 5 {
			_, err := l.Audit(fmt.Sprintf("%s secret %d", id, i), nil)
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
	}
	acme, globex := filepath.Join(root, tenantsDir, "acme"), filepath.Join(root, tenantsDir, "globex")
	require.NoError(t, os.RemoveAll(globex))
	copyLogDir(t, acme, globex)
	replaceInFile(t, filepath.Join(globex, headerFile), `"tenant": "acme"`, `"tenant": "globex"`)
	forgeCheckpoint(t, globex, "globex")
	legacySealing = false
	ts := openTenantsT(t, root, opts)
	defer ts.Close()
	tl, err := ts.Get(context.Background(), "globex")
	require.NoError(t, err)
	defer tl.Close()
	checkSwappedReads(t, tl.ImmutableLogger)
}

// TestTenantKeysRefuseSwap: with tenant keys, a tenant's log copied over
// another's does not open at all: its data keys are wrapped by the first
// tenant's key.
func TestTenantKeysRefuseSwap(t *testing.T) {
	root := t.TempDir()
	opts := Options{EncryptionKey: testKey(0x42)}
	swapTenant(t, root, opts, true)
	ts := openTenantsT(t, root, opts)
	defer ts.Close()
	_, err := ts.Get(context.Background(), "globex")
	require.ErrorIs(t, err, ErrWrongKey)
}

// TestSealedRecordBoundToTenant: a version 2 record opens only under the
// tenant it was sealed for.
func TestSealedRecordBoundToTenant(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{EncryptionKey: testKey(0x51), Tenant: "acme"})
	_, err := l.Info("x", nil)
	require.NoError(t, err)
	require.NoError(t, l.Sync(context.Background()))
	fr := storedFrames(t, dir)[0]
	require.Equal(t, byte(sealedVersion), fr.Payload[0])
	_, err = l.keys.open(fr.Seq, fr.Payload, nil)
	require.NoError(t, err)
	saved := l.keys.tenant
	l.keys.tenant = tenantAAD("globex")
	_, err = l.keys.open(fr.Seq, fr.Payload, nil)
	require.ErrorIs(t, err, ErrDecrypt)
	l.keys.tenant = saved
	require.Equal(t, uint32(1), binary.BigEndian.Uint32(fr.Payload[1:5]))
	require.NoError(t, l.Close())
}

// writeForgedIndexLog writes a log of several sealed segments and returns
// its directory and the true Stats.
func writeForgedIndexLog(t *testing.T, opts Options) (string, Stats) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	opts.SegmentSize = 96 << 10 // more than one index block per segment
	l := openT(t, dir, opts)
	levels := []Level{LevelInfo, LevelRevenue, LevelError, LevelAudit}
	for i := range 1500 {
		_, err := l.Log(ctx, levels[i%len(levels)], "event", Fields{"i": i, "pad": "0123456789abcdef0123456789abcdef"})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	l.compressor.wait()
	st, err := l.Stats(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 2)
	require.Equal(t, opts.Compress, segs[0].Compressed)

	// The checkpoint commits to every sealed segment's index, and the
	// digest is that of the index files (with or without member offsets).
	cp, err := readCheckpoint(dir, headerID(t, dir))
	require.NoError(t, err)
	require.Equal(t, len(segs)-1, cp.Indexes.Segments)
	var xs []*segmentIndex
	for _, sf := range segs[:len(segs)-1] {
		x, err := readIndexFile(dir, sf.FirstSeq)
		require.NoError(t, err)
		require.Greater(t, len(x.Blocks), 1)
		require.Equal(t, opts.Compress, x.Blocks[1].ZOffset > 0)
		xs = append(xs, x)
	}
	require.Equal(t, cp.Indexes.Digest, digestIndexes(xs))
	return dir, st
}

func headerID(t *testing.T, dir string) [16]byte {
	t.Helper()
	_, id, err := readHeader(dir)
	require.NoError(t, err)
	return id
}

// forgeIndex rewrites the index of segment 0 so that it counts fewer ERROR
// records and no block admits one, with a valid CRC-32C: only the digest
// in CHECKPOINT tells it from the true one.
func forgeIndex(t *testing.T, dir string) string {
	t.Helper()
	x, err := readIndexFile(dir, 0)
	require.NoError(t, err)
	x.LevelCounts[LevelInfo] += x.LevelCounts[LevelError]
	x.LevelCounts[LevelError] = 0
	for i := range x.Blocks {
		x.Blocks[i].Levels &^= 1 << LevelError
	}
	path := filepath.Join(dir, indexName(0))
	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, os.WriteFile(path, x.marshal(), 0o444))
	_, err = readIndexFile(dir, 0)
	require.NoError(t, err, "the forged index parses")
	return indexName(0)
}

type statsReader interface {
	entryReader
	Stats(context.Context) (Stats, error)
}

// checkTrueResults requires src to return what the log holds.
func checkTrueResults(t *testing.T, src statsReader, want Stats) {
	t.Helper()
	ctx := context.Background()
	st, err := src.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, want.Levels, st.Levels)
	require.Equal(t, want.TotalEntries, st.TotalEntries)
	es, err := src.Query(ctx, Query{"level": "ERROR"}, Filter{})
	require.NoError(t, err)
	require.Len(t, es, int(want.Levels[LevelError]))
	require.EqualValues(t, 2, es[0].Seq, "the forged segment's records are found")
	es, err = src.Read(ctx, Filter{Levels: []Level{LevelError}, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, es, int(want.Levels[LevelError]))
}

// TestForgedIndex: an index file forged with a valid checksum changes
// nothing that Stats, Query or Read return, and Verify names it.
func TestForgedIndex(t *testing.T) {
	ctx := context.Background()
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir, want := writeForgedIndexLog(t, Options{Compress: compress})
			forged := forgeIndex(t, dir)

			_, err := VerifyDir(ctx, dir)
			var te *TamperError
			require.ErrorAs(t, err, &te)
			require.Equal(t, forged, te.Segment)

			r, err := OpenReader(dir)
			require.NoError(t, err)
			checkTrueResults(t, r, want)
			require.NoError(t, r.Close())

			var logged bytes.Buffer
			l := openT(t, dir, Options{Compress: compress, SegmentSize: 96 << 10, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			checkTrueResults(t, l, want)
			require.Contains(t, logged.String(), forged)
			require.Error(t, verifyErr(l.Verify(ctx)), "the forged file is kept, as evidence")
			require.NoError(t, l.Close())
		})
	}
}

// TestForgedIndexEncrypted: with the key, the index is rebuilt from the
// decrypted records; a Reader, which has no key, refuses.
func TestForgedIndexEncrypted(t *testing.T) {
	ctx := context.Background()
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			opts := Options{Compress: compress, EncryptionKey: testKey(0x61)}
			dir, want := writeForgedIndexLog(t, opts)
			forged := forgeIndex(t, dir)

			_, err := VerifyDir(ctx, dir)
			require.ErrorIs(t, err, ErrTampered)

			_, err = OpenReader(dir)
			var te *TamperError
			require.ErrorAs(t, err, &te)
			require.Equal(t, forged, te.Segment)

			opts.SegmentSize = 96 << 10
			l := openT(t, dir, opts)
			checkTrueResults(t, l, want)
			require.NoError(t, l.Close())
		})
	}
}

// forget empties the cache of loaded index blocks.
func (s *blockSource) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Init()
	clear(s.byIdx)
}

// TestForgedIndexAfterOpen: an index file forged while a logger and a
// Reader have the log open, after they checked it and kept only its
// summary, is caught when its blocks are loaded again: they are rebuilt
// from the segment, and the forged file is left as it is.
func TestForgedIndexAfterOpen(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			dir, want := writeForgedIndexLog(t, Options{Compress: compress})
			l := openT(t, dir, Options{Compress: compress, SegmentSize: 96 << 10})
			r, err := OpenReader(dir)
			require.NoError(t, err)
			checkTrueResults(t, l, want)
			checkTrueResults(t, r, want)

			forged := forgeIndex(t, dir)
			b, err := os.ReadFile(filepath.Join(dir, forged))
			require.NoError(t, err)
			l.blocks.forget()
			r.blocks.forget()
			checkTrueResults(t, l, want)
			checkTrueResults(t, r, want)
			after, err := os.ReadFile(filepath.Join(dir, forged))
			require.NoError(t, err)
			require.Equal(t, b, after, "the forged file is kept, as evidence")

			// A missing one is rebuilt, and rewritten by the logger.
			require.NoError(t, os.Remove(filepath.Join(dir, forged)))
			l.blocks.forget()
			r.blocks.forget()
			checkTrueResults(t, r, want)
			checkTrueResults(t, l, want)
			_, err = readIndexFile(dir, 0)
			require.NoError(t, err)
			require.NoError(t, r.Close())
			require.NoError(t, l.Close())
		})
	}
}
