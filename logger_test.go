package treeoflife

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll returns the decoded entries of every record on disk, in order.
func readAll(t *testing.T, dir string) []map[string]any {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var out []map[string]any
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(fr.Payload, &m), "payload %q", fr.Payload)
			require.EqualValues(t, fr.Seq, m["seq"])
			out = append(out, m)
		}
		require.NoError(t, sr.Close())
	}
	return out
}

// openT opens the log in dir itself, whatever opts.Tenant says (openDir:
// Open puts a tenant's log under dir/tenants).
func openT(t *testing.T, dir string, opts Options) *ImmutableLogger {
	t.Helper()
	l, err := openDir(dir, opts)
	require.NoError(t, err)
	return l
}

func TestLogAndReadBack(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 11, 22, 5, 34, 22, 123456789, time.UTC)
	l := openT(t, dir, Options{Clock: func() time.Time { return clock }})
	methods := []struct {
		level Level
		log   func(string, Fields) (Record, error)
	}{
		{LevelInfo, l.Info}, {LevelWarn, l.Warn}, {LevelError, l.Error}, {LevelCritical, l.Critical},
		{LevelAudit, l.Audit}, {LevelSecurity, l.Security}, {LevelRevenue, l.Revenue}, {LevelSystem, l.System},
	}
	var recs []Record
	for i, m := range methods {
		rec, err := m.log(fmt.Sprintf("event %d", i), Fields{"version": "1.0.0", "n": i, "nested": Fields{"ok": true, "list": []any{1, "two", nil}}})
		require.NoError(t, err)
		require.Equal(t, uint64(i), rec.Seq)
		require.Equal(t, m.level, rec.Level)
		require.NotEqual(t, Hash{}, rec.Hash)
		recs = append(recs, rec)
	}
	head := l.Head()
	require.Equal(t, uint64(len(methods)), head.Size)
	require.Equal(t, recs[len(recs)-1].Hash, head.Chain)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())

	entries := readAll(t, dir)
	require.Len(t, entries, len(methods))
	host, _ := os.Hostname()
	for i, e := range entries {
		require.ElementsMatch(t, []string{"seq", "id", "timestamp", "level", "message", "metadata", "hostname", "pid", "tenantId"}, keys(e))
		assert.Equal(t, methods[i].level.String(), e["level"])
		assert.Equal(t, fmt.Sprintf("event %d", i), e["message"])
		assert.Equal(t, recs[i].ID, e["id"])
		assert.Equal(t, "2026-11-22T05:34:22.123456789Z", e["timestamp"])
		assert.Equal(t, host, e["hostname"])
		assert.EqualValues(t, os.Getpid(), e["pid"])
		assert.Nil(t, e["tenantId"])
		assert.Equal(t, map[string]any{"version": "1.0.0", "n": float64(i), "nested": map[string]any{"ok": true, "list": []any{float64(1), "two", nil}}}, e["metadata"])
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	for round := 0; round < 3; round++ {
		l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
		for i := 0; i < 50; i++ {
			rec, err := l.Audit("login", Fields{"user": i})
			require.NoError(t, err)
			require.Equal(t, uint64(round*50+i), rec.Seq)
		}
		require.NoError(t, verifyErr(l.Verify(context.Background())))
		h := l.Head()
		require.NoError(t, l.Close())
		got, err := VerifyDir(context.Background(), dir)
		require.NoError(t, err)
		require.Equal(t, h, got.Head)
	}
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 3, "small segments rotate")
}

