package treeoflife

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// varietyFields is metadata of every shape the decoders must agree on:
// nested objects and arrays, escapes and non-ASCII text in keys and values,
// numbers at the edges of what float64 holds exactly, nulls, empties.
func varietyFields(i int) []Fields {
	deep := any("bottom")
	for range 12 {
		deep = map[string]any{"d": []any{deep, i}}
	}
	return []Fields{
		{"amount": 100 + i, "currency": "EUR", "customer_id": "cus_7GH2K9QWERTY12", "order_id": "ord_01HZX3K9QWERTYUIOPASDFGHJK", "captured": i%2 == 0},
		{
			"customer": map[string]any{"id": "cus_1", "tier": "pro", "address": map[string]any{"country": "CH", "city": "Zürich"}},
			"items":    []any{map[string]any{"sku": "sku_A", "qty": 3, "price": 123.45}, map[string]any{"sku": "sku_B", "qty": 1, "price": 9.99}},
		},
		{"ints": []any{0, -1, 1, 1023, 1024, -1024, 1 << 53, 1<<53 + 1, -(1 << 53), -(1 << 53) - 1, math.MaxInt64, math.MinInt64, uint64(math.MaxUint64), 12345678901234567}},
		{"floats": []any{0.5, -0.25, 1e300, 1e-300, 6.02214076e23, 123456789.123, float32(0.1), 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 1e21, 1e20, 100.0}},
		{"big": json.Number("1e400"), "bigint": json.Number("123456789012345678901234567890"), "neg": json.Number("-0"), "exp": json.Number("1E+2")},
		{"text": "quote \" backslash \\ nl \n tab \t nul \x00 del \x7f <html> a & b \u2028 \u2029 🌳 \ufffd", "ключ": "значение", "k\"ey": "v", "<k>": "&", "empty": ""},
		{"null": nil, "true": true, "false": false, "map": map[string]any{}, "list": []any{}, "nested": [][]int{{1, 2}, {}, {3}}},
		{"deep": deep},
		{"long": strings.Repeat("x", 33), "longer": strings.Repeat("é", 40), "short": "x", "u": "\u00e9"},
		{},
	}
}

// logVariety logs varietyFields with a few messages and every level.
func logVariety(t *testing.T, l *ImmutableLogger) {
	t.Helper()
	ctx := context.Background()
	msgs := []string{"order placed", "order placed", "line\u2028break \"quoted\" <b>", "🌳 " + strings.Repeat("long message ", 10)}
	for i := range 3 {
		for k, f := range varietyFields(i) {
			_, err := l.Log(ctx, Levels()[(i+k)%len(Levels())], msgs[(i+k)%len(msgs)], f)
			require.NoError(t, err)
		}
	}
}

// storedPayloads returns the entry JSON and seq of every record of the log
// in dir, decrypted with open when it is not nil.
func storedPayloads(t testing.TB, dir string, open payloadOpener) ([][]byte, []uint64) {
	t.Helper()
	_, id, err := readHeader(dir)
	require.NoError(t, err)
	segs, _, err := listKept(dir, &id)
	require.NoError(t, err)
	var ps [][]byte
	var seqs []uint64
	for _, sf := range segs {
		sr, err := openSegmentAt(dir, sf, 0, 0, -1)
		require.NoError(t, err)
		for {
			fr, err := sr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			p := append([]byte(nil), fr.Payload...)
			if open != nil {
				p, err = open(fr.Seq, fr.Payload, nil)
				require.NoError(t, err)
			}
			ps = append(ps, p)
			seqs = append(seqs, fr.Seq)
		}
		require.NoError(t, sr.Close())
	}
	return ps, seqs
}

