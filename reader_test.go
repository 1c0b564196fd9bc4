package treeoflife

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var readT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// stepClock returns a clock that advances by step on every reading.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start.Add(-step)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

// readTestLevels is the cycle of levels the test logs use.
var readTestLevels = []Level{LevelInfo, LevelInfo, LevelWarn, LevelError, LevelRevenue, LevelAudit, LevelInfo, LevelSecurity}

// testRecord is what a test log holds at one seq, to compute expectations.
type testRecord struct {
	Record
	Message string
	Fields  Fields
}

func testFields(i int) Fields {
	return Fields{
		"i":        i,
		"amount":   (i * 37) % 1000,
		"currency": []string{"USD", "EUR", "GBP"}[i%3],
		"customer": map[string]any{"country": []string{"DE", "FR", "US", "JP"}[i%4], "tier": []string{"gold", "silver"}[i%2]},
		"tags":     []string{fmt.Sprintf("t%d", i%5), "all"},
	}
}

// writeTestLog logs n entries, one second apart from readT0, with levels in
// the readTestLevels cycle, and waits until they are written (and
// compressed, with Compress).
func writeTestLog(t testing.TB, l *ImmutableLogger, from, n int) []testRecord {
	t.Helper()
	out := make([]testRecord, 0, n)
	for i := from; i < from+n; i++ {
		msg := fmt.Sprintf("event %d", i)
		if i%10 == 0 {
			msg = fmt.Sprintf("Payment %d received", i)
		}
		f := testFields(i)
		rec, err := l.Log(context.Background(), readTestLevels[i%len(readTestLevels)], msg, f)
		require.NoError(t, err)
		require.Equal(t, uint64(i), rec.Seq)
		out = append(out, testRecord{Record: rec, Message: msg, Fields: f})
	}
	require.NoError(t, l.Sync(context.Background()))
	if l.opts.Compress {
		l.compressor.wait()
	}
	return out
}

