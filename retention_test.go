package treeoflife

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/backup"
)

// switchSink is an object store that can be taken down: while down is set,
// every call fails.
type switchSink struct {
	backup.Sink
	down atomic.Bool
}

func (s *switchSink) Put(ctx context.Context, key string, body []byte, sum [32]byte, opts backup.PutOptions) error {
	if s.down.Load() {
		return errInjected
	}
	return s.Sink.Put(ctx, key, body, sum, opts)
}

func (s *switchSink) Get(ctx context.Context, key string) (io.ReadCloser, backup.ObjectInfo, error) {
	if s.down.Load() {
		return nil, backup.ObjectInfo{}, errInjected
	}
	return s.Sink.Get(ctx, key)
}

func (s *switchSink) Stat(ctx context.Context, key string) (backup.ObjectInfo, error) {
	if s.down.Load() {
		return backup.ObjectInfo{}, errInjected
	}
	return s.Sink.Stat(ctx, key)
}

func (s *switchSink) List(ctx context.Context, prefix string) iter.Seq2[backup.ObjectInfo, error] {
	if s.down.Load() {
		return func(yield func(backup.ObjectInfo, error) bool) { yield(backup.ObjectInfo{}, errInjected) }
	}
	return s.Sink.List(ctx, prefix)
}

func TestRetentionFile(t *testing.T) {
	runRetentionSuite(t, func(t *testing.T) backupTarget {
		return backupTarget{sink: newFileSink(t), prefix: "logs"}
	})
}

func TestRetentionRefusedAtOpen(t *testing.T) {
	for name, o := range map[string]Options{
		"no backup":           {LocalRetention: LocalRetention{MaxAge: 24 * time.Hour}},
		"no backup, by bytes": {LocalRetention: LocalRetention{MaxBytes: 1 << 30}},
		"negative age":        {Backup: newFileSink(t), LocalRetention: LocalRetention{MaxAge: -time.Hour}},
		"negative bytes":      {Backup: newFileSink(t), LocalRetention: LocalRetention{MaxBytes: -1}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, o)
			require.ErrorIs(t, err, ErrInvalidOptions)
			require.Nil(t, l)
			des, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, des, "nothing is created for refused options")
		})
	}
}

// retentionClock is a clock tests move.
type retentionClock struct{ ns atomic.Int64 }