// checkBothPaths decodes every payload with decodeFast (one decoder, as a
// scan uses it) and decodeAny (another), requires the fast path to accept
// each (they are as the writer writes them), and the results to be equal.
// It returns decodeAny's entries.
func checkBothPaths(t *testing.T, ps [][]byte, seqs []uint64, tenant string) []Entry {
	t.Helper()
	var fast, slow entryDecoder
	out := make([]Entry, len(ps))
	for i, p := range ps {
		var ef Entry
		require.True(t, fast.decodeFast(p, seqs[i], tenant, &ef), "the fast path refused %s", p)
		require.NoError(t, slow.decodeAny(p, seqs[i], tenant, &out[i]), "%s", p)
		require.Equal(t, out[i], ef, "%s", p)
		var ed Entry
		require.NoError(t, fast.decode(p, seqs[i], tenant, &ed))
		require.Equal(t, out[i], ed, "%s", p)
		checkRaw(t, p, seqs[i], tenant, out[i], nil)
	}
	return out
}

// checkRaw checks that a decoder that skips the metadata (raw, for
// Filter.RawMetadata) decodes p as want, p's entry decoded in full, or
// fails with wantErr: with Metadata nil, and meta the stored metadata
// object, which decodes to want.Metadata.
func checkRaw(t testing.TB, p []byte, seq uint64, tenant string, want Entry, wantErr error) {
	t.Helper()
	d := entryDecoder{raw: true}
	var e Entry
	err := d.decode(p, seq, tenant, &e)
	if wantErr != nil {
		require.EqualError(t, err, wantErr.Error(), "%s", p)
		return
	}
	require.NoError(t, err, "%s", p)
	require.Nil(t, e.Metadata, "%s", p)
	c := jsonCursor{b: d.meta, d: &entryDecoder{}}
	v, err := c.value(0)
	require.NoError(t, err, "%s", d.meta)
	c.ws()
	require.Equal(t, len(d.meta), c.i, "meta is one value: %s", d.meta)
	e.Metadata = v.(map[string]any)
	require.Equal(t, want, e, "%s", p)
}

func TestDecodeFastMatchesAny(t *testing.T) {
	ctx := context.Background()
	t.Run("plain", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{SegmentSize: MinSegmentSize})
		logVariety(t, l)
		require.NoError(t, l.Close())
		ps, seqs := storedPayloads(t, dir, nil)
		require.Len(t, ps, 30)
		es := checkBothPaths(t, ps, seqs, "")
		// What decodeAny gives is what encoding/json gives (big integers
		// as json.Number): the reference is right, not just agreed with.
		for i, p := range ps {
			var std struct {
				Metadata map[string]any `json:"metadata"`
			}
			dec := json.NewDecoder(strings.NewReader(string(p)))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&std))
			assert.Equal(t, len(std.Metadata), len(es[i].Metadata), "%s", p)
		}
		assert.Equal(t, json.Number("123456789012345678901234567890"), es[4].Metadata["bigint"])
		assert.Equal(t, json.Number("9007199254740993"), es[2].Metadata["ints"].([]any)[7])
		assert.Equal(t, float64(-1<<53), es[2].Metadata["ints"].([]any)[8])
		assert.Equal(t, 123.45, es[1].Metadata["items"].([]any)[0].(map[string]any)["price"])
		assert.Equal(t, "Zürich", es[1].Metadata["customer"].(map[string]any)["address"].(map[string]any)["city"])
	})
	t.Run("tenant", func(t *testing.T) {
		l := openT(t, t.TempDir(), Options{Tenant: "acme"})
		logVariety(t, l)
		require.NoError(t, l.Close())
		ps, seqs := storedPayloads(t, l.Dir(), nil)
		es := checkBothPaths(t, ps, seqs, "acme")
		assert.Equal(t, "acme", es[0].Tenant)
		// Read as the log of another tenant, or of none, both refuse it.
		var d entryDecoder
		var e Entry
		for _, tenant := range []string{"", "other"} {
			assert.False(t, d.decodeFast(ps[0], seqs[0], tenant, &e))
			var me *misplacedError
			assert.ErrorAs(t, d.decode(ps[0], seqs[0], tenant, &e), &me)
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{EncryptionKey: testKey(7), SegmentSize: MinSegmentSize})
		logVariety(t, l)
		require.NoError(t, l.Close())
		r, err := OpenReaderWith(dir, ReaderOptions{EncryptionKey: testKey(7)})
		require.NoError(t, err)
		defer r.Close()
		ps, seqs := storedPayloads(t, dir, r.opener())
		want := checkBothPaths(t, ps, seqs, "")
		// The keyed Reader's entries are decodeAny's, with their hashes.
		got, err := collect(r.Entries(ctx, Filter{}))
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range got {
			want[i].Hash, want[i].PrevHash = got[i].Hash, got[i].PrevHash
		}
		assert.Equal(t, want, got)
	})
	t.Run("imported", func(t *testing.T) {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		at := time.Date(2026, 11, 29, 18, 16, 54, 573e6, time.UTC)
		for i, f := range varietyFields(1) {
			ie := ImportedEntry{ID: strings.Repeat("eb14", 8), Time: at, Level: LevelInfo, Message: "plain event", Metadata: f, Hostname: "vm", PID: 21346}
			if i%2 == 0 {
				ie.Legacy = &LegacyRef{Index: uint64(i), Hash: strings.Repeat("d2", 32), PrevHash: "0", Broken: i == 4, Data: `{"id":"x","message":"\"quoted\""}`}
			}
			_, err := l.Import(ctx, ie)
			require.NoError(t, err)
		}
		require.NoError(t, l.Close())
		ps, seqs := storedPayloads(t, dir, nil)
		es := checkBothPaths(t, ps, seqs, "")
		require.NotNil(t, es[4].Legacy)
		assert.True(t, es[4].Legacy.Broken)
		assert.Nil(t, es[1].Legacy)
	})
}

