package treeoflife

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testImported(i int) ImportedEntry {
	return ImportedEntry{
		ID:           "eb140f85f2675e8c41cb44aef89d8cc3",
		Time:         time.Date(2026, 11, 29, 18, 16, 54, 573e6, time.UTC).Add(time.Duration(i) * time.Hour),
		Level:        LevelRevenue,
		Message:      "plain event <0>",
		MetadataJSON: []byte(`{"i": 0, "amount": 1.50, "nested": {"z": [1, "x"], "a": null}}`),
		Hostname:     "vm",
		PID:          21346,
		Legacy:       &LegacyRef{Index: uint64(i), Hash: "d2ae", PrevHash: "0", Data: `{"id":"eb14"}`},
	}
}

func TestImportStoredEntry(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	rec, err := l.Import(context.Background(), testImported(0))
	require.NoError(t, err)
	require.Equal(t, uint64(0), rec.Seq)
	require.Equal(t, "eb140f85f2675e8c41cb44aef89d8cc3", rec.ID)
	require.Equal(t, testImported(0).Time, rec.Time)
	e := testImported(1)
	e.Legacy.Broken = true
	e.MetadataJSON = nil
	e.Metadata = Fields{"b": 2, "a": "x"}
	_, err = l.Import(context.Background(), e)
	require.NoError(t, err)
	_, err = l.Info("logged after", nil)
	require.NoError(t, err)
	require.NoError(t, l.Close())

	// The stored bytes, exactly (FORMAT.md, "Entries"): the keys of a
	// logged entry in their order, metadata re-encoded canonically,
	// "legacy" before "seq".
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	raw, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	want0 := `{"id":"eb140f85f2675e8c41cb44aef89d8cc3","timestamp":"2026-11-29T18:16:54.573000000Z","level":"REVENUE","message":"plain event \u003c0\u003e","metadata":{"amount":1.5,"i":0,"nested":{"a":null,"z":[1,"x"]}},"hostname":"vm","pid":21346,"tenantId":null,"legacy":{"index":0,"hash":"d2ae","prevHash":"0","data":"{\"id\":\"eb14\"}"},"seq":0}`
	want1 := `{"id":"eb140f85f2675e8c41cb44aef89d8cc3","timestamp":"2026-11-29T19:16:54.573000000Z","level":"REVENUE","message":"plain event \u003c0\u003e","metadata":{"a":"x","b":2},"hostname":"vm","pid":21346,"tenantId":null,"legacy":{"index":1,"hash":"d2ae","prevHash":"0","broken":true,"data":"{\"id\":\"eb14\"}"},"seq":1}`
	require.True(t, bytes.Contains(raw, []byte(want0)), "stored entry 0:\n%s", raw)
	require.True(t, bytes.Contains(raw, []byte(want1)), "stored entry 1")

	// It verifies, by the library and by an independent reading of
	// FORMAT.md.
	v := independentVerify(t, dir)
	require.Equal(t, uint64(3), v.Size)
	_, err = VerifyDir(context.Background(), dir)
	require.NoError(t, err)

	// It reads back with its original data, and is indexed under its own
	// time.
	r, err := OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	got, err := r.Read(context.Background(), Filter{Until: time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "vm", got[0].Hostname)
	require.Equal(t, 21346, got[0].PID)
	require.Equal(t, &LegacyRef{Index: 0, Hash: "d2ae", PrevHash: "0", Data: `{"id":"eb14"}`}, got[0].Legacy)
	require.Equal(t, map[string]any{"amount": 1.5, "i": 0.0, "nested": map[string]any{"a": nil, "z": []any{1.0, "x"}}}, got[0].Metadata)
	all, err := r.Read(context.Background(), Filter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.True(t, all[1].Legacy.Broken)
	require.Nil(t, all[2].Legacy, "a logged entry has no legacy reference")
}

func TestImportInvalid(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	for name, mod := range map[string]func(e *ImportedEntry){
		"no id":       func(e *ImportedEntry) { e.ID = "" },
		"no time":     func(e *ImportedEntry) { e.Time = time.Time{} },
		"no message":  func(e *ImportedEntry) { e.Message = "" },
		"bad level":   func(e *ImportedEntry) { e.Level = 0 },
		"tenant":      func(e *ImportedEntry) { e.Tenant = "acme" },
		"bad json":    func(e *ImportedEntry) { e.MetadataJSON = []byte(`{"a":`) },
		"not object":  func(e *ImportedEntry) { e.MetadataJSON = []byte(`[1]`) },
		"bad utf8 id": func(e *ImportedEntry) { e.ID = "\xff" },
	} {
		e := testImported(0)
		mod(&e)
		_, err := l.Import(ctx, e)
		require.ErrorIs(t, err, ErrInvalidEntry, name)
	}
	require.Equal(t, uint64(0), l.Head().Size, "nothing was written")
	big := testImported(0)
	big.Legacy.Data = string(bytes.Repeat([]byte("x"), DefaultMaxEntrySize))
	_, err := l.Import(ctx, big)
	require.ErrorIs(t, err, ErrEntryTooLarge)
	require.NoError(t, l.Close())
	_, err = l.Import(ctx, testImported(0))
	require.ErrorIs(t, err, ErrClosed)
}

func TestImportTenantEncrypted(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	opts := Options{EncryptionKey: bytes.Repeat([]byte{1}, 32)}
	ts := openTenantsT(t, root, opts)
	tl, err := ts.Get(ctx, "customer-abc")
	require.NoError(t, err)
	e := testImported(0)
	_, err = tl.Import(ctx, e)
	require.ErrorIs(t, err, ErrInvalidEntry, "an entry without the log's tenant is refused")
	e.Tenant = "customer-abc"
	_, err = tl.Import(ctx, e)
	require.NoError(t, err)
	got, err := tl.Read(ctx, Filter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "customer-abc", got[0].Tenant)
	require.Equal(t, e.ID, got[0].ID)
	require.Equal(t, uint64(0), got[0].Legacy.Index)
	require.NoError(t, tl.Close())
	require.NoError(t, ts.Close())
	dir := filepath.Join(root, "tenants", "customer-abc")
	_, err = VerifyDir(ctx, dir)
	require.NoError(t, err)
}

// referenceMetadata is the slow path canonicalMetadata must agree with:
// decode into a map as a reader does, encode as Log does.
func referenceMetadata(b []byte) ([]byte, error) {
	c := jsonCursor{b: b, d: new(entryDecoder)}
	v, err := c.value(0)
	if err != nil {
		return nil, err
	}
	c.ws()
	if c.i != len(b) {
		return nil, errSyntax
	}
	switch m := v.(type) {
	case map[string]any:
		return appendJSONMap(nil, m, 0)
	case nil:
		return []byte("{}"), nil
	}
	return nil, errSyntax
}

var metadataSeeds = []string{
	`{"i": 0, "amount": 1.50, "nested": {"z": [1, "x"], "a": null}}`,
	`{"b":1,"a":2,"b":3}`,
	`{"s":"<a&b>","u":"\u00e9\u2028x","e":"\ud83d\ude00","bad":"\ud800x","q":"\"\\\/\b\f\n\r\t"}`,
	`{"big":12345678901234567890,"neg":-9007199254740993,"f":1e21,"g":1.0,"h":-0,"k":0.000001,"l":1e-7}`,
	`{"t":true,"f":false,"n":null,"arr":[[],{},[{"x":[1,2,{"y":"z"}]}]]}`,
	`{"ключ":"значение","é":"日本"}`,
	`null`,
	` { } `,
}

func TestCanonicalMetadata(t *testing.T) {
	for _, s := range metadataSeeds {
		want, werr := referenceMetadata([]byte(s))
		got, err := canonicalMetadata([]byte(s))
		require.NoError(t, werr, s)
		require.NoError(t, err, s)
		require.Equal(t, string(want), string(got), s)
	}
	for _, s := range []string{`[1]`, `"x"`, `{"a":}`, `{"a":1`, `{"a":1}x`, `{"a":01}`, `{"a":tru}`} {
		_, err := canonicalMetadata([]byte(s))
		require.Error(t, err, s)
	}
	deep := bytes.Repeat([]byte(`{"a":`), maxDepth+2)
	deep = append(deep, '1')
	deep = append(deep, bytes.Repeat([]byte("}"), maxDepth+2)...)
	_, err := canonicalMetadata(deep)
	require.Error(t, err)
}

func FuzzCanonicalMetadata(f *testing.F) {
	for _, s := range metadataSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := referenceMetadata(b)
		got, err := canonicalMetadata(b)
		// canonicalMetadata may be stricter: it refuses invalid UTF-8 in a
		// value that a repeated key overrides, which the map drops.
		if werr != nil && err == nil {
			t.Fatalf("%q: reference error %v, canonical accepted it: %s", b, werr, got)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(want, got) {
			t.Fatalf("%q: reference %s, canonical %s", b, want, got)
		}
	})
}

func TestImportBatch(t *testing.T) {
	for _, opts := range []Options{{}, {EncryptionKey: bytes.Repeat([]byte{3}, 32)}} {
		l := openT(t, t.TempDir(), opts)
		ctx := context.Background()
		es := make([]ImportedEntry, 100)
		for i := range es {
			es[i] = testImported(i)
			es[i].Message = fmt.Sprintf("event %d", i)
		}
		es[70].Message = "" // invalid: the batch stops before it
		recs, err := l.ImportBatch(ctx, es)
		require.ErrorIs(t, err, ErrInvalidEntry)
		require.Len(t, recs, 70)
		for i, r := range recs {
			require.Equal(t, uint64(i), r.Seq)
			require.Equal(t, es[i].Time, r.Time)
		}
		recs, err = l.ImportBatch(ctx, es[71:])
		require.NoError(t, err)
		require.Len(t, recs, 29)
		got, err := l.Read(ctx, Filter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, got, 99)
		for i, e := range got {
			want := i
			if i >= 70 {
				want = i + 1
			}
			require.Equal(t, fmt.Sprintf("event %d", want), e.Message, "entries keep their order")
			require.Equal(t, uint64(want), e.Legacy.Index)
		}
		require.NoError(t, verifyErr(l.Verify(ctx)))
		require.NoError(t, l.Close())
		_, err = l.ImportBatch(ctx, es[:1])
		require.ErrorIs(t, err, ErrClosed)
	}
}
