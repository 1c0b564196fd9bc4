package treeoflife

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFieldOrder encodes a sequence of Fields with one fieldOrder, as a
// pooled encoder does: every object must be encoded exactly as without it,
// and the remembered keys must be used when, and only when, a call has
// exactly those keys.
func TestFieldOrder(t *testing.T) {
	many := Fields{}
	for i := range maxOrderedFields + 1 {
		many[fmt.Sprintf("k%02d", i)] = i
	}
	steps := []struct {
		name    string
		fields  Fields
		ordered bool   // encoded from the remembered keys
		err     string // the error's text, if any
	}{
		{"first", Fields{"order_id": "ord_1", "amount": 10, "currency": "EUR", "captured": true}, false, ""},
		{"same keys", Fields{"captured": false, "currency": "USD", "amount": 20.5, "order_id": "ord_2"}, true, ""},
		{"same count, a key replaced", Fields{"captured": false, "currency": "USD", "amount": 20, "refund_id": "r"}, false, ""},
		{"after the new keys", Fields{"captured": nil, "currency": "<&>", "amount": -1, "refund_id": "r\n"}, true, ""},
		{"one key fewer", Fields{"currency": "USD", "amount": 20, "refund_id": "r"}, false, ""},
		{"keys that need escaping", Fields{"<a>": 1, "b\"": 2, "\u2028": 3}, false, ""},
		{"escaped keys again", Fields{"<a>": 4, "b\"": Fields{"x": []any{1}}, "\u2028": "y"}, true, ""},
		{"a value refused on the remembered keys", Fields{"<a>": 4, "b\"": math.NaN(), "\u2028": "y"}, true, `.b": unsupported number NaN`},
		{"more keys than are remembered", many, false, ""},
		{"those keys again", many, false, ""},
		{"empty", Fields{}, false, ""},
		{"nil", nil, false, ""},
		{"a key that is not UTF-8", Fields{"\xff": 1}, false, "key: invalid UTF-8"},
		{"a single key after it", Fields{"a": 1}, false, ""},
		{"the single key again", Fields{"a": 2}, true, ""},
		{"that key and one more", Fields{"a": 3, "b": 4}, false, ""},
	}
	var o fieldOrder
	for _, s := range steps {
		_, ordered, _ := o.appendOrdered(nil, s.fields)
		assert.Equal(t, s.ordered, ordered, "%s: encoded from the remembered keys", s.name)
		want, wantErr := appendJSONMap(nil, s.fields, 0)
		m := meta{fields: s.fields, order: &o}
		got, err := m.appendTo(nil)
		if s.err != "" {
			require.Error(t, err, s.name)
			assert.Contains(t, err.Error(), s.err, s.name)
			require.Error(t, wantErr, s.name)
			assert.Equal(t, wantErr.Error(), err.Error(), s.name)
			continue
		}
		require.NoError(t, err, s.name)
		require.NoError(t, wantErr, s.name)
		assert.Equal(t, string(want), string(got), s.name)
	}
}