// TestDecodeFastFallsBack feeds valid entries the fast path does not take,
// and invalid ones: decode must give exactly what decodeAny gives, errors
// included.
func TestDecodeFastFallsBack(t *testing.T) {
	const canon = `{"id":"019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61","timestamp":"2026-11-22T09:00:01.500000000Z","level":"REVENUE","message":"Sale completed","metadata":{"amount":1000,"currency":"USD","nested":{"a":[1,{"b":null}]}},"hostname":"api-7","pid":4242,"tenantId":null,"seq":2}`
	var fast entryDecoder
	var e Entry
	require.True(t, fast.decodeFast([]byte(canon), 2, "", &e), "the canonical entry takes the fast path")
	cases := map[string]string{
		"whitespace":       strings.ReplaceAll(canon, `,"`, `, "`),
		"seq first":        `{"seq":2,` + strings.Replace(canon[1:], `,"seq":2`, ``, 1),
		"unknown key":      strings.Replace(canon, `"hostname"`, `"future":[1,2],"hostname"`, 1),
		"escaped key":      strings.Replace(canon, `"pid"`, `"\u0070id"`, 1),
		"lower-case level": strings.Replace(canon, `"REVENUE"`, `"revenue"`, 1),
		"other time":       strings.Replace(canon, `2026-11-22T09:00:01.500000000Z`, `2026-11-22T10:00:01.5+01:00`, 1),
		"bad time":         strings.Replace(canon, `2026-11-22T09:00:01.500000000Z`, `2026-02-30T09:00:01.500000000Z`, 1),
		"wrong seq":        strings.Replace(canon, `"seq":2`, `"seq":3`, 1),
		"no seq":           strings.Replace(canon, `,"seq":2`, ``, 1),
		"tenant":           strings.Replace(canon, `null`, `"acme"`, 1),
		"trailing space":   canon + " ",
		"trailing data":    canon + "{}",
		"metadata null":    strings.Replace(canon, `{"amount":1000,"currency":"USD","nested":{"a":[1,{"b":null}]}}`, `null`, 1),
		"metadata list":    strings.Replace(canon, `{"amount":1000,"currency":"USD","nested":{"a":[1,{"b":null}]}}`, `[1]`, 1),
		"duplicate key":    strings.Replace(canon, `"amount":1000`, `"amount":1000,"amount":"twice"`, 1),
		"legacy null":      strings.Replace(canon, `,"seq"`, `,"legacy":null,"seq"`, 1),
		"bad legacy":       strings.Replace(canon, `,"seq"`, `,"legacy":{"index":-1},"seq"`, 1),
		"bad number":       strings.Replace(canon, `1000`, `01`, 1),
		"bad exponent":     strings.Replace(canon, `1000`, `1e`, 1),
		"huge exponent":    strings.Replace(canon, `1000`, `1e999`, 1),
		"cut":              canon[:len(canon)/2],
		"cut in metadata":  canon[:strings.Index(canon, `"nested"`)],
		"open string":      canon[:strings.Index(canon, `USD`)],
		"bad escape":       strings.Replace(canon, `Sale`, `S\xale \ud800`, 1),
		"pid too long":     strings.Replace(canon, `4242`, `42424242424242424242424`, 1),
		"negative pid":     strings.Replace(canon, `4242`, `-4242`, 1),
		"empty":            ``,
		"too deep":         strings.Replace(canon, `1000`, strings.Repeat(`[`, maxDecodeDepth+2)+strings.Repeat(`]`, maxDecodeDepth+2), 1),
	}
	for name, p := range cases {
		var any, both entryDecoder
		var ea, eb Entry
		errA := any.decodeAny([]byte(p), 2, "", &ea)
		errB := both.decode([]byte(p), 2, "", &eb)
		checkRaw(t, []byte(p), 2, "", ea, errA)
		if errA != nil {
			require.Error(t, errB, name)
			assert.Equal(t, errA.Error(), errB.Error(), name)
			var ma, mb *misplacedError
			assert.Equal(t, errors.As(errA, &ma), errors.As(errB, &mb), name)
			continue
		}
		require.NoError(t, errB, name)
		assert.Equal(t, ea, eb, name)
		// The decoder that saw this one still decodes the canonical entry.
		require.True(t, both.decodeFast([]byte(canon), 2, "", &e), name)
	}
}