func TestConcurrentWriters(t *testing.T) {
	for _, d := range []Durability{DurabilitySync, DurabilityBuffered} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{Durability: d, SegmentSize: 64 << 10})
			const writers, per = 16, 200
			var wg sync.WaitGroup
			seen := make([][]uint64, writers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						rec, err := l.Revenue("payment", Fields{"writer": w, "i": i})
						if !assert.NoError(t, err) {
							return
						}
						seen[w] = append(seen[w], rec.Seq)
					}
				}()
			}
			wg.Wait()
			all := map[uint64]bool{}
			for _, s := range seen {
				for i := 1; i < len(s); i++ {
					require.Less(t, s[i-1], s[i], "one goroutine's records keep their order")
				}
				for _, q := range s {
					require.False(t, all[q], "seq %d handed out twice", q)
					all[q] = true
				}
			}
			require.Len(t, all, writers*per)
			require.NoError(t, verifyErr(l.Verify(context.Background())))
			require.NoError(t, l.Close())
			entries := readAll(t, dir)
			require.Len(t, entries, writers*per)
			count := map[[2]float64]int{}
			for _, e := range entries {
				m := e["metadata"].(map[string]any)
				count[[2]float64{m["writer"].(float64), m["i"].(float64)}]++
			}
			require.Len(t, count, writers*per, "every record stored exactly once")
		})
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{MaxEntrySize: 4096})
	defer l.Close()
	_, err := l.Info("before", nil)
	require.NoError(t, err)
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	cases := []struct {
		name   string
		level  Level
		msg    string
		fields Fields
		want   error
		text   string
	}{
		{"empty message", LevelInfo, "", nil, ErrInvalidEntry, "message is empty"},
		{"unknown level", Level(99), "x", nil, ErrInvalidEntry, "unknown level"},
		{"zero level", Level(0), "x", nil, ErrInvalidEntry, "unknown level"},
		{"NaN", LevelRevenue, "x", Fields{"amount": math.NaN()}, ErrInvalidEntry, "metadata.amount"},
		{"Inf", LevelRevenue, "x", Fields{"a": Fields{"b": math.Inf(1)}}, ErrInvalidEntry, "metadata.a.b"},
		{"float32 Inf", LevelRevenue, "x", Fields{"f": float32(math.Inf(-1))}, ErrInvalidEntry, "NaN or Inf"},
		{"channel", LevelInfo, "x", Fields{"ch": make(chan int)}, ErrInvalidEntry, "metadata.ch"},
		{"func", LevelInfo, "x", Fields{"f": func() {}}, ErrInvalidEntry, "metadata.f"},
		{"cycle", LevelInfo, "x", Fields{"c": cyclic}, ErrInvalidEntry, "cycle"},
		{"invalid UTF-8 message", LevelInfo, "bad \xff", nil, ErrInvalidEntry, "invalid UTF-8"},
		{"invalid UTF-8 key", LevelInfo, "x", Fields{"k\xfe": 1}, ErrInvalidEntry, "invalid UTF-8"},
		{"invalid UTF-8 value", LevelInfo, "x", Fields{"k": []string{"ok", "\xc3"}}, ErrInvalidEntry, "metadata.k.1"},
		{"oversized", LevelInfo, strings.Repeat("a", 5000), nil, ErrEntryTooLarge, "limit 4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := l.Log(context.Background(), c.level, c.msg, c.fields)
			require.ErrorIs(t, err, c.want)
			require.ErrorContains(t, err, c.text)
		})
	}
	_, err = l.Info("after", nil)
	require.NoError(t, err)
	require.Equal(t, uint64(2), l.Head().Size, "rejected entries took no sequence number")
	require.NoError(t, verifyErr(l.Verify(context.Background())))
}

func TestJSONEncodingMatchesEncodingJSON(t *testing.T) {
	type point struct{ X, Y int }
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	values := []any{
		"plain", "quote\" backslash\\ newline\n tab\t ctl\x01 html<>& ls\u2028 emoji 🌳", 0, -7, int8(-8), int16(16), int32(-32), int64(1 << 60),
		uint(1), uint8(8), uint16(16), uint32(32), uint64(math.MaxUint64), 1.5, 1e21, 1e-7, float32(0.1), true, false, nil,
		json.Number("12.5"), now, 90 * time.Second, []byte("bytes"), []string{"a", "b"}, []any{1, "x"},
		map[string]string{"b": "2", "a": "1"}, point{1, 2}, errors.New("boom"),
	}
	for _, v := range values {
		got, err := appendJSONValue(nil, v, 0)
		require.NoError(t, err, "%#v", v)
		require.True(t, json.Valid(got), "%s", got)
		var a, b any
		require.NoError(t, json.Unmarshal(got, &a))
		want, err := json.Marshal(v)
		require.NoError(t, err)
		if _, isErr := v.(error); isErr {
			want, _ = json.Marshal(v.(error).Error())
		}
		if d, isDur := v.(time.Duration); isDur {
			want, _ = json.Marshal(d.String())
		}
		require.NoError(t, json.Unmarshal(want, &b))
		require.Equal(t, b, a, "%#v encodes as %s, encoding/json says %s", v, got, want)
	}
}