func (c *retentionClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *retentionClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// segmentSeqs lists every segment file's first seq in dir, START or not.
func segmentSeqs(t *testing.T, dir string) []uint64 {
	t.Helper()
	segs, err := listAllSegments(dir)
	require.NoError(t, err)
	var seqs []uint64
	for _, s := range segs {
		seqs = append(seqs, s.FirstSeq)
	}
	return seqs
}

func runRetentionSuite(t *testing.T, newTarget func(t *testing.T) backupTarget) {
	ctx := context.Background()
	skey, vkey, err := GenerateSigningKey("retention.test")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	verifiers, err := NewVerifiers(vkey)
	require.NoError(t, err)

	options := func(sink backup.Sink, prefix string, clock *retentionClock, alerts chan Alert) Options {
		o := Options{
			Backup: sink, BackupPrefix: prefix, BackupBatchSize: 40,
			SegmentSize: MinSegmentSize, Signer: signer, Clock: clock.now,
			// Retention runs when the tests ask (retainNow) and after seals.
			LocalRetention: LocalRetention{MaxAge: 24 * time.Hour, Interval: time.Hour},
		}
		if alerts != nil {
			o.OnAlert = func(a Alert) {
				select {
				case alerts <- a:
				default:
				}
			}
		}
		return o
	}

	t.Run("removes only what the backup holds verified; the cut log verifies and restores whole", func(t *testing.T) {
		tg := newTarget(t)
		sw := &switchSink{Sink: tg.sink}
		clock := &retentionClock{}
		clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		dir := t.TempDir()

		// The backup is down: nothing is removed, and on a disk over its
		// threshold the logger raises AlertDisk instead.
		sw.down.Store(true)
		alerts := make(chan Alert, 16)
		o := options(sw, tg.prefix, clock, alerts)
		o.DiskUsageThreshold = 1e-9
		o.BackupCloseTimeout = 200 * time.Millisecond
		l := openT(t, dir, o)
		logN(t, l, 300)
		clock.add(48 * time.Hour) // every sealed segment is older than MaxAge
		before := segmentSeqs(t, dir)
		require.Greater(t, len(before), 5)
		res, err := l.retainNow(ctx)
		require.NoError(t, err)
		require.Empty(t, res.removed)
		require.Contains(t, res.heldBack, "the backup holds, verified, only the records before 0")
		require.Equal(t, before, segmentSeqs(t, dir), "nothing removed while the backup is down")
		require.NoFileExists(t, filepath.Join(dir, startFile))
		require.Contains(t, l.RetentionStatus().HeldBack, "selected for removal")
		deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	wait:
		for {
			select {
			case a := <-alerts:
				if a.Kind == AlertDisk {
					break wait
				}
			case <-deadline.Done():
				t.Fatal("no AlertDisk while retention is held back on a full disk")
			}
		}
		require.Error(t, l.Close(), "the backup is down at Close")

		// The backup is back: shipped, checked, and the cut is made.
		sw.down.Store(false)
		o = options(sw, tg.prefix, clock, nil)
		l = openT(t, dir, o)
		require.NoError(t, l.SyncBackup(ctx))
		logN(t, l, 5)                 // the active segment holds these: the cut keeps several records
		require.NoError(t, l.Close()) // puts the final signed checkpoint, after its batches
		l = openT(t, dir, o)
		defer func() { l.Close() }()
		require.NoError(t, l.SyncBackup(ctx)) // connected: the cursor is confirmed
		res, err = l.retainNow(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, res.removed, "%+v", res)
		first := res.first
		require.Greater(t, first, uint64(0))
		require.FileExists(t, filepath.Join(dir, startFile))
		for _, s := range segmentSeqs(t, dir) {
			require.GreaterOrEqual(t, s, first, "segments before the cut are gone")
		}
		_, err = os.Stat(filepath.Join(dir, indexName(0)))
		require.ErrorIs(t, err, os.ErrNotExist, "with their indexes")
		total := l.Head().Size
		st, err := l.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, first, st.FirstSeq)
		require.Equal(t, total, st.Head.Size)
		require.Equal(t, total-first, st.TotalEntries)
		require.Equal(t, first, l.Metrics().Retention.FirstSeq)

		// The cut log verifies: the logger, VerifyWith signed, the backup.
		rep, err := l.Verify(ctx)
		require.NoError(t, err)
		require.Equal(t, first, rep.First)
		rep, err = l.VerifyWith(ctx, VerifyOptions{Verifiers: verifiers, RequireSigned: true})
		require.NoError(t, err)
		require.Equal(t, total, rep.Head.Size)
		brep, err := l.VerifyBackup(ctx)
		require.NoError(t, err)
		require.True(t, brep.Backup.Synced, "%+v", brep.Backup)

		// Reads begin where the log does; proofs of removed records say so.
		es, err := l.Read(ctx, Filter{FromSeq: 0, Limit: 1, Reverse: false})
		require.NoError(t, err)
		require.Len(t, es, 1)
		all, err := collect(l.Entries(ctx, Filter{}))
		require.NoError(t, err)
		require.Len(t, all, int(total-first))
		require.Equal(t, first, all[0].Seq)
		_, err = l.ProveInclusion(ctx, first-1, total)
		require.ErrorIs(t, err, ErrNotLocal)
		_, err = l.ProveConsistency(ctx, first-1, total)
		require.ErrorIs(t, err, ErrNotLocal)
		head := l.Head()
		for _, seq := range []uint64{first, first + 1, total - 1} {
			p, err := l.ProveInclusion(ctx, seq, total)
			require.NoError(t, err)
			var leaf Hash
			require.NoError(t, readFrames(mustView(t, l), seq, seq+1, func(fr *frame) error { leaf = leafHash(fr.Payload); return nil }))
			require.NoError(t, VerifyInclusion(p, seq, total, leaf, head.Root))
		}
		p, err := l.ProveConsistency(ctx, first+3, total)
		require.NoError(t, err)
		oldRoot := rootOf(t, l, first+3)
		require.NoError(t, VerifyConsistency(p, first+3, total, oldRoot, head.Root))

		// More records, a second cut that continues the first.
		logN(t, l, 200)
		clock.add(48 * time.Hour)
		require.NoError(t, l.SyncBackup(ctx))
		_, err = l.Checkpoint(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		l = openT(t, dir, o)
		require.NoError(t, l.SyncBackup(ctx))
		live, err := OpenReader(dir) // a Reader open while the log is cut
		require.NoError(t, err)
		defer live.Close()
		lst, err := live.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, first, lst.FirstSeq)
		res, err = l.retainNow(ctx)
		require.NoError(t, err)
		require.Greater(t, res.first, first)
		first = res.first
		total = l.Head().Size
		_, err = l.Verify(ctx)
		require.NoError(t, err)
		lst, err = live.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, first, lst.FirstSeq, "the Reader follows the cut")
		_, err = live.Verify(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())

		// At rest: VerifyDir, a Reader.
		rep, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: verifiers, RequireSigned: true, Anchors: []Anchor{BackupAnchor{Sink: tg.sink, Prefix: tg.prefix}}})
		require.NoError(t, err)
		require.Equal(t, first, rep.First)
		checkStartIndependently(t, dir)
		r, err := OpenReader(dir)
		require.NoError(t, err)
		rrep, err := r.Verify(ctx)
		require.NoError(t, err)
		require.Equal(t, total, rrep.Head.Size)
		rst, err := r.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, first, rst.FirstSeq)
		es, err = r.Read(ctx, Filter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, es, int(total-first))
		require.Equal(t, first, es[0].Seq)
		_, err = r.ProveInclusion(ctx, 0, total)
		require.ErrorIs(t, err, ErrNotLocal)
		_, err = r.ProveInclusion(ctx, total-1, total)
		require.NoError(t, err)
		require.NoError(t, r.Close())

		// The backup gives back the whole log.
		rdir := t.TempDir()
		rhead, err := RestoreBackup(ctx, tg.sink, rdir, RestoreOptions{Prefix: tg.prefix})
		require.NoError(t, err)
		require.Equal(t, total, rhead.Size)
		rrep, err = VerifyDir(ctx, rdir)
		require.NoError(t, err)
		require.Zero(t, rrep.First)
		rr, err := OpenReader(rdir)
		require.NoError(t, err)
		defer rr.Close()
		es, err = rr.Read(ctx, Filter{ToSeq: 1})
		require.NoError(t, err)
		require.Len(t, es, 1)
		require.Equal(t, uint64(0), es[0].Seq)
		l = openT(t, dir, o)
		require.Equal(t, rhead, l.Head(), "the restored log is the log")
	})

	t.Run("a crash between recording the cut and removing leaves a log that opens and verifies", func(t *testing.T) {
		tg := newTarget(t)
		clock := &retentionClock{}
		clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		dir := t.TempDir()
		o := options(tg.sink, tg.prefix, clock, nil)
		o.Compress = true // compressed segments are cut the same way
		l := openT(t, dir, o)
		logN(t, l, 200)
		require.NoError(t, l.SyncBackup(ctx))
		_, err := l.ProveInclusion(ctx, 10, 200) // HASHES, from record 0
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.FileExists(t, filepath.Join(dir, hashesFile))
		names := map[string][]byte{}
		des, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, de := range des {
			b, err := os.ReadFile(filepath.Join(dir, de.Name()))
			require.NoError(t, err)
			names[de.Name()] = b
		}

		clock.add(48 * time.Hour)
		l = openT(t, dir, o)
		require.NoError(t, l.SyncBackup(ctx))
		res, err := l.retainNow(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, res.removed)
		require.NoError(t, l.Close())

		// Put the removed files back: START is recorded, the files are
		// not yet removed, as a crash would leave them.
		var putBack []string
		for name, b := range names {
			if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o444))
				putBack = append(putBack, name)
			}
		}
		require.Contains(t, putBack, hashesFile)
		require.Greater(t, len(putBack), 2, "segments and indexes put back: %v", putBack)
		rep, err := VerifyDir(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, res.first, rep.First)
		r, err := OpenReader(dir)
		require.NoError(t, err)
		st, err := r.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, res.first, st.FirstSeq)
		require.NoError(t, r.Close())
		l = openT(t, dir, o)
		for _, name := range putBack {
			require.NoFileExists(t, filepath.Join(dir, name), "Open finishes the cut")
		}
		_, err = l.Verify(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())
	})

	t.Run("MaxBytes removes the oldest segments until the log fits", func(t *testing.T) {
		tg := newTarget(t)
		clock := &retentionClock{}
		clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		dir := t.TempDir()
		o := options(tg.sink, tg.prefix, clock, nil)
		o.LocalRetention = LocalRetention{Interval: time.Hour}
		l := openT(t, dir, o)
		logN(t, l, 300)
		require.NoError(t, l.SyncBackup(ctx))
		require.NoError(t, l.Close())
		before, err := logBytes(dir)
		require.NoError(t, err)
		limit := before / 2
		sizes := map[uint64]int64{}
		for _, seq := range segmentSeqs(t, dir) {
			sizes[seq] = segmentBytes(dir, seq)
		}
		o.LocalRetention.MaxBytes = limit
		l = openT(t, dir, o)
		defer l.Close()
		require.NoError(t, l.SyncBackup(ctx))
		res, err := l.retainNow(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, res.removed)
		after, err := logBytes(dir)
		require.NoError(t, err)
		require.LessOrEqual(t, after, limit, "the log fits")
		// And no more than needed: with the last segment removed, it did
		// not fit.
		seq, _, ok := parseSegmentName(res.removed[len(res.removed)-1])
		require.True(t, ok)
		require.Greater(t, after+sizes[seq], limit, "removed %v", res.removed)
		_, err = l.Verify(ctx)
		require.NoError(t, err)
	})

	t.Run("a segment removed by hand is still tampering", func(t *testing.T) {
		tg := newTarget(t)
		clock := &retentionClock{}
		clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		dir := t.TempDir()
		o := options(tg.sink, tg.prefix, clock, nil)
		l := openT(t, dir, o)
		logN(t, l, 200)
		clock.add(48 * time.Hour)
		logN(t, l, 100) // newer than MaxAge: their segments stay
		require.NoError(t, l.SyncBackup(ctx))
		require.NoError(t, l.Close())
		l = openT(t, dir, o)
		require.NoError(t, l.SyncBackup(ctx))
		res, err := l.retainNow(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		segs, err := listSegments(dir)
		require.NoError(t, err)
		require.Greater(t, len(segs), 3)
		require.Equal(t, res.first, segs[0].FirstSeq)

		// The first kept segment deleted: records are missing after START.
		gone := filepath.Join(dir, segs[0].Name)
		b, err := os.ReadFile(gone)
		require.NoError(t, err)
		require.NoError(t, os.Remove(gone))
		_, err = VerifyDir(ctx, dir)
		requireTamper(t, err, segs[1].Name, "missing")
		_, err = openDir(dir, o)
		requireTamper(t, err, segs[1].Name, "missing")
		_, err = OpenReader(dir)
		require.ErrorIs(t, err, ErrTampered)
		require.NoError(t, os.WriteFile(gone, b, 0o444))

		// START deleted: the log no longer begins at record 0.
		sb, err := os.ReadFile(filepath.Join(dir, startFile))
		require.NoError(t, err)
		require.NoError(t, os.Remove(filepath.Join(dir, startFile)))
		_, err = VerifyDir(ctx, dir)
		requireTamper(t, err, segs[0].Name, "missing")

		// START rewritten: its checkpoint's chain value no longer matches
		// the first kept segment, and its signature no longer verifies.
		i := bytes.Index(sb, []byte(`\nchain `)) + len(`\nchain `)
		forged := bytes.Clone(sb)
		if forged[i] == '0' {
			forged[i] = '1'
		} else {
			forged[i] = '0'
		}
		require.NotEqual(t, sb, forged)
		require.NoError(t, os.WriteFile(filepath.Join(dir, startFile), forged, 0o444))
		_, err = VerifyDir(ctx, dir)
		requireTamper(t, err, segs[0].Name, "starting chain value differs from the checkpoint in START")
		_, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: verifiers})
		requireTamper(t, err, startFile, "signature does not verify")
		_, err = openDir(dir, o)
		require.ErrorIs(t, err, ErrTampered)
		require.NoError(t, os.Remove(filepath.Join(dir, startFile)))

		// START put back: the log verifies; a kept segment after the first
		// removed by hand is missing records.
		require.NoError(t, os.WriteFile(filepath.Join(dir, startFile), sb, 0o444))
		_, err = VerifyDir(ctx, dir)
		require.NoError(t, err)
		require.NoError(t, os.Remove(filepath.Join(dir, segs[1].Name)))
		_, err = VerifyDir(ctx, dir)
		requireTamper(t, err, segs[2].Name, "missing")
	})
}

