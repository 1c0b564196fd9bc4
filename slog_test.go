package treeoflife

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slogView turns a stored entry into the map slogtest wants: the metadata at
// the top level, with the level and message under slog's keys.
func slogView(e Entry) map[string]any {
	m := map[string]any{}
	for k, v := range e.Metadata {
		m[k] = v
	}
	m[slog.LevelKey] = e.Level.String()
	m[slog.MessageKey] = e.Message
	return m
}

func readEntries(t *testing.T, l *ImmutableLogger) []Entry {
	t.Helper()
	require.NoError(t, l.Sync(context.Background())) // Read sees what is written
	es, err := l.Read(context.Background(), Filter{Limit: 1000})
	require.NoError(t, err)
	return es
}

// TestSlogtest runs testing/slogtest on the entries as stored: with KeepTime,
// slog's time is in the metadata as "time", and every case applies.
func TestSlogtest(t *testing.T) {
	var l *ImmutableLogger
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		l = openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
		t.Cleanup(func() { l.Close() })
		return NewSlogHandler(l, &SlogOptions{KeepTime: true, OnError: func(err error) { t.Error(err) }})
	}, func(t *testing.T) map[string]any {
		es := readEntries(t, l)
		require.Len(t, es, 1)
		return slogView(es[0])
	})
}

// TestSlogtestWithoutKeepTime: by default slog's time is not stored; the
// results map shows the entry's own timestamp as the time. That fails only
// the zero-time case (a record with no time still gets the log's
// timestamp), which the test expects.
func TestSlogtestWithoutKeepTime(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	h := NewSlogHandler(l, nil)
	err := slogtest.TestHandler(h, func() []map[string]any {
		var ms []map[string]any
		for _, e := range readEntries(t, l) {
			_, ok := e.Metadata[slog.TimeKey]
			assert.False(t, ok, "slog's time is stored without KeepTime")
			m := slogView(e)
			m[slog.TimeKey] = e.Time
			ms = append(ms, m)
		}
		return ms
	})
	require.Error(t, err)
	for _, line := range strings.Split(err.Error(), "\n") {
		assert.Contains(t, line, "a Handler should ignore a zero Record.Time")
	}
	assert.Zero(t, h.Failures())
}