// openTestLog opens a log that rotates every 16 KiB and compresses sealed
// segments, and writes n entries.
func openTestLog(t testing.TB, n int) (*ImmutableLogger, []testRecord) {
	t.Helper()
	l, err := Open(t.TempDir(), Options{SegmentSize: 16 << 10, Compress: true, Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, writeTestLog(t, l, 0, n)
}

// model selects from recs what f selects (Levels, Since, Until, FromSeq,
// ToSeq, and a predicate for the rest), in Entries order and limit.
func model(recs []testRecord, f Filter, pred func(r *testRecord) bool) []uint64 {
	var out []uint64
	for i := range recs {
		r := &recs[i]
		if len(f.Levels) > 0 && !slices.Contains(f.Levels, r.Level) ||
			!f.Since.IsZero() && r.Time.Before(f.Since) ||
			!f.Until.IsZero() && !r.Time.Before(f.Until) ||
			r.Seq < f.FromSeq || f.ToSeq != 0 && r.Seq >= f.ToSeq ||
			pred != nil && !pred(r) {
			continue
		}
		out = append(out, r.Seq)
	}
	if f.Reverse {
		slices.Reverse(out)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// modelRead is model with Read's choice: the newest Limit, oldest first.
func modelRead(recs []testRecord, f Filter, pred func(r *testRecord) bool) []uint64 {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultReadLimit
	}
	f.Limit, f.Reverse = 0, false
	all := model(recs, f, pred)
	return all[len(all)-min(limit, len(all)):]
}

func seqs(es []Entry) []uint64 {
	if len(es) == 0 {
		return nil
	}
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func collectT(t testing.TB, seq func(func(Entry, error) bool)) []Entry {
	t.Helper()
	var out []Entry
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// requireEntry checks every field of an entry against what was logged.
func requireEntry(t testing.TB, recs []testRecord, genesis Hash, e Entry) {
	t.Helper()
	r := recs[e.Seq]
	require.Equal(t, r.Seq, e.Seq)
	require.Equal(t, r.ID, e.ID)
	require.True(t, r.Time.Equal(e.Time), "time %v, want %v", e.Time, r.Time)
	require.Equal(t, r.Level, e.Level)
	require.Equal(t, r.Message, e.Message)
	require.Equal(t, r.Hash, e.Hash)
	if e.Seq == 0 {
		require.Equal(t, genesis, e.PrevHash)
	} else {
		require.Equal(t, recs[e.Seq-1].Hash, e.PrevHash)
	}
	host, _ := os.Hostname()
	require.Equal(t, host, e.Hostname)
	require.Equal(t, os.Getpid(), e.PID)
	// The metadata decodes as encoding/json would decode what was logged.
	b, err := json.Marshal(r.Fields)
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, e.Metadata)
}

func TestReadNewestReturnedOldestFirst(t *testing.T) {
	l, recs := openTestLog(t, 1000)
	ctx := context.Background()
	segs, err := listSegments(l.dir)
	require.NoError(t, err)
	require.Greater(t, len(segs), 5)
	require.True(t, segs[0].Compressed, "reads cross compressed segments")

	tests := []struct {
		name string
		f    Filter
	}{
		{"default limit", Filter{}},
		{"limit 10", Filter{Limit: 10}},
		{"limit beyond size", Filter{Limit: 5000}},
		{"reverse", Filter{Limit: 10, Reverse: true}},
		{"level", Filter{Levels: []Level{LevelError}, Limit: 5}},
		{"two levels", Filter{Levels: []Level{LevelSecurity, LevelRevenue}, Limit: 300}},
		{"level absent", Filter{Levels: []Level{LevelCritical}}},
		{"since inclusive until exclusive", Filter{Since: readT0.Add(100 * time.Second), Until: readT0.Add(200 * time.Second), Limit: 1000}},
		{"since only", Filter{Since: readT0.Add(950 * time.Second), Limit: 1000}},
		{"until only", Filter{Until: readT0.Add(3 * time.Second)}},
		{"since equals until", Filter{Since: readT0.Add(5 * time.Second), Until: readT0.Add(5 * time.Second)}},
		{"time range in the middle, limited", Filter{Since: readT0.Add(300 * time.Second), Until: readT0.Add(700 * time.Second), Limit: 20}},
		{"seq range", Filter{FromSeq: 10, ToSeq: 20}},
		{"from seq", Filter{FromSeq: 995}},
		{"to seq", Filter{ToSeq: 3}},
		{"everything", Filter{Levels: []Level{LevelInfo}, Since: readT0.Add(10 * time.Second), Until: readT0.Add(900 * time.Second), FromSeq: 5, ToSeq: 800, Limit: 7}},
		{"reverse range", Filter{FromSeq: 100, ToSeq: 400, Levels: []Level{LevelWarn}, Limit: 3, Reverse: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(ctx, tt.f)
			require.NoError(t, err)
			want := modelRead(recs, tt.f, nil)
			if tt.f.Reverse {
				slices.Reverse(want)
			}
			require.Equal(t, want, seqs(got))
			for _, e := range got {
				requireEntry(t, recs, genesisChain(l.logID), e)
			}
		})
	}
}

func TestEntriesMatchModel(t *testing.T) {
	l, recs := openTestLog(t, 1200)
	ctx := context.Background()
	at := func(s int) time.Time { return readT0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		f    Filter
		pred func(r *testRecord) bool
	}{
		{"all", Filter{}, nil},
		{"limit", Filter{Limit: 17}, nil},
		{"levels", Filter{Levels: []Level{LevelAudit, LevelWarn}}, nil},
		{"time", Filter{Since: at(250), Until: at(1000)}, nil},
		{"seq", Filter{FromSeq: 255, ToSeq: 513}, nil},
		{"block edges", Filter{FromSeq: 256, ToSeq: 512}, nil},
		{"empty seq range", Filter{FromSeq: 40, ToSeq: 40}, nil},
		{"beyond the end", Filter{FromSeq: 5000}, nil},
		{"query level and amount", Filter{Query: Query{"level": "REVENUE", "metadata.amount": Query{"$gte": 500}}},
			func(r *testRecord) bool { return r.Level == LevelRevenue && r.Fields["amount"].(int) >= 500 }},
		{"query nested $in", Filter{Query: Query{"metadata.customer.country": Query{"$in": []string{"DE", "JP"}}}},
			func(r *testRecord) bool { return r.Fields["i"].(int)%4 == 0 || r.Fields["i"].(int)%4 == 3 }},
		{"query time range", Filter{Query: Query{"timestamp": Query{"$gte": "2026-03-01T00:05:00Z", "$lt": "2026-03-01T00:06:00Z"}}},
			func(r *testRecord) bool { return !r.Time.Before(at(300)) && r.Time.Before(at(360)) }},
		{"query seq", Filter{Query: Query{"seq": Query{"$gt": 1000}}}, func(r *testRecord) bool { return r.Seq > 1000 }},
		{"query $or", Filter{Query: Query{"$or": []Query{{"level": "SECURITY"}, {"metadata.tags": "t3"}}}},
			func(r *testRecord) bool { return r.Level == LevelSecurity || r.Fields["i"].(int)%5 == 3 }},
		{"query and filter", Filter{Levels: []Level{LevelInfo}, Since: at(100), Query: Query{"metadata.currency": "EUR"}, Limit: 25},
			func(r *testRecord) bool { return r.Fields["currency"] == "EUR" }},
		{"query excludes everything", Filter{Query: Query{"level": "CRITICAL"}}, func(r *testRecord) bool { return false }},
		{"search", Filter{Search: "payment"}, func(r *testRecord) bool { return r.Seq%10 == 0 }},
		{"search and level", Filter{Search: "PAYMENT", Levels: []Level{LevelInfo}}, func(r *testRecord) bool { return r.Seq%10 == 0 }},
	}
	for _, tt := range tests {
		for _, reverse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/reverse=%v", tt.name, reverse), func(t *testing.T) {
				f := tt.f
				f.Reverse = reverse
				want := model(recs, f, tt.pred)
				got := collectT(t, l.Entries(ctx, f))
				require.Equal(t, want, seqs(got))
				if want == nil {
					return
				}
				requireEntry(t, recs, genesisChain(l.logID), got[0])
				requireEntry(t, recs, genesisChain(l.logID), got[len(got)-1])
			})
		}
	}

	// Query and Search are Entries with a query or a search.
	got, err := l.Query(ctx, Query{"level": "error", "metadata.tier": nil}, Filter{})
	require.NoError(t, err)
	require.Equal(t, model(recs, Filter{Levels: []Level{LevelError}}, nil), seqs(got))
	q, err := ParseQuery(`{"level":"REVENUE","metadata.amount":{"$gte":900}}`)
	require.NoError(t, err)
	got, err = l.Query(ctx, q, Filter{})
	require.NoError(t, err)
	require.Equal(t, model(recs, Filter{}, func(r *testRecord) bool { return r.Level == LevelRevenue && r.Fields["amount"].(int) >= 900 }), seqs(got))
	got, err = l.Search(ctx, "Payment 11", Filter{Limit: 3, Reverse: true})
	require.NoError(t, err)
	require.Equal(t, []uint64{1190, 1180, 1170}, seqs(got))

	// Breaking out of the loop stops the iteration.
	n := 0
	for _, err := range l.Entries(ctx, Filter{}) {
		require.NoError(t, err)
		if n++; n == 300 {
			break
		}
	}
	require.Equal(t, 300, n)
}

func TestReadSkipsBlocks(t *testing.T) {
	l, err := Open(t.TempDir(), Options{Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
	require.NoError(t, err)
	defer l.Close()
	writeTestLog(t, l, 0, 2000)
	// A level no record has: every block is skipped by its mask.
	v, _, err := l.view()
	require.NoError(t, err)
	cf, err := compileFilter(Filter{Levels: []Level{LevelCritical}})
	require.NoError(t, err)
	s := newScan(context.Background(), v, nil, cf)
	defer s.close()
	visited := 0
	require.NoError(t, s.blocks(true, func(*segmentIndex, int) (bool, error) { visited++; return true, nil }))
	require.Zero(t, visited)

	cf, err = compileFilter(Filter{Since: readT0.Add(1500 * time.Second), Until: readT0.Add(1600 * time.Second)})
	require.NoError(t, err)
	s2 := newScan(context.Background(), v, nil, cf)
	defer s2.close()
	require.NoError(t, s2.blocks(false, func(*segmentIndex, int) (bool, error) { visited++; return true, nil }))
	require.LessOrEqual(t, visited, 2, "100 seconds of records span at most two blocks")
}

// TestSearch checks Search against a straightforward model: the lower-cased
// needle in the lower-cased text of the level, the message, or one key or
// value of the metadata.
func TestSearch(t *testing.T) {
	l, err := Open(t.TempDir(), Options{SegmentSize: 16 << 10, Compress: true, Durability: DurabilityBuffered})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	type logged struct {
		level Level
		msg   string
		f     Fields
	}
	special := []logged{
		{LevelRevenue, "Payment received", Fields{"amount": 1000, "currency": "USD"}},
		{LevelInfo, "Straße über ÄRGER", Fields{"city": "Köln"}},
		{LevelInfo, "html", Fields{"snippet": "<b>a & b</b>"}},
		{LevelInfo, `say "hi"`, Fields{"path": `C:\Temp\Dir`}},
		{LevelInfo, "two\nlines", Fields{"tab": "a\tb"}},
		{LevelInfo, "kelvin", Fields{"temp": "273\u212a", "dotted": "\u0130stanbul"}},
		{LevelInfo, "keys", Fields{"PAYMENT id": 7, "nested": map[string]any{"deep": []any{"Needle", true, nil, 2.5}}}},
		{LevelInfo, "separators", Fields{"u2028": "a\u2028b", "colon": "k:v", "brace": "{x}"}},
		{LevelError, "metadata word", Fields{"a": 1, "hostname": "not the real one", "message": "nor this"}},
		{LevelInfo, "plain", nil},
	}
	var ids []string
	for i := 0; i < 300; i++ {
		s := special[i%len(special)]
		rec, err := l.Log(ctx, s.level, s.msg, s.f)
		require.NoError(t, err)
		ids = append(ids, rec.ID)
	}
	require.NoError(t, l.Sync(ctx))
	l.compressor.wait()
	host, _ := os.Hostname()

	// The model works on the decoded entries, independently of the raw
	// search: tokens are the level, the message, the metadata keys and
	// values (non-strings as their JSON text).
	all := collectT(t, l.Entries(ctx, Filter{}))
	require.Len(t, all, 300)
	var tokens func(v any) []string
	tokens = func(v any) []string {
		switch x := v.(type) {
		case map[string]any:
			var out []string
			for k, el := range x {
				out = append(out, k)
				out = append(out, tokens(el)...)
			}
			return out
		case []any:
			var out []string
			for _, el := range x {
				out = append(out, tokens(el)...)
			}
			return out
		case string:
			return []string{x}
		}
		b, _ := json.Marshal(v)
		return []string{string(b)}
	}
	modelSearch := func(needle string) []uint64 {
		var out []uint64
		n := strings.ToLower(needle)
		for _, e := range all {
			toks := append([]string{e.Level.String(), e.Message}, tokens(e.Metadata)...)
			for _, tok := range toks {
				if strings.Contains(strings.ToLower(tok), n) {
					out = append(out, e.Seq)
					break
				}
			}
		}
		return out
	}
	count := func(needle string) int {
		got, err := l.Search(ctx, needle, Filter{})
		require.NoError(t, err)
		require.Equal(t, modelSearch(needle), seqs(got), "search %q", needle)
		return len(got)
	}

	// Known answers, to keep the model honest.
	require.Equal(t, 60, count("payment"), "message and a metadata key")
	require.Equal(t, 60, count("PAYMENT"))
	require.Equal(t, 30, count("ärger"), "non-ASCII, case-insensitive")
	require.Equal(t, 30, count("ÜBER"))
	require.Equal(t, 30, count("köln"))
	require.Equal(t, 0, count("STRASSE"), "lower-casing, not full case folding")
	require.Equal(t, 30, count("<b>a & b"), "characters JSON escapes")
	require.Equal(t, 0, count("u003c"), "an escape's letters are not text")
	require.Equal(t, 0, count("u0026"))
	require.Equal(t, 30, count(`"hi"`))
	require.Equal(t, 30, count(`c:\temp\DIR`))
	require.Equal(t, 0, count(`\\temp`))
	require.Equal(t, 30, count("two\nlines"))
	require.Equal(t, 30, count("a\tb"))
	require.Equal(t, 0, count(`\n`), "the escape, not the newline")
	require.Equal(t, 30, count("273k"), "KELVIN SIGN lower-cases to k")
	require.Equal(t, 30, count("istanbul"), "İ lower-cases to i")
	require.Equal(t, 30, count("a\u2028b"))
	require.Equal(t, 30, count("k:v"), "syntax characters inside a value")
	require.Equal(t, 0, count(`"colon":"k`), "no match across key and value")
	require.Equal(t, 30, count("{x}"))
	require.Equal(t, 30, count("1000"), "numbers as their text")
	require.Equal(t, 30, count("true"))
	require.Equal(t, 30, count("null"))
	require.Equal(t, 30, count("2.5"))
	require.Equal(t, 30, count("needle"), "nested values")
	require.Equal(t, 30, count("revenue"), "the level")
	require.Equal(t, 30, count("metadata"), "the word in a message, not the key")
	require.Equal(t, 30, count("hostname"), "a metadata key, not the entry's own")
	require.Equal(t, 0, count("timestamp"))
	require.Equal(t, 0, count(ids[5]), "ids are not searched")
	require.Equal(t, 0, count("seq"))
	require.Equal(t, 300, count("i"))
	if host != "" && len(modelSearch(host)) == 0 {
		require.Equal(t, 0, count(host), "the hostname is not searched")
	}

	// Any piece of any stored entry, in any case, finds what the model finds.
	rng := rand.New(rand.NewPCG(1, 2))
	raw := readAllPayloads(t, l.dir)
	for i := 0; i < 150; i++ {
		p := []rune(string(raw[rng.IntN(len(raw))]))
		a := rng.IntN(len(p))
		b := min(len(p), a+1+rng.IntN(12))
		needle := []rune(string(p[a:b]))
		for j := range needle {
			if rng.IntN(2) == 0 {
				needle[j] = []rune(strings.ToUpper(string(needle[j])))[0]
			}
		}
		count(string(needle))
	}
}

func readAllPayloads(t testing.TB, dir string) [][]byte {
	t.Helper()
	segs, err := listSegments(dir)
	require.NoError(t, err)
	var out [][]byte
	for _, sf := range segs {
		sr, err := openSegment(dir, sf, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			out = append(out, slices.Clone(fr.Payload))
		}
		sr.Close()
	}
	return out
}

func TestReadErrors(t *testing.T) {
	l, _ := openTestLog(t, 10)
	ctx := context.Background()
	r, err := OpenReader(l.dir)
	require.NoError(t, err)
	defer r.Close()
	bad := map[string]Filter{
		"negative limit":    {Limit: -1},
		"since after until": {Since: readT0.Add(time.Second), Until: readT0},
		"from after to":     {FromSeq: 10, ToSeq: 5},
		"unknown level":     {Levels: []Level{Level(9)}},
		"bad query":         {Query: Query{"metadata.a": Query{"$gte": true}}},
	}
	for name, f := range bad {
		sentinel := ErrInvalidFilter
		if f.Query != nil {
			sentinel = ErrInvalidQuery
		}
		t.Run(name, func(t *testing.T) {
			_, err := l.Read(ctx, f)
			require.ErrorIs(t, err, sentinel)
			_, err = l.Search(ctx, "x", f)
			require.ErrorIs(t, err, sentinel)
			_, err = collect(l.Entries(ctx, f))
			require.ErrorIs(t, err, sentinel)
			_, err = collect(l.Tail(ctx, f))
			require.ErrorIs(t, err, sentinel)
			_, err = r.Read(ctx, f)
			require.ErrorIs(t, err, sentinel)
			_, err = collect(r.Entries(ctx, f))
			require.ErrorIs(t, err, sentinel)
		})
	}
	_, err = collect(l.Tail(ctx, Filter{Reverse: true}))
	require.ErrorIs(t, err, ErrInvalidFilter)
	_, err = l.Query(ctx, Query{"nope": 1}, Filter{})
	require.ErrorIs(t, err, ErrInvalidQuery)
	_, err = r.Query(ctx, Query{"level": "LOUD"}, Filter{})
	require.ErrorIs(t, err, ErrInvalidQuery)

	// Each error is yielded once and ends the iteration.
	n := 0
	for _, err := range l.Entries(ctx, Filter{Limit: -1}) {
		require.Error(t, err)
		n++
	}
	require.Equal(t, 1, n)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.Read(cctx, Filter{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = collect(l.Entries(cctx, Filter{}))
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, l.Close())
	_, err = l.Read(ctx, Filter{})
	require.ErrorIs(t, err, ErrClosed)
	_, err = collect(l.Entries(ctx, Filter{}))
	require.ErrorIs(t, err, ErrClosed)
	_, err = collect(l.Tail(ctx, Filter{}))
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, r.Close())
	_, err = r.Read(ctx, Filter{})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, r.Close(), ErrClosed)
}

// A damaged record is reported, not skipped or returned.
func TestReadReportsDamage(t *testing.T) {
	damage := func(t *testing.T, dir string, recs []testRecord, seq int) {
		t.Helper()
		segs, err := listSegments(dir)
		require.NoError(t, err)
		for _, sf := range segs {
			p := filepath.Join(dir, sf.Name)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			// Change a letter of the record's message.
			if i := strings.Index(string(b), `"`+recs[seq].Message+`"`); i > 0 {
				b[i+1] = 'X'
				require.NoError(t, os.Chmod(p, 0o644))
				require.NoError(t, os.WriteFile(p, b, 0o644))
				return
			}
		}
		t.Fatalf("record %d not found", seq)
	}
	ctx := context.Background()

	t.Run("sealed segment", func(t *testing.T) {
		dir := t.TempDir()
		l, err := Open(dir, Options{SegmentSize: 16 << 10, Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
		require.NoError(t, err)
		recs := writeTestLog(t, l, 0, 600)
		damage(t, dir, recs, 300)
		r, err := OpenReader(dir)
		require.NoError(t, err)
		defer r.Close()
		for name, read := range map[string]func(Filter) ([]Entry, error){
			"logger": func(f Filter) ([]Entry, error) { return l.Read(ctx, f) },
			"reader": func(f Filter) ([]Entry, error) { return r.Read(ctx, f) },
		} {
			_, err = read(Filter{Limit: 600})
			var te *TamperError
			require.ErrorAs(t, err, &te, name)
			require.Equal(t, uint64(300), te.Seq, name)
			require.Contains(t, te.Reason, "checksum", name)
			// A read that does not reach the record does not see it.
			got, err := read(Filter{Limit: 10})
			require.NoError(t, err, name)
			require.Equal(t, uint64(590), got[0].Seq, name)
		}
		_, err = collect(l.Entries(ctx, Filter{}))
		require.ErrorIs(t, err, ErrTampered)
		require.NoError(t, l.Close())
	})

	t.Run("last segment", func(t *testing.T) {
		// The Reader scans the last segment: damage followed by intact
		// records there is damage, not the end of the log.
		dir := t.TempDir()
		l, err := Open(dir, Options{Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
		require.NoError(t, err)
		recs := writeTestLog(t, l, 0, 600)
		require.NoError(t, l.Close())
		damage(t, dir, recs, 300)
		_, err = OpenReader(dir)
		var te *TamperError
		require.ErrorAs(t, err, &te)
		require.Equal(t, uint64(300), te.Seq)
	})
}

// TestTail follows records logged after the Tail started, synchronising on
// the records themselves.
func TestTail(t *testing.T) {
	l, recs := openTestLog(t, 600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type got struct {
		e   Entry
		err error
	}
	follow := func(ctx context.Context, f Filter) (<-chan got, <-chan struct{}) {
		ch := make(chan got)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e, err := range l.Tail(ctx, f) {
				ch <- got{e, err}
			}
		}()
		return ch, done
	}
	next := func(ch <-chan got) Entry {
		t.Helper()
		g := <-ch
		require.NoError(t, g.err)
		return g.e
	}

	all, allDone := follow(ctx, Filter{})
	errs, errsDone := follow(ctx, Filter{Levels: []Level{LevelError}, Limit: 3})
	// The existing records first: all of them, or the newest 3 matches.
	for i := 0; i < 600; i++ {
		require.Equal(t, uint64(i), next(all).Seq)
	}
	for _, want := range modelRead(recs, Filter{Levels: []Level{LevelError}, Limit: 3}, nil) {
		require.Equal(t, want, next(errs).Seq)
	}
	// Then each new record, across rotations and compression, as it is
	// written; the filter applies.
	more := writeTestLog(t, l, 600, 400)
	recs = append(recs, more...)
	for i := 600; i < 1000; i++ {
		e := next(all)
		require.Equal(t, uint64(i), e.Seq)
		requireEntry(t, recs, genesisChain(l.logID), e)
	}
	for _, want := range model(recs, Filter{Levels: []Level{LevelError}, FromSeq: 600}, nil) {
		require.Equal(t, want, next(errs).Seq)
	}
	// Ending the context ends the iteration quietly.
	cancel()
	<-allDone
	<-errsDone

	// A Tail from the current head sees only new records, and Close ends it
	// after every record written before the Close.
	head := l.Head().Size
	news, newsDone := follow(context.Background(), Filter{FromSeq: head})
	for i := 0; i < 50; i++ {
		_, err := l.Info("last words", Fields{"i": i})
		require.NoError(t, err)
		if i == 0 {
			// The Tail is running once it has yielded a record.
			require.Equal(t, head, next(news).Seq)
		}
	}
	require.NoError(t, l.Close())
	for i := 1; i < 50; i++ {
		e := next(news)
		require.Equal(t, head+uint64(i), e.Seq)
		require.Equal(t, "last words", e.Message)
	}
	<-newsDone

	// ToSeq ends a Tail.
	l2, _ := openTestLog(t, 20)
	n := 0
	for e, err := range l2.Tail(context.Background(), Filter{FromSeq: 5, ToSeq: 15}) {
		require.NoError(t, err)
		require.Equal(t, uint64(5+n), e.Seq)
		n++
	}
	require.Equal(t, 10, n)
}

// TestTailConcurrentWriters follows 8 writers: every record arrives once,
// in seq order.
func TestTailConcurrentWriters(t *testing.T) {
	l, err := Open(t.TempDir(), Options{SegmentSize: 16 << 10, Durability: DurabilityBuffered})
	require.NoError(t, err)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const writers, each = 8, 150
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := l.Audit("tick", Fields{"w": w, "i": i})
				require.NoError(t, err)
			}
		}()
	}
	want := uint64(0)
	for e, err := range l.Tail(ctx, Filter{}) {
		require.NoError(t, err)
		require.Equal(t, want, e.Seq)
		if want++; want == writers*each {
			break
		}
	}
	wg.Wait()
}

func TestOpenReaderLiveLog(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 16 << 10, Compress: true, Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	recs := writeTestLog(t, l, 0, 300)

	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	want, err := l.Read(ctx, Filter{Limit: 50, Levels: []Level{LevelInfo, LevelError}})
	require.NoError(t, err)
	got, err := r.Read(ctx, Filter{Limit: 50, Levels: []Level{LevelInfo, LevelError}})
	require.NoError(t, err)
	require.Equal(t, want, got)

	// The Reader catches up on each call: new records, new and compressed
	// segments.
	recs = append(recs, writeTestLog(t, l, 300, 700)...)
	es := collectT(t, r.Entries(ctx, Filter{}))
	require.Len(t, es, 1000)
	for _, e := range es {
		requireEntry(t, recs, genesisChain(l.logID), e)
	}
	st, err := r.Stats(ctx)
	require.NoError(t, err)
	lst, err := l.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, lst.Head, st.Head)
	st.Bytes, lst.Bytes = 0, 0
	require.Equal(t, lst, st)
	head, err := r.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, l.Head(), head.Head)
	for _, q := range []Query{{"metadata.amount": Query{"$lt": 100}}, {"level": "SECURITY", "seq": Query{"$gte": 500}}} {
		a, err := l.Query(ctx, q, Filter{})
		require.NoError(t, err)
		b, err := r.Query(ctx, q, Filter{})
		require.NoError(t, err)
		require.Equal(t, a, b)
	}
	a, err := l.Search(ctx, "payment 9", Filter{Reverse: true})
	require.NoError(t, err)
	b, err := r.Search(ctx, "payment 9", Filter{Reverse: true})
	require.NoError(t, err)
	require.Equal(t, a, b)

	// While a writer logs, every read sees a consistent prefix of the log.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			_, err := l.Info("concurrent", Fields{"i": i})
			require.NoError(t, err)
		}
	}()
	var last uint64
	for i := 0; i < 10; i++ {
		es, err := r.Read(ctx, Filter{Limit: 300})
		require.NoError(t, err)
		for j := 1; j < len(es); j++ {
			require.Equal(t, es[j-1].Seq+1, es[j].Seq)
			require.Equal(t, es[j-1].Hash, es[j].PrevHash)
		}
		tail := es[len(es)-1].Seq
		require.GreaterOrEqual(t, tail, last)
		last = tail
		_, err = r.Verify(ctx)
		require.NoError(t, err, "a record being written is not damage")
	}
	wg.Wait()
	require.NoError(t, l.Sync(ctx))
	st, err = r.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, l.Head(), st.Head)
}