func TestDaysIn(t *testing.T) {
	for y := 1678; y <= 2261; y++ {
		for m := 1; m <= 12; m++ {
			require.Equal(t, time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day(), daysIn(m, y), "%d-%02d", y, m)
		}
	}
}

// FuzzDecodeFast decodes arbitrary bytes as a stored entry with both
// paths. Neither may panic; whatever the fast path accepts, decodeAny must
// accept too and decode to the same Entry; and decode (fast path, then
// decodeAny) must fail exactly when decodeAny does.
func FuzzDecodeFast(f *testing.F) {
	dir := f.TempDir()
	l, err := Open(dir, Options{})
	require.NoError(f, err)
	ctx := context.Background()
	for k, fs := range varietyFields(0) {
		_, err := l.Log(ctx, LevelAudit, "fuzz seed", fs)
		require.NoError(f, err)
		_, err = l.Import(ctx, ImportedEntry{ID: "eb140f85", Time: time.Unix(1, 0), Level: LevelInfo, Message: "imported", Metadata: fs,
			Legacy: &LegacyRef{Index: uint64(k), Hash: "d2ae", PrevHash: "0", Data: `{"a":"\"b\""}`}})
		require.NoError(f, err)
	}
	require.NoError(f, l.Close())
	ps, seqs := storedPayloads(f, dir, nil)
	for i, p := range ps {
		f.Add(p, seqs[i], false)
	}
	f.Add([]byte(`{"id":"x","timestamp":"2026-11-22T09:00:01.500000000Z","level":"INFO","message":"m","metadata":{},"hostname":"h","pid":1,"tenantId":"acme","seq":0}`), uint64(0), true)
	f.Add([]byte(`{"seq":0}`), uint64(0), false)
	f.Fuzz(func(t *testing.T, p []byte, seq uint64, withTenant bool) {
		tenant := ""
		if withTenant {
			tenant = "acme"
		}
		var fast, slow, both entryDecoder
		var ef, ea, eb Entry
		ok := fast.decodeFast(p, seq, tenant, &ef)
		errA := slow.decodeAny(p, seq, tenant, &ea)
		if ok {
			require.NoError(t, errA, "the fast path accepted what decodeAny refuses")
			require.Equal(t, ea, ef)
		}
		errB := both.decode(p, seq, tenant, &eb)
		require.Equal(t, errA == nil, errB == nil)
		checkRaw(t, p, seq, tenant, ea, errA)
		if errA == nil {
			require.Equal(t, ea, eb)
		}
	})
}

