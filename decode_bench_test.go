package treeoflife

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkDecode decodes stored entries of the bench module's shapes
// (bench/internal/tolbench: five flat fields, and those plus a customer
// object with an address and one to three line items) with the fast path
// (decode) and with the general parser (decodeAny), 65,536 distinct
// entries in turn. "nested/result" only builds what a nested entry decodes
// to (its maps, slice, strings and numbers) without parsing: the floor of
// any decoder that returns map[string]any.
//
//	go test -run '^$' -bench BenchmarkDecode
func BenchmarkDecode(b *testing.B) {
	for _, nested := range []bool{false, true} {
		ps := benchPayloads(b, nested)
		name := map[bool]string{false: "flat", true: "nested"}[nested]
		for _, path := range []string{"fast", "any"} {
			b.Run(name+"/"+path, func(b *testing.B) {
				var d entryDecoder
				var e Entry
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					k := i % len(ps)
					var err error
					if path == "fast" {
						err = d.decode(ps[k], uint64(k), "", &e)
					} else {
						err = d.decodeAny(ps[k], uint64(k), "", &e)
					}
					if err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
	b.Run("nested/result", func(b *testing.B) {
		raw := []byte("ord_01HZX3K9QWERTYUIOPASDFGHJKcus_7GH2K9QWERTY12sku_ABCDEFGH019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61")
		var e Entry
		b.ReportAllocs()
		for b.Loop() {
			e.ID = string(raw[60:96])
			cid := any(string(raw[30:48]))
			item := func(qty int) any {
				return map[string]any{"price": any(float64(len(raw)) + 0.5), "qty": smallFloats[qty], "sku": any(string(raw[48:60]))}
			}
			items := make([]any, 2)
			items[0], items[1] = item(3), item(1)
			e.Metadata = map[string]any{
				"amount": any(float64(len(raw)) + 1000), "captured": true, "currency": "EUR",
				"customer":    map[string]any{"address": map[string]any{"city": "Zürich", "country": "DE"}, "id": cid, "tier": "pro"},
				"customer_id": cid, "items": items, "order_id": any(string(raw[:30])),
			}
		}
	})
}

// benchPayloads logs 65,536 entries of the bench module's shape and returns
// their stored JSON.
func benchPayloads(b *testing.B, nested bool) [][]byte {
	b.Helper()
	dir := b.TempDir()
	l, err := Open(dir, Options{Durability: DurabilityBuffered})
	require.NoError(b, err)
	r := rand.New(rand.NewPCG(1, 2))
	id := func(n int) string {
		const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
		s := make([]byte, n)
		for i := range s {
			s[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(s)
	}
	for range 1 << 16 {
		cid := "cus_" + id(14)
		f := Fields{"amount": 100 + r.Int64N(1_000_000), "currency": []string{"USD", "EUR", "GBP", "JPY", "CHF"}[r.IntN(5)], "customer_id": cid, "order_id": "ord_" + id(26), "captured": r.IntN(10) != 0}
		if nested {
			items := make([]any, 1+r.IntN(3))
			for k := range items {
				items[k] = map[string]any{"sku": "sku_" + id(8), "qty": 1 + r.IntN(5), "price": float64(100+r.IntN(100_000)) / 100}
			}
			f["customer"] = map[string]any{"id": cid, "tier": []string{"free", "pro", "enterprise"}[r.IntN(3)],
				"address": map[string]any{"country": []string{"US", "DE", "FR", "GB"}[r.IntN(4)], "city": []string{"Berlin", "Paris", "Zürich", "Tokyo"}[r.IntN(4)]}}
			f["items"] = items
		}
		_, err := l.Log(context.Background(), LevelRevenue, "order placed", f)
		require.NoError(b, err)
	}
	require.NoError(b, l.Close())
	ps, _ := storedPayloads(b, dir, nil)
	return ps
}