func TestOpenReaderCopy(t *testing.T) {
	l, recs := openTestLog(t, 800)
	require.NoError(t, l.Close())
	dir := t.TempDir()
	copyDir(t, l.dir, dir)
	segs, err := listSegments(dir)
	require.NoError(t, err)
	// Without two of its index files, and with a damaged one, the log is
	// still read: the indexes are built in memory.
	require.NoError(t, os.Remove(filepath.Join(dir, indexName(segs[0].FirstSeq))))
	require.NoError(t, os.Remove(filepath.Join(dir, indexName(segs[2].FirstSeq))))
	require.NoError(t, os.WriteFile(filepath.Join(dir, indexName(segs[1].FirstSeq)), []byte("TOLIDX01 nonsense"), 0o444))
	// A copy taken while the log was written, before its first seal and
	// before Close: CHECKPOINT still records the empty log.
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), formatCheckpoint(l.logID, Head{Chain: genesisChain(l.logID)}), 0o644))
	before := dirState(t, dir)

	r, err := OpenReader(dir)
	require.NoError(t, err)
	ctx := context.Background()
	es := collectT(t, r.Entries(ctx, Filter{}))
	require.Equal(t, model(recs, Filter{}, nil), seqs(es))
	got, err := r.Read(ctx, Filter{Levels: []Level{LevelSecurity}, Since: readT0.Add(100 * time.Second), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, modelRead(recs, Filter{Levels: []Level{LevelSecurity}, Since: readT0.Add(100 * time.Second), Limit: 10}, nil), seqs(got))
	head, err := r.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(800), head.Head.Size)
	st, err := r.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(800), st.TotalEntries)
	require.Equal(t, head.Head, st.Head)
	require.NoError(t, r.Close())
	require.Equal(t, before, dirState(t, dir), "the Reader wrote nothing")

	// A torn last frame, as a writer mid-write or a crash leaves it, ends
	// the log for the Reader; Verify passes up to it.
	last := filepath.Join(dir, segs[len(segs)-1].Name)
	b, err := os.ReadFile(last)
	require.NoError(t, err)
	_, frames := segmentFramesOf(t, dir, segs[len(segs)-1])
	require.NoError(t, os.WriteFile(last, b[:frames[len(frames)-1]+30], 0o644))
	r, err = OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	es, err = r.Read(ctx, Filter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, uint64(798), es[0].Seq)
	head, err = r.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(799), head.Head.Size)
	// The rest of the frame arrives.
	require.NoError(t, os.WriteFile(last, b, 0o644))
	es, err = r.Read(ctx, Filter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, uint64(799), es[0].Seq)

	_, err = OpenReader(t.TempDir())
	require.ErrorIs(t, err, ErrNotLog)
}