func TestSlogLevels(t *testing.T) {
	for lv, want := range map[slog.Level]Level{
		slog.LevelDebug - 4: LevelInfo,
		slog.LevelDebug:     LevelInfo,
		slog.LevelInfo:      LevelInfo,
		slog.LevelInfo + 1:  LevelInfo,
		slog.LevelWarn:      LevelWarn,
		slog.LevelWarn + 3:  LevelWarn,
		slog.LevelError:     LevelError,
		slog.LevelError + 3: LevelError,
		SlogCritical:        LevelCritical,
		SlogAudit:           LevelAudit,
		SlogSecurity:        LevelSecurity,
		SlogRevenue:         LevelRevenue,
		SlogSystem:          LevelSystem,
		SlogSystem + 1:      LevelCritical,
		100:                 LevelCritical,
	} {
		assert.Equal(t, want, SlogLevel(lv), "slog level %v", lv)
	}
	levels := []slog.Level{SlogCritical, SlogAudit, SlogSecurity, SlogRevenue, SlogSystem}
	for i, a := range levels {
		assert.Greater(t, a, slog.LevelError)
		for _, b := range levels[i+1:] {
			assert.NotEqual(t, a, b)
		}
	}

	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	lg := slog.New(NewSlogHandler(l, &SlogOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	lg.Info("not stored")
	lg.Debug("not stored")
	lg.Warn("warn")
	lg.Error("error")
	lg.Log(ctx, SlogAudit, "audit")
	lg.Log(ctx, SlogRevenue, "revenue")
	lg.Log(ctx, SlogSecurity, "security")
	lg.Log(ctx, SlogSystem, "system")
	lg.Log(ctx, SlogCritical, "critical")
	var got []string
	for _, e := range readEntries(t, l) {
		got = append(got, e.Level.String()+" "+e.Message)
	}
	assert.Equal(t, []string{"WARN warn", "ERROR error", "AUDIT audit", "REVENUE revenue",
		"SECURITY security", "SYSTEM system", "CRITICAL critical"}, got)
	assert.False(t, lg.Enabled(ctx, slog.LevelInfo))
	assert.True(t, slog.New(NewSlogHandler(l, nil)).Enabled(ctx, slog.LevelInfo))
	assert.False(t, slog.New(NewSlogHandler(l, nil)).Enabled(ctx, slog.LevelDebug))
}

// TestSlogNesting checks the stored metadata byte for byte: groups nest,
// keys are sorted at every level, the last of equal keys wins, empty
// groups and attributes are left out, values are encoded as Fields are.
func TestSlogNesting(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	h := NewSlogHandler(l, nil)
	lg := slog.New(h).With("z", 1, "a", "first").WithGroup("req").With("id", "r1", slog.Group("empty"))
	lg.Info("one", "a", "second", slog.Group("user", "name", "ann", slog.Group("", "inline", true)),
		"d", 1500*time.Millisecond, "err", errors.New("boom"), "f", 2.5, "u", uint64(7),
		slog.Attr{}, slog.Group("none"), "id", "r2")
	lg.Info("two")
	slog.New(h).WithGroup("g").WithGroup("h").Info("three")
	slog.New(h).With("a", 1).Info("four", "a", 2)
	slog.New(h).With("a", 1).With("a", 2).Info("five")

	wants := []string{
		`{"a":"first","req":{"a":"second","d":"1.5s","err":"boom","f":2.5,"id":"r2","u":7,"user":{"inline":true,"name":"ann"}},"z":1}`,
		`{"a":"first","req":{"id":"r1"},"z":1}`,
		`{}`,
		`{"a":2}`,
		`{"a":2}`,
	}
	raw := rawMetadata(t, l)
	require.Len(t, raw, len(wants))
	for i, want := range wants {
		assert.Equal(t, want, raw[i], "record %d", i)
	}
	assert.Zero(t, h.Failures())
}

// rawMetadata returns the stored metadata object of every record, as bytes.
func rawMetadata(t *testing.T, l *ImmutableLogger) []string {
	t.Helper()
	require.NoError(t, l.Sync(context.Background()))
	var out []string
	segs, err := listSegments(l.Dir())
	require.NoError(t, err)
	for _, sf := range segs {
		sr, err := openSegment(l.Dir(), sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
			s := string(fr.Payload)
			i := strings.Index(s, `"metadata":`) + len(`"metadata":`)
			j := strings.LastIndex(s, `,"hostname":`)
			out = append(out, s[i:j])
		}
		require.NoError(t, sr.Close())
	}
	return out
}

// TestSlogWithAttrsEncodedOnce: WithAttrs resolves and encodes its
// attributes when called; later records reuse the bytes, and derived
// handlers do not disturb each other's.
func TestSlogWithAttrsEncodedOnce(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	calls := 0
	v := valuer(func() slog.Value { calls++; return slog.StringValue(fmt.Sprint("v", calls)) })
	base := slog.New(NewSlogHandler(l, nil)).With("k", v)
	a := base.With("x", "a")
	b := base.WithGroup("g").With("x", "b")
	for range 3 {
		a.Info("a")
		b.Info("b", "y", 1)
		base.Info("base")
	}
	assert.Equal(t, 1, calls, "the LogValuer resolved once, by With")
	raw := rawMetadata(t, l)
	for i := 0; i < len(raw); i += 3 {
		assert.Equal(t, `{"k":"v1","x":"a"}`, raw[i])
		assert.Equal(t, `{"g":{"x":"b","y":1},"k":"v1"}`, raw[i+1])
		assert.Equal(t, `{"k":"v1"}`, raw[i+2])
	}
}

type valuer func() slog.Value

func (f valuer) LogValue() slog.Value { return f() }

func TestSlogConcurrentHandle(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	h := NewSlogHandler(l, nil)
	lg := slog.New(h).With("svc", "api")
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := lg.WithGroup(fmt.Sprint("w", w))
			for i := range each {
				g.Info("hit", "i", i, slog.Group("nested", "w", w))
			}
		}()
	}
	wg.Wait()
	require.Zero(t, h.Failures())
	require.NoError(t, l.Sync(context.Background()))
	es, err := l.Read(context.Background(), Filter{Limit: writers * each})
	require.NoError(t, err)
	require.Len(t, es, writers*each)
	seen := map[string]bool{}
	for _, e := range es {
		require.Equal(t, "api", e.Metadata["svc"])
		require.Len(t, e.Metadata, 2)
		for k, v := range e.Metadata {
			if k == "svc" {
				continue
			}
			g := v.(map[string]any)
			w := strings.TrimPrefix(k, "w")
			require.Equal(t, w, fmt.Sprint(g["nested"].(map[string]any)["w"]))
			seen[fmt.Sprint(k, g["i"])] = true
		}
	}
	require.Len(t, seen, writers*each)
}