// TestSkipFastMatchesFastValue: skipFast accepts exactly the values
// fastValue reads, and ends where it does: nesting around the depth limit
// (objects, arrays, empty ones at the bottom), strings with escapes and
// quotes at every offset of an 8-byte word, numbers, literals, and every
// prefix of each (cut short), and each with bytes changed.
func TestSkipFastMatchesFastValue(t *testing.T) {
	var cases []string
	for _, d := range []int{0, 1, 2, maxDecodeDepth - 1, maxDecodeDepth, maxDecodeDepth + 1, maxDecodeDepth + 2} {
		for _, leaf := range []string{"1", `"x"`, "[]", "{}", `{"k":[true,null]}`, "-0.5e+3"} {
			var b, e strings.Builder
			for k := range d {
				if k%2 == 0 {
					b.WriteString(`[0,`)
					e.WriteString(`]`)
				} else {
					b.WriteString(`{"a":1,"b":`)
					e.WriteString(`}`)
				}
			}
			cases = append(cases, b.String()+leaf+reverse(e.String()))
		}
	}
	for k := range 20 {
		pad := strings.Repeat("p", k)
		cases = append(cases, `"`+pad+`"`, `"`+pad+`\""`, `"`+pad+`\\"`, `{"`+pad+`":"`+pad+`\u00e9"}`, `["`+pad+`\`)
	}
	cases = append(cases, `{"a":[1,2,{"b":"c"}],"d":{"e":{}},"f":[[],[{}]],"g":false,"h":null}`, `[1,]`, `{"a"}`, `{"a":}`, `{,}`, `[1 2]`, `tru`, `nul`, `-`, `01`, `1.`, `1e`, `{"a":1}}`, `"\"`)
	check := func(in string) {
		t.Helper()
		b := []byte(in)
		fc := jsonCursor{b: b, d: &entryDecoder{}}
		_, fok := fc.fastValue(0)
		sc := jsonCursor{b: b, d: &entryDecoder{}}
		sok := sc.skipFast(0)
		require.Equal(t, fok, sok, "%q", in)
		if fok {
			require.Equal(t, fc.i, sc.i, "%q", in)
		}
	}
	for _, in := range cases {
		for n := 0; n <= len(in); n++ {
			check(in[:n])
		}
		for i := 0; i < len(in); i += 1 + len(in)/100 {
			for _, ch := range []byte{'"', '\\', '{', '}', ']', ',', 'x'} {
				b := []byte(in)
				b[i] = ch
				check(string(b))
			}
		}
	}
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// TestShortDecimal checks the fast conversion of short decimals against
// strconv.ParseFloat, bit for bit.
func TestShortDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []string{"0.0", "-0.0", "0.1", "0.2", "0.3", "123.45", "9.99", "-1.5", "999999999999999.9", "99999999999999.9", "0.000000000000001", "1.000000000000000", "4503599627370496.5", "9007199254740993.0", "1e5", "1.5e3", "1.", ".5", "-", "1.2.3"}
	for range 20000 {
		digits := 1 + r.IntN(17)
		b := []byte(strconv.FormatUint(r.Uint64N(1e17), 10))
		if len(b) > digits {
			b = b[:digits]
		}
		p := r.IntN(len(b))
		s := string(b[:p+1]) + "." + string(b[p+1:])
		if p+1 == len(b) {
			s += "0"
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	taken := 0
	for _, s := range cases {
		got, ok := shortDecimal([]byte(s))
		if !ok {
			continue
		}
		taken++
		want, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, s)
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), s)
	}
	require.Greater(t, taken, 10000, "most short decimals take the fast path")
	for _, s := range []string{"1e5", "1.5e3", "1.", ".5", "-", "1.2.3", "9999999999999999.9", "12", "-7"} {
		_, ok := shortDecimal([]byte(s))
		require.False(t, ok, s)
	}
}