// mustView is the logger's view of its written records.
func mustView(t *testing.T, l *ImmutableLogger) *readView {
	t.Helper()
	v, _, err := l.view()
	require.NoError(t, err)
	return v
}

// rootOf is the Merkle root of the first n records, from the kept segments.
func rootOf(t *testing.T, l *ImmutableLogger, n uint64) Hash {
	t.Helper()
	_, f, err := stateAt(mustView(t, l), n)
	require.NoError(t, err)
	return f.root()
}

// checkStartIndependently reads a cut log's START and first kept segment
// as FORMAT.md ("Retention", "Segment header", "Indexes") describes them,
// with encoding/json, crypto/sha256 and sumdb/tlog only: the checkpoint is
// of exactly `first` records, its indexes line is the digest of the
// hashes START lists, and the first kept segment's header carries its
// chain value and (folded frontier) Merkle root.
func checkStartIndependently(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "START"))
	require.NoError(t, err)
	var st struct {
		First      uint64   `json:"first"`
		Indexes    []string `json:"indexes"`
		Checkpoint string   `json:"checkpoint"`
	}
	require.NoError(t, json.Unmarshal(b, &st))
	text, _, _ := strings.Cut(st.Checkpoint, "\n\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Equal(t, strconv.FormatUint(st.First, 10), lines[1], "a checkpoint of exactly the records cut")
	root, err := base64.StdEncoding.DecodeString(lines[2])
	require.NoError(t, err)
	chain, ok := strings.CutPrefix(lines[3], "chain ")
	require.True(t, ok)
	d := sha256.New()
	d.Write([]byte{0x04})
	for _, h := range st.Indexes {
		x, err := hex.DecodeString(h)
		require.NoError(t, err)
		d.Write(x)
	}
	want := fmt.Sprintf("indexes %d %x", len(st.Indexes), d.Sum(nil))
	require.Contains(t, lines, want)

	seg, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", st.First)))
	if errors.Is(err, os.ErrNotExist) {
		f, ferr := os.Open(filepath.Join(dir, fmt.Sprintf("%020d.seg.gz", st.First)))
		require.NoError(t, ferr)
		defer f.Close()
		zr, zerr := gzip.NewReader(f)
		require.NoError(t, zerr)
		seg, err = io.ReadAll(zr)
	}
	require.NoError(t, err)
	require.Equal(t, "TOLSEG01", string(seg[:8]))
	require.Equal(t, st.First, binary.BigEndian.Uint64(seg[24:32]))
	require.Equal(t, chain, hex.EncodeToString(seg[40:72]), "the header's prev is the checkpoint's chain value")
	k := int(seg[72])
	fr := make([]tlog.Hash, k)
	for i := range fr {
		copy(fr[i][:], seg[73+32*i:])
	}
	h := fr[k-1]
	for i := k - 2; i >= 0; i-- {
		h = tlog.NodeHash(fr[i], h)
	}
	require.Equal(t, root, h[:], "the header's frontier folds to the checkpoint's root")
}

