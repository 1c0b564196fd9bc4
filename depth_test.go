package treeoflife

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func nestedRaw(n int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", n) + "1" + strings.Repeat("]", n))
}

type deepStruct struct {
	V any `json:"v"`
}

// Values encoding/json encodes (Marshalers, structs) are held to the same
// nesting limit as maps and slices: what is accepted can be read back.
func TestDepthOfMarshaledValues(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer l.Close()

	for _, v := range []any{
		nestedRaw(70),
		nestedRaw(maxDepth + 1),
		deepStruct{V: nestedRaw(maxDepth)},
		map[string]any{"a": nestedRaw(maxDepth)},
	} {
		_, err := l.Info("deep", Fields{"v": v})
		require.ErrorIs(t, err, ErrInvalidEntry, "%T", v)
	}
	for _, v := range []any{
		nestedRaw(maxDepth),
		deepStruct{V: nestedRaw(maxDepth - 1)},
		map[string]any{"a": nestedRaw(maxDepth - 1)},
	} {
		_, err := l.Info("deep", Fields{"v": v})
		require.NoError(t, err, "%T", v)
	}
	es, err := l.Read(ctx, Filter{})
	require.NoError(t, err)
	require.Len(t, es, 3)
}

// normalJSON is v as encoding/json decodes its encoding: the form two
// values are compared in.
func normalJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// FuzzAcceptedIsReadable logs arbitrary JSON (as a json.RawMessage, nested
// in maps and slices) and checks that whatever Log accepts, Entries returns,
// equal to what was given.
func FuzzAcceptedIsReadable(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":null}]}`), uint8(0))
	f.Add([]byte(`"x\u2028y"`), uint8(3))
	f.Add([]byte(strings.Repeat("[", 40)+strings.Repeat("]", 40)), uint8(0))
	f.Add([]byte(`123456789012345678901234567890`), uint8(30))
	f.Add([]byte(`{"k":"\ud800"}`), uint8(1))
	l, err := Open(f.TempDir(), Options{Durability: DurabilityBuffered})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte, wrap uint8) {
		if !json.Valid(raw) {
			return
		}
		var v any = json.RawMessage(raw)
		for i := range int(wrap % 40) {
			if i%2 == 0 {
				v = []any{v}
			} else {
				v = map[string]any{"k": v}
			}
		}
		rec, err := l.Info("fuzz", Fields{"v": v})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidEntry)
			return
		}
		require.NoError(t, l.Sync(ctx))
		var got []Entry
		for e, err := range l.Entries(ctx, Filter{FromSeq: rec.Seq, ToSeq: rec.Seq + 1}) {
			require.NoError(t, err, "an accepted record does not read back")
			got = append(got, e)
		}
		require.Len(t, got, 1)
		want := normalJSON(t, v)
		if have := normalJSON(t, got[0].Metadata["v"]); !reflect.DeepEqual(want, have) {
			t.Fatalf("read back %v, logged %v", have, want)
		}
	})
}