func TestSlogErrors(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	var got []error
	h := NewSlogHandler(l, &SlogOptions{OnError: func(err error) { got = append(got, err) }})
	lg := slog.New(h)
	lg.Info("nan", "x", math.NaN())
	require.Len(t, got, 1)
	assert.ErrorIs(t, got[0], ErrInvalidEntry)
	assert.Contains(t, got[0].Error(), ".x")
	bad := lg.With("bad", "\xff")
	bad.Info("bad key value")
	require.Len(t, got, 2)
	assert.ErrorIs(t, got[1], ErrInvalidEntry)
	lg.WithGroup("g").With("k", 1).Info("fine")
	require.Len(t, got, 2)
	require.NoError(t, l.Close())
	lg.Info("after close")
	require.Len(t, got, 3)
	assert.ErrorIs(t, got[2], ErrClosed)
	assert.Equal(t, uint64(3), h.Failures(), "derived handlers count into the same total")
	assert.ErrorIs(t, h.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)), ErrClosed)
	assert.Equal(t, uint64(4), h.Failures())

	// A done context does not stop a slog record.
	l2 := openT(t, t.TempDir(), Options{})
	defer l2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slog.New(NewSlogHandler(l2, nil)).InfoContext(ctx, "kept")
	assert.Equal(t, uint64(1), l2.Head().Size)

	// Groups nested past the metadata depth limit fail, and are counted.
	h3 := NewSlogHandler(l2, nil)
	var deep slog.Handler = h3
	for range maxDepth + 1 {
		deep = deep.WithGroup("g")
	}
	slog.New(deep).Info("deep", "k", 1)
	assert.Equal(t, uint64(1), h3.Failures())
}

func TestWith(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Durability: DurabilityBuffered})
	defer l.Close()
	fields := Fields{"request_id": "r1", "user": Fields{"id": 7}, "b": 1}
	s := l.With(fields)
	fields["request_id"] = "changed" // With copied what it needs
	_, err := s.Info("one", nil)
	require.NoError(t, err)
	_, err = s.Audit("two", Fields{"b": 2, "a": true, "user": "replaced whole"})
	require.NoError(t, err)
	s2 := s.With(Fields{"request_id": "r2", "c": 3})
	_, err = s2.RevenueContext(context.Background(), "three", Fields{"z": 0})
	require.NoError(t, err)
	_, err = s.Log(context.Background(), LevelWarn, "four", Fields{})
	require.NoError(t, err)
	assert.Same(t, l, s2.Logger())

	raw := rawMetadata(t, l)
	assert.Equal(t, []string{
		`{"b":1,"request_id":"r1","user":{"id":7}}`,
		`{"a":true,"b":2,"request_id":"r1","user":"replaced whole"}`,
		`{"b":1,"c":3,"request_id":"r2","user":{"id":7},"z":0}`,
		`{"b":1,"request_id":"r1","user":{"id":7}}`,
	}, raw)
	es := readEntries(t, l)
	assert.Equal(t, LevelAudit, es[1].Level)
	assert.Equal(t, LevelRevenue, es[2].Level)

	// Every level method of a ScopedLogger logs at its level, with the
	// scoped fields.
	methods := map[Level]func(string, Fields) (Record, error){
		LevelInfo: s.Info, LevelWarn: s.Warn, LevelError: s.Error, LevelCritical: s.Critical,
		LevelAudit: s.Audit, LevelSecurity: s.Security, LevelRevenue: s.Revenue, LevelSystem: s.System,
	}
	ctxMethods := map[Level]func(context.Context, string, Fields) (Record, error){
		LevelInfo: s.InfoContext, LevelWarn: s.WarnContext, LevelError: s.ErrorContext, LevelCritical: s.CriticalContext,
		LevelAudit: s.AuditContext, LevelSecurity: s.SecurityContext, LevelRevenue: s.RevenueContext, LevelSystem: s.SystemContext,
	}
	for lv, f := range methods {
		rec, err := f("m", nil)
		require.NoError(t, err)
		assert.Equal(t, lv, rec.Level)
		rec, err = ctxMethods[lv](context.Background(), "m", nil)
		require.NoError(t, err)
		assert.Equal(t, lv, rec.Level)
	}
	for _, e := range readEntries(t, l)[4:] {
		assert.Equal(t, "r1", e.Metadata["request_id"])
	}

	// Fields that cannot be encoded make every call fail, writing nothing.
	size := l.Head().Size
	bad := l.With(Fields{"x": math.Inf(1)})
	_, err = bad.Info("m", nil)
	require.ErrorIs(t, err, ErrInvalidEntry)
	_, err = bad.With(Fields{"y": 1}).Info("m", nil)
	require.ErrorIs(t, err, ErrInvalidEntry)
	_, err = s.With(Fields{"ch": make(chan int)}).Info("m", nil)
	require.ErrorIs(t, err, ErrInvalidEntry)
	_, err = s.Info("m", Fields{"nan": math.NaN()})
	require.ErrorIs(t, err, ErrInvalidEntry)
	assert.Equal(t, size, l.Head().Size)
}