// segmentFramesOf returns the header size and the offsets of the frames of
// a plain segment.
func segmentFramesOf(t testing.TB, dir string, sf segmentFile) (int64, []int64) {
	t.Helper()
	sr, err := openSegment(dir, sf, -1)
	require.NoError(t, err)
	defer sr.Close()
	var offs []int64
	for {
		fr, err := sr.Next()
		if err == io.EOF {
			return sr.Header.size(), offs
		}
		require.NoError(t, err)
		offs = append(offs, fr.Offset)
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	des, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, de.Name()), b, 0o644))
	}
}

// dirState is every file's name, size, mode and modification time.
func dirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, de := range des {
		fi, err := de.Info()
		require.NoError(t, err)
		out[de.Name()] = fmt.Sprint(fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
	}
	return out
}

func TestEntryJSON(t *testing.T) {
	e := *sampleEntry(t)
	e.Hash, e.PrevHash = Hash{0xaa, 1}, Hash{0xbb, 2}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var back Entry
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, e.Time.Equal(back.Time))
	require.Equal(t, e.Level, back.Level)
	require.Equal(t, e.Hash, back.Hash)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"seq", "id", "timestamp", "level", "message", "metadata", "hostname", "pid", "hash", "prevHash"} {
		require.Contains(t, m, k)
	}
	require.Equal(t, "REVENUE", m["level"])
}