func TestClosedLogger(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Close(), ErrClosed)
	_, err := l.Info("late", nil)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, l.Sync(context.Background()), ErrClosed)
	require.ErrorIs(t, verifyErr(l.Verify(context.Background())), ErrClosed)
}

func TestOneLoggerPerDirectory(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, dir)
	require.NoError(t, l.Close())
	l2 := openT(t, dir, Options{})
	require.NoError(t, l2.Close())
}

func TestOpenRefusesForeignDirectories(t *testing.T) {
	t.Run("not empty", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
		_, err := Open(dir, Options{})
		require.ErrorIs(t, err, ErrNotLog)
		require.ErrorContains(t, err, "notes.txt")
		_, err = os.Stat(filepath.Join(dir, headerFile))
		require.ErrorIs(t, err, os.ErrNotExist, "nothing created")
	})
	t.Run("not a directory", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o644))
		_, err := Open(filepath.Join(file, "logs"), Options{})
		require.Error(t, err)
		require.ErrorContains(t, err, "create log directory")
	})
	t.Run("bad header", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, headerFile), []byte(`{"format":"other"}`), 0o644))
		_, err := Open(dir, Options{})
		require.ErrorIs(t, err, ErrNotLog)
	})
	t.Run("newer version", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		require.NoError(t, l.Close())
		p := filepath.Join(dir, headerFile)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.Chmod(p, 0o644))
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), `"version": 1`, `"version": 3`, 1)), 0o644))
		_, err = Open(dir, Options{})
		require.ErrorIs(t, err, ErrUnsupportedVersion)
	})
	t.Run("segment that is not ours", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		_, err := l.Info("x", nil)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1)), []byte("this is not a segment at all, just some text"), 0o644))
		_, err = Open(dir, Options{})
		var te *TamperError
		require.ErrorAs(t, err, &te)
		require.Equal(t, segmentName(1), te.Segment)
		require.ErrorContains(t, err, "not a segment file")
	})
}

func TestInvalidOptions(t *testing.T) {
	cases := map[string]Options{
		"Durability":    {Durability: 7},
		"FlushInterval": {FlushInterval: -time.Second},
		"SegmentSize":   {SegmentSize: 100},
		"SegmentMaxAge": {SegmentMaxAge: -1},
		"MaxEntrySize":  {MaxEntrySize: -1},
	}
	for field, o := range cases {
		_, err := Open(t.TempDir(), o)
		require.ErrorIs(t, err, ErrInvalidOptions, field)
		require.ErrorContains(t, err, field)
	}
}

func TestRotationSealsSegments(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
	for i := 0; i < 200; i++ {
		_, err := l.Info("rotate me", Fields{"i": i, "pad": strings.Repeat("x", 100)})
		require.NoError(t, err)
	}
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 5)
	for i, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, s.Name))
		require.NoError(t, err)
		if i < len(segs)-1 {
			require.Equal(t, os.FileMode(0o444), fi.Mode().Perm(), "sealed %s is read-only", s.Name)
			require.LessOrEqual(t, fi.Size(), int64(MinSegmentSize))
		} else {
			require.NotZero(t, fi.Mode().Perm()&0o200, "active segment is writable")
		}
	}
	cp, err := readCheckpoint(dir, l.logID)
	require.NoError(t, err)
	require.Equal(t, segs[len(segs)-1].FirstSeq, cp.Size, "checkpoint written at the last seal")
	require.NoError(t, l.Close())
	require.Len(t, readAll(t, dir), 200)
}