// TestEntriesRawMetadata: with Filter.RawMetadata, Entries, Search and Query
// (and a Reader's Entries) select the same entries as without it, and give
// them with Metadata nil and RawMetadata the stored object, which decodes
// to the Metadata they give without it; plain and encrypted logs.
func TestEntriesRawMetadata(t *testing.T) {
	for _, key := range [][]byte{nil, testKey(3)} {
		dir := t.TempDir()
		l := openT(t, dir, Options{EncryptionKey: key})
		logVariety(t, l)
		q, err := ParseQuery(`{"metadata.currency": "EUR"}`)
		require.NoError(t, err)
		filters := []Filter{{}, {Search: "zürich"}, {Query: q}, {Reverse: true, Limit: 5}, {Levels: []Level{LevelAudit}}}
		check := func(full, raw []Entry) {
			t.Helper()
			require.Len(t, raw, len(full))
			for i := range full {
				require.Nil(t, raw[i].Metadata)
				require.Nil(t, full[i].RawMetadata)
				c := jsonCursor{b: raw[i].RawMetadata, d: &entryDecoder{}}
				got, err := c.value(0)
				require.NoError(t, err, "%s", raw[i].RawMetadata)
				require.Equal(t, full[i].Metadata, got, "seq %d", full[i].Seq)
				// The JSON forms are the same.
				jf, err := json.Marshal(full[i])
				require.NoError(t, err)
				jr, err := json.Marshal(raw[i])
				require.NoError(t, err)
				cf, cr := jsonCursor{b: jf, d: &entryDecoder{}}, jsonCursor{b: jr, d: &entryDecoder{}}
				vf, err := cf.value(0)
				require.NoError(t, err)
				vr, err := cr.value(0)
				require.NoError(t, err)
				require.Equal(t, vf, vr)
				raw[i].RawMetadata, raw[i].Metadata = nil, full[i].Metadata
				require.Equal(t, full[i], raw[i])
			}
		}
		for _, f := range filters {
			full, err := collect(l.Entries(context.Background(), f))
			require.NoError(t, err)
			require.NotEmpty(t, full, "%+v", f)
			f.RawMetadata = true
			raw, err := collect(l.Entries(context.Background(), f))
			require.NoError(t, err)
			check(full, raw)
		}
		require.NoError(t, l.Close())
		r, err := OpenReaderWith(dir, ReaderOptions{EncryptionKey: key})
		require.NoError(t, err)
		full, err := collect(r.Entries(context.Background(), Filter{}))
		require.NoError(t, err)
		raw, err := collect(r.Entries(context.Background(), Filter{RawMetadata: true}))
		require.NoError(t, err)
		check(full, raw)
		require.NoError(t, r.Close())
	}
}