func TestDecoderRejectsMalformedEntries(t *testing.T) {
	var d entryDecoder
	var e Entry
	for _, p := range []string{
		``, `{`, `{"seq":1}`, `{"seq":0,}`, `{"seq":0} x`, `{"seq":0,"level":"LOUD"}`, `{"seq":0,"metadata":[1]}`,
		`{"seq":0,"timestamp":"yesterday"}`, `{"seq":0,"metadata":{"a":01}}`, `{"seq":0,"metadata":{"a":1.}}`,
		`{"seq":0,"metadata":{"a":tru}}`, `{"seq":0,"metadata":{"a" 1}}`, `{"id":"x"}`,
		`{"seq":0,"metadata":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		require.Error(t, d.decode([]byte(p), 0, "", &e), "%s", p)
	}
	// Unknown keys, whitespace and key order are accepted.
	require.NoError(t, d.decode([]byte(` { "seq" : 0 , "future" : {"x":[1,2]}, "message":"m\u00e9\ud83d\ude00", "level":"info" } `), 0, "", &e))
	require.Equal(t, "mé😀", e.Message)
	require.Equal(t, LevelInfo, e.Level)
	require.NotNil(t, e.Metadata)
}

func TestSearchFallsBackWithoutLayout(t *testing.T) {
	// A payload with the keys in another order has no fast layout; it is
	// searched decoded.
	p := []byte(`{"level":"INFO","message":"Hello","metadata":{"k":"Wörld"},"seq":0,"id":"x","timestamp":"2026-03-01T00:00:00Z","hostname":"h","pid":1,"tenantId":null}`)
	_, ok := entryRegions(p)
	require.False(t, ok)
	var d entryDecoder
	var e Entry
	require.NoError(t, d.decode(p, 0, "", &e))
	st := &scanState{}
	for needle, want := range map[string]bool{"hello": true, "WÖRLD": true, "k": true, "info": true, "h": true, "x": false, "2026": false} {
		s := newSearcher(needle)
		_, known := s.matchRaw(p, nil, st)
		require.False(t, known)
		require.Equal(t, want, s.matchEntry(&e, st), needle)
	}
}

func TestAsciiLower(t *testing.T) {
	var all []byte
	for i := 0; i < 256; i++ {
		all = append(all, byte(i))
	}
	for n := 0; n <= len(all); n++ {
		got := asciiLower(nil, all[:n])
		for i, c := range all[:n] {
			want := c
			if 'A' <= c && c <= 'Z' {
				want = c + 32
			}
			require.Equal(t, want, got[i], "byte %#x", c)
		}
	}
	require.True(t, errors.Is(fmt.Errorf("x: %w", ErrInvalidFilter), ErrInvalidFilter))
}

func TestQuoteOrBackslash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{'a', '"', '\\', 0x22 ^ 0x80, 0x5c ^ 0x80, 0x21, 0x23, 0x5b, 0x5d, 0xff, 0}
	for i := 0; i < 5000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) > 0 {
				b[j] = 'x'
			}
		}
		want := len(b)
		for j, c := range b {
			if c == '"' || c == '\\' {
				want = j
				break
			}
		}
		require.Equal(t, want, quoteOrBackslash(b), "%q", b)
	}
}

// An encrypted log reads like a plain one with its key; a Reader, which has
// no key, reads none of its entries but still verifies it and counts them.
func TestReadEncryptedLog(t *testing.T) {
	dir := t.TempDir()
	key := []byte(strings.Repeat("k", KeySize))
	l, err := Open(dir, Options{EncryptionKey: key, SegmentSize: 16 << 10, Compress: true, Durability: DurabilityBuffered, Clock: stepClock(readT0, time.Second)})
	require.NoError(t, err)
	defer l.Close()
	recs := writeTestLog(t, l, 0, 600)
	ctx := context.Background()
	genesis := genesisChain(l.logID)

	got, err := l.Read(ctx, Filter{Levels: []Level{LevelError}, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, modelRead(recs, Filter{Levels: []Level{LevelError}, Limit: 10}, nil), seqs(got))
	for _, e := range got {
		requireEntry(t, recs, genesis, e)
	}
	got, err = l.Search(ctx, "PAYMENT", Filter{})
	require.NoError(t, err)
	require.Equal(t, model(recs, Filter{}, func(r *testRecord) bool { return r.Seq%10 == 0 }), seqs(got))
	got, err = l.Query(ctx, Query{"metadata.currency": "EUR", "timestamp": Query{"$gte": readT0.Add(100 * time.Second)}}, Filter{})
	require.NoError(t, err)
	require.Equal(t, model(recs, Filter{Since: readT0.Add(100 * time.Second)}, func(r *testRecord) bool { return r.Fields["currency"] == "EUR" }), seqs(got))
	all := collectT(t, l.Entries(ctx, Filter{Reverse: true}))
	require.Len(t, all, 600)
	requireEntry(t, recs, genesis, all[0])
	requireEntry(t, recs, genesis, all[599])

	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Read(ctx, Filter{})
	require.ErrorIs(t, err, ErrKeyRequired)
	_, err = r.Search(ctx, "payment", Filter{})
	require.ErrorIs(t, err, ErrKeyRequired)
	st, err := r.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(600), st.TotalEntries)
	head, err := r.Verify(ctx)
	require.NoError(t, err)
	require.Equal(t, l.Head(), head.Head)
}
