package treeoflife

import (
	"fmt"
	"maps"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFieldOrder encodes a sequence of Fields with one fieldOrder, as a
// pooled encoder does: every object must be encoded exactly as without it,
// with or without a ScopedLogger's fields, and the remembered keys must be
// looked up when, and only when, a call has exactly those keys.
func TestFieldOrder(t *testing.T) {
	many := Fields{}
	for i := range maxOrderedFields + 1 {
		many[fmt.Sprintf("k%02d", i)] = i
	}
	steps := []struct {
		name    string
		fields  Fields
		ordered bool   // looked up from the remembered keys
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
	// Each step is encoded twice, with and without a ScopedLogger's fields
	// (one of which a step replaces), each with its own fieldOrder; the
	// result must be what appendJSONMap makes of the merged fields.
	scope := Fields{"amount": "scoped", "service": "api", "~last": 1}
	pre, err := encodeFields(scope)
	require.NoError(t, err)
	var orders [2]fieldOrder
	for _, s := range steps {
		for i, pre := range [][]encodedField{nil, pre} {
			o := &orders[i]
			name := fmt.Sprintf("%s (scoped: %v)", s.name, pre != nil)
			_, ordered := o.lookup(nil, s.fields)
			assert.Equal(t, s.ordered, ordered, "%s: looked up from the remembered keys", name)
			merged := Fields{}
			if pre != nil {
				maps.Copy(merged, scope)
			}
			maps.Copy(merged, s.fields)
			want, wantErr := appendJSONMap(nil, merged, 0)
			m := meta{fields: s.fields, pre: pre, order: o}
			got, err := m.appendTo(nil)
			if s.err != "" {
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), s.err, name)
				require.Error(t, wantErr, name)
				assert.Equal(t, wantErr.Error(), err.Error(), name)
				continue
			}
			require.NoError(t, err, name)
			require.NoError(t, wantErr, name)
			assert.Equal(t, string(want), string(got), name)
		}
	}
}