// TestBufferedStartsWriteback checks that a Buffered logger has the kernel
// start writing each segment behind it, in whole pages, writebackBytes at a
// time, and follows it into the next segment; a Sync logger, which fsyncs
// every write, does not.
func TestBufferedStartsWriteback(t *testing.T) {
	pad := strings.Repeat("x", 60<<10)
	for _, d := range []Durability{DurabilityBuffered, DurabilitySync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			// No timed flush: every write is one that is not fsynced at once.
			l := openT(t, dir, Options{Durability: d, SegmentSize: 3 * writebackBytes, FlushInterval: time.Hour})
			n := 5 * writebackBytes / len(pad)
			if d == DurabilitySync {
				n = (writebackBytes + writebackBytes/2) / len(pad)
			}
			var hinted []*os.File
			for i := 0; i < n; i++ {
				_, err := l.Info("padded", Fields{"i": i, "pad": pad})
				require.NoError(t, err)
				l.wmu.Lock()
				f, at, flen, current := l.wbFile, l.wbAt, l.fLen, l.wbFile == l.f
				l.wmu.Unlock()
				if f != nil && current && (len(hinted) == 0 || hinted[len(hinted)-1] != f) {
					hinted = append(hinted, f)
				}
				require.Zero(t, at%4096, "the hint covers whole pages")
				require.LessOrEqual(t, at, flen)
				if d == DurabilityBuffered && current {
					// It keeps up: less than a hint's worth (and a page) is left.
					require.Less(t, flen-at, int64(writebackBytes+4096))
				}
			}
			if d == DurabilitySync {
				require.Empty(t, hinted, "a Sync logger fsyncs instead")
			} else {
				segs, err := listSegments(dir)
				require.NoError(t, err)
				require.Greater(t, len(segs), 1)
				require.Len(t, hinted, len(segs), "every segment was hinted")
			}
			require.NoError(t, l.Close())
			require.Len(t, readAll(t, dir), n)
		})
	}
}

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := openT(t, dir, Options{SegmentMaxAge: time.Hour, Clock: clock})
	for i := 0; i < 3; i++ {
		_, err := l.Info("first hour", nil)
		require.NoError(t, err)
	}
	advance(2 * time.Hour)
	_, err := l.Info("next hour", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Len(t, segs, 2)
	require.Equal(t, uint64(3), segs[1].FirstSeq)
	_, err = VerifyDir(context.Background(), dir)
	require.NoError(t, err)
}

func TestCompressedSegmentsVerify(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 16 << 10, Compress: true})
	for i := 0; i < 500; i++ {
		_, err := l.Revenue("sale", Fields{"amount": i * 100, "currency": "EUR"})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(context.Background()))
	l.compressor.wait()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 2)
	var plain, gz int64
	for i, s := range segs {
		if i == len(segs)-1 {
			require.False(t, s.Compressed, "the active segment is never compressed")
			continue
		}
		require.True(t, s.Compressed, "%s compressed", s.Name)
		fi, err := os.Stat(filepath.Join(dir, s.Name))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
		gz += fi.Size()
		plain += 16 << 10
	}
	require.Less(t, gz*3, plain, "compression saves most of the space")
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
	require.Len(t, readAll(t, dir), 500)
	l = openT(t, dir, Options{Compress: true})
	_, err = l.Info("after reopen", nil)
	require.NoError(t, err)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
}

func TestLevels(t *testing.T) {
	mine := Levels()
	mine[0] = LevelSystem
	require.Equal(t, LevelInfo, Levels()[0], "Levels returns a fresh slice")
	for _, lv := range Levels() {
		got, err := ParseLevel(strings.ToLower(lv.String()))
		require.NoError(t, err)
		require.Equal(t, lv, got)
		b, err := lv.MarshalText()
		require.NoError(t, err)
		var back Level
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, lv, back)
	}
	w, err := ParseLevel("warning")
	require.NoError(t, err)
	require.Equal(t, LevelWarn, w)
	_, err = ParseLevel("LOUD")
	require.ErrorIs(t, err, ErrInvalidEntry)
	require.Equal(t, "Level(42)", Level(42).String())
}