// TestEntriesRawMetadataInTheLoop: Entries and Tail give each entry's
// RawMetadata in memory they reuse, valid in the loop body: over many
// blocks (decoded by several workers, or one, forward and reverse), every
// entry's RawMetadata is its own there; Read, Search and Query give
// RawMetadata that stays right after other reads.
func TestEntriesRawMetadataInTheLoop(t *testing.T) {
	ctx := context.Background()
	const n = 6 * indexBlockRecords
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 64 << 10})
	for i := range n {
		_, err := l.Info("order", Fields{"i": i, "customer": map[string]any{"id": fmt.Sprintf("cus_%06d", i), "tags": []any{"a", strings.Repeat("x", i%40)}}})
		require.NoError(t, err)
	}
	require.NoError(t, l.Sync(ctx))
	type meta struct {
		I        int
		Customer struct {
			ID   string
			Tags []string
		}
	}
	check := func(e Entry) {
		t.Helper()
		require.Nil(t, e.Metadata)
		var m meta
		require.NoError(t, json.Unmarshal(e.RawMetadata, &m), "seq %d: %s", e.Seq, e.RawMetadata)
		require.Equal(t, int(e.Seq), m.I, "seq %d: %s", e.Seq, e.RawMetadata)
		require.Equal(t, fmt.Sprintf("cus_%06d", e.Seq), m.Customer.ID)
		require.Equal(t, []string{"a", strings.Repeat("x", int(e.Seq)%40)}, m.Customer.Tags)
	}
	iterate := func(seq iter.Seq2[Entry, error], want int) {
		t.Helper()
		got := 0
		for e, err := range seq {
			require.NoError(t, err)
			check(e)
			got++
		}
		require.Equal(t, want, got)
	}
	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	for _, f := range []Filter{{}, {Reverse: true}, {Limit: 2 * indexBlockRecords}, {Reverse: true, Limit: 3 * indexBlockRecords}, {FromSeq: 100, ToSeq: n - 100}} {
		f.RawMetadata = true
		want := n
		switch {
		case f.Limit > 0:
			want = f.Limit
		case f.ToSeq > 0:
			want = int(f.ToSeq - f.FromSeq)
		}
		iterate(l.Entries(ctx, f), want)
		iterate(r.Entries(ctx, f), want)
	}
	tctx, cancel := context.WithCancel(ctx)
	got := 0
	for e, err := range l.Tail(tctx, Filter{RawMetadata: true}) {
		require.NoError(t, err)
		check(e)
		if got++; got == n {
			cancel()
		}
	}
	cancel()
	require.Equal(t, n, got)

	// Collected entries keep their RawMetadata through later reads.
	page, err := l.Read(ctx, Filter{RawMetadata: true, Limit: 2 * indexBlockRecords})
	require.NoError(t, err)
	hits, err := l.Search(ctx, "cus_000", Filter{RawMetadata: true, Limit: 5 * indexBlockRecords})
	require.NoError(t, err)
	q, err := ParseQuery(`{"metadata.i": {"$gte": 0}}`)
	require.NoError(t, err)
	all, err := l.Query(ctx, q, Filter{RawMetadata: true, Limit: n})
	require.NoError(t, err)
	iterate(l.Entries(ctx, Filter{RawMetadata: true}), n)
	require.Len(t, page, 2*indexBlockRecords)
	require.Len(t, hits, 1000)
	require.Len(t, all, n)
	for _, es := range [][]Entry{page, hits, all} {
		for _, e := range es {
			check(e)
		}
	}
	require.NoError(t, l.Close())
}

// TestRawEntryFields: rawEntry has Entry's JSON fields, in Entry's order.
func TestRawEntryFields(t *testing.T) {
	var want []string
	et := reflect.TypeFor[Entry]()
	for i := range et.NumField() {
		if tag := et.Field(i).Tag.Get("json"); tag != "-" {
			want = append(want, et.Field(i).Name+" "+tag)
		}
	}
	var got []string
	rt := reflect.TypeFor[rawEntry]()
	for i := range rt.NumField() {
		got = append(got, rt.Field(i).Name+" "+rt.Field(i).Tag.Get("json"))
	}
	require.Equal(t, want, got)
}