// TestContextMethods: the Context variants log at their level and honour
// a done context.
func TestContextMethods(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	methods := map[Level]func(context.Context, string, Fields) (Record, error){
		LevelInfo: l.InfoContext, LevelWarn: l.WarnContext, LevelError: l.ErrorContext, LevelCritical: l.CriticalContext,
		LevelAudit: l.AuditContext, LevelSecurity: l.SecurityContext, LevelRevenue: l.RevenueContext, LevelSystem: l.SystemContext,
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for lv, f := range methods {
		rec, err := f(context.Background(), "m", nil)
		require.NoError(t, err)
		assert.Equal(t, lv, rec.Level)
		_, err = f(done, "m", nil)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.Equal(t, uint64(len(methods)), l.Head().Size, "a done context writes nothing")
}

// TestContextDoneBeforeSequencing: nothing is written, on either
// durability, and the log takes the next record as if nothing happened.
func TestContextDoneBeforeSequencing(t *testing.T) {
	for _, d := range []Durability{DurabilitySync, DurabilityBuffered} {
		l := openT(t, t.TempDir(), Options{Durability: d})
		ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
		_, err := l.With(Fields{"a": 1}).AuditContext(ctx, "x", nil)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var nw *NotWaitedError
		require.False(t, errors.As(err, &nw))
		rec, err := l.Info("next", nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), rec.Seq)
		require.NoError(t, l.Close())
	}
}

// TestContextNotWaited: a Sync call whose context ends while it waits for
// the fsync returns a *NotWaitedError with the record's Seq, and the
// record is stored. The writer is held off (l.wmu) so that the fsync
// cannot happen before the context ends.
func TestContextNotWaited(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	_, err := l.Info("before", nil)
	require.NoError(t, err)

	l.wmu.Lock() // the writer cannot write, so no fsync completes
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		rec Record
		err error
	}
	res := make(chan result, 1)
	go func() {
		rec, err := l.AuditContext(ctx, "waited for", Fields{"k": "v"})
		res <- result{rec, err}
	}()
	for l.Head().Size < 2 { // sequenced
		runtime.Gosched()
	}
	cancel()
	r := <-res
	l.wmu.Unlock()

	var nw *NotWaitedError
	require.ErrorAs(t, r.err, &nw)
	assert.Equal(t, uint64(1), nw.Seq)
	assert.Equal(t, uint64(1), r.rec.Seq)
	assert.ErrorIs(t, r.err, context.Canceled)
	assert.Contains(t, r.err.Error(), "record 1")

	require.NoError(t, l.Sync(context.Background()))
	es := readEntries(t, l)
	require.Len(t, es, 2, "the record is stored once")
	assert.Equal(t, "waited for", es[1].Message)
	assert.Equal(t, r.rec.ID, es[1].ID)
	require.NoError(t, verifyErr(l.Verify(context.Background())))
}