func TestSyncContextCancelled(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Log(ctx, LevelInfo, "x", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, uint64(0), l.Head().Size, "a call with a dead context writes nothing")
}

// TestHeadWhileWriting takes heads while records are being accepted, so
// that many include records the writer has not taken or not finished yet,
// and checks each against the size, chain value and Merkle root computed
// from the records on disk afterwards. Small segments make the writer fill
// in segment headers' frontiers on the way.
func TestHeadWhileWriting(t *testing.T) {
	for _, d := range []Durability{DurabilitySync, DurabilityBuffered} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{Durability: d, SegmentSize: MinSegmentSize})
			const writers = 4
			per := 300
			if d == DurabilitySync {
				per = 100 // every segment cut costs several fsyncs
			}
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := l.Info("event", Fields{"w": w, "i": i}); !assert.NoError(t, err) {
							return
						}
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			var heads []Head
			for running := true; running; {
				select {
				case <-done:
					running = false
				default:
				}
				if h := l.Head(); len(heads) == 0 || h != heads[len(heads)-1] {
					heads = append(heads, h)
				}
				if len(heads)%16 == 0 {
					// Stats counts every accepted record too, indexed or not.
					st, err := l.Stats(context.Background())
					require.NoError(t, err)
					require.Equal(t, st.Head.Size, st.TotalEntries)
					require.Equal(t, st.Head.Size, st.Levels[LevelInfo])
				}
			}
			heads = append(heads, l.Head())
			require.NoError(t, l.Close())

			frames := storedFrames(t, dir)
			require.Len(t, frames, writers*per)
			id, err := hex.DecodeString(l.LogID())
			require.NoError(t, err)
			chains := []Hash{genesisChain([16]byte(id))}
			var f frontier
			roots := []Hash{f.root()}
			for _, fr := range frames {
				leaf := leafHash(fr.Payload)
				chains = append(chains, chainHash(&chains[len(chains)-1], &leaf))
				f.append(leaf)
				roots = append(roots, f.root())
			}
			var prev uint64
			for _, h := range heads {
				require.GreaterOrEqual(t, h.Size, prev, "Head().Size never goes back")
				prev = h.Size
				require.Equal(t, chains[h.Size], h.Chain, "chain value at size %d", h.Size)
				require.Equal(t, roots[h.Size], h.Root, "Merkle root at size %d", h.Size)
			}
			require.Equal(t, uint64(writers*per), heads[len(heads)-1].Size)
			vh, err := VerifyDir(context.Background(), dir)
			require.NoError(t, err)
			require.Equal(t, heads[len(heads)-1], vh.Head)
		})
	}
}

// TestSyncGroupStragglers: after a group commit of many callers, the
// writer waits for them to log again; when only one does, its records must
// still be written and fsynced (the wait is bounded), and so must a
// concurrent Sync.
func TestSyncGroupStragglers(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	const writers = 16
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Info("group", Fields{"w": w})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	for i := 0; i < 20; i++ {
		rec, err := l.Info("straggler", Fields{"i": i})
		require.NoError(t, err)
		require.Equal(t, uint64(writers+i), rec.Seq)
		require.NoError(t, l.Sync(context.Background()))
	}
	l.mu.Lock()
	durable := l.durable.size
	l.mu.Unlock()
	require.Equal(t, uint64(writers+20), durable, "every acknowledged record is fsynced")
	require.NoError(t, verifyErr(l.Verify(context.Background())))
	require.NoError(t, l.Close())
	require.Len(t, readAll(t, dir), writers+20)
}

// verifyErr is the error of a Verify call, for assertions.
func verifyErr(_ VerifyReport, err error) error { return err }