// chanHandler is a slog handler that sends the messages it handles.
type chanHandler struct{ ch chan string }

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Message:
	default:
	}
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

// TestRetentionBackground: with no call from the test, retention runs on
// its own (after seals and on its timer) once the backup holds the old
// segments, and logs what it removed.
func TestRetentionBackground(t *testing.T) {
	ctx := context.Background()
	clock := &retentionClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	msgs := make(chan string, 1024)
	dir := t.TempDir()
	// With a signer, each checkpoint (one at every seal) is put into the
	// backup as soon as the batches cover it.
	skey, _, err := GenerateSigningKey("retention.test")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	l := openT(t, dir, Options{
		Signer: signer,
		Backup: newFileSink(t), BackupBatchSize: 40, BackupInterval: 20 * time.Millisecond,
		SegmentSize: MinSegmentSize, Clock: clock.now, Logger: slog.New(chanHandler{msgs}),
		LocalRetention: LocalRetention{MaxAge: time.Hour, Interval: 20 * time.Millisecond},
	})
	defer l.Close()
	logN(t, l, 200)
	clock.add(2 * time.Hour)
	logN(t, l, 100)
	require.NoError(t, l.SyncBackup(ctx))
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for removed := false; !removed; {
		select {
		case m := <-msgs:
			removed = m == "local retention removed segments held in the backup"
		case <-deadline.Done():
			t.Fatalf("retention did not run in the background: %+v", l.RetentionStatus())
		}
	}
	st := l.RetentionStatus()
	require.True(t, st.Enabled)
	require.Greater(t, st.FirstSeq, uint64(0))
	require.Greater(t, st.Removed, 0)
	require.Equal(t, st.FirstSeq, l.Metrics().Retention.FirstSeq)
	require.Equal(t, st.FirstSeq, l.Health().FirstSeq)
	_, err = l.Verify(ctx)
	require.NoError(t, err)
}
