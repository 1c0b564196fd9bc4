package treeoflife

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleEntryJSON is a stored entry with metadata of every JSON type.
const sampleEntryJSON = `{"id":"019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61","timestamp":"2026-03-01T10:00:00.000000000Z","level":"REVENUE","message":"Payment received","metadata":{"amount":1500,"big":9007199254740993,"currency":"USD","customer":{"country":"DE","tier":"gold"},"flag":true,"items":[{"qty":2,"sku":"x1"},{"qty":1,"sku":"y2"}],"none":null,"paidAt":"2026-03-01T09:59:00Z","ratio":0.25,"tags":["a","b"]},"hostname":"api-7","pid":4242,"tenantId":null,"seq":7}`

func sampleEntry(t testing.TB) *Entry {
	t.Helper()
	var d entryDecoder
	var e Entry
	require.NoError(t, d.decode([]byte(sampleEntryJSON), 7, "", &e))
	return &e
}

func TestDecodeSampleEntry(t *testing.T) {
	e := sampleEntry(t)
	require.Equal(t, uint64(7), e.Seq)
	require.Equal(t, "019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61", e.ID)
	require.True(t, e.Time.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)))
	require.Equal(t, LevelRevenue, e.Level)
	require.Equal(t, "Payment received", e.Message)
	require.Equal(t, "api-7", e.Hostname)
	require.Equal(t, 4242, e.PID)
	require.Equal(t, "", e.Tenant)
	require.Equal(t, json.Number("9007199254740993"), e.Metadata["big"], "an integer beyond 2^53 keeps its digits")
	require.Equal(t, 1500.0, e.Metadata["amount"])

	// Everything else decodes as encoding/json does.
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(sampleEntryJSON), &want))
	meta := want["metadata"].(map[string]any)
	delete(meta, "big")
	delete(e.Metadata, "big")
	require.Equal(t, meta, e.Metadata)
}

func TestQueryMatch(t *testing.T) {
	e := sampleEntry(t)
	tests := []struct {
		query string
		want  bool
	}{
		{`{}`, true},
		// level: by name, case-insensitively
		{`{"level":"REVENUE"}`, true},
		{`{"level":"revenue"}`, true},
		{`{"level":"ERROR"}`, false},
		{`{"level":{"$eq":"Revenue"}}`, true},
		{`{"level":{"$ne":"INFO"}}`, true},
		{`{"level":{"$ne":"REVENUE"}}`, false},
		{`{"level":{"$in":["ERROR","revenue"]}}`, true},
		{`{"level":{"$in":["ERROR","INFO"]}}`, false},
		{`{"level":{"$nin":["REVENUE"]}}`, false},
		{`{"level":{"$nin":["ERROR"]}}`, true},
		{`{"level":{"$regex":"^REV"}}`, true},
		{`{"level":{"$contains":"venu"}}`, true},
		{`{"level":{"$exists":true}}`, true},
		// numbers compare as numbers whatever their JSON form
		{`{"metadata.amount":1500}`, true},
		{`{"metadata.amount":1500.0}`, true},
		{`{"metadata.amount":1.5e3}`, true},
		{`{"metadata.amount":1501}`, false},
		{`{"metadata.amount":{"$eq":1500}}`, true},
		{`{"metadata.amount":{"$ne":1500}}`, false},
		{`{"metadata.amount":{"$gt":1000}}`, true},
		{`{"metadata.amount":{"$gt":1500}}`, false},
		{`{"metadata.amount":{"$gte":1500}}`, true},
		{`{"metadata.amount":{"$lt":1500.5}}`, true},
		{`{"metadata.amount":{"$lte":1499.99}}`, false},
		{`{"metadata.amount":{"$gte":1000,"$lt":2000}}`, true},
		{`{"metadata.amount":{"$in":[1,1500,"x"]}}`, true},
		{`{"metadata.amount":{"$nin":[1,2]}}`, true},
		{`{"metadata.ratio":0.25}`, true},
		{`{"metadata.ratio":{"$lt":1}}`, true},
		{`{"metadata.big":9007199254740993}`, true},
		{`{"metadata.big":9007199254740992}`, false},
		{`{"metadata.big":{"$gt":9007199254740992}}`, true},
		// a value of another type than the operand does not match
		{`{"metadata.amount":{"$gte":"1000"}}`, false},
		{`{"metadata.amount":"1500"}`, false},
		{`{"metadata.currency":{"$gte":1000}}`, false},
		{`{"metadata.customer":{"$gt":1}}`, false},
		// strings
		{`{"metadata.currency":"USD"}`, true},
		{`{"metadata.currency":"usd"}`, false},
		{`{"metadata.currency":{"$gt":"EUR"}}`, true},
		{`{"metadata.currency":{"$lt":"EUR"}}`, false},
		{`{"metadata.currency":{"$regex":"^u","$options":"i"}}`, true},
		{`{"metadata.currency":{"$regex":"^u"}}`, false},
		{`{"metadata.currency":{"$contains":"sd"}}`, true},
		{`{"metadata.amount":{"$regex":"15"}}`, false},
		// dotted paths, arrays
		{`{"metadata.customer.country":"DE"}`, true},
		{`{"metadata.customer.country":{"$in":["FR","DE"]}}`, true},
		{`{"metadata.customer.city":{"$exists":false}}`, true},
		{`{"metadata.customer":{"country":"DE","tier":"gold"}}`, true},
		{`{"metadata.customer":{"tier":"gold","country":"DE"}}`, true},
		{`{"metadata.customer":{"country":"DE"}}`, false},
		{`{"metadata.tags":"a"}`, true},
		{`{"metadata.tags":"c"}`, false},
		{`{"metadata.tags":["a","b"]}`, true},
		{`{"metadata.tags":["b","a"]}`, false},
		{`{"metadata.tags":{"$in":["c","b"]}}`, true},
		{`{"metadata.tags":{"$ne":"a"}}`, false},
		{`{"metadata.tags":{"$contains":"B"}}`, true},
		{`{"metadata.tags.1":"b"}`, true},
		{`{"metadata.tags.2":{"$exists":true}}`, false},
		{`{"metadata.items.sku":"y2"}`, true},
		{`{"metadata.items.1.sku":"y2"}`, true},
		{`{"metadata.items.0.sku":"y2"}`, false},
		{`{"metadata.items.qty":{"$gt":1}}`, true},
		{`{"metadata.items.qty":{"$gt":2}}`, false},
		{`{"metadata.currency.deeper":"x"}`, false},
		// times: RFC 3339 strings compare as times against time-like values
		{`{"metadata.paidAt":{"$lt":"2026-03-01T10:00:00Z"}}`, true},
		{`{"metadata.paidAt":{"$lt":"2026-03-01T10:59:00+01:00"}}`, false},
		{`{"metadata.paidAt":{"$lte":"2026-03-01T10:59:00+01:00"}}`, true},
		{`{"metadata.paidAt":"2026-03-01T09:59:00.000Z"}`, true},
		{`{"metadata.currency":{"$lt":"2026-03-01T10:00:00Z"}}`, false},
		{`{"timestamp":"2026-03-01T10:00:00Z"}`, true},
		{`{"timestamp":"2026-03-01T11:00:00+01:00"}`, true},
		{`{"timestamp":{"$gte":"2026-03-01T10:00:00Z"}}`, true},
		{`{"timestamp":{"$gt":"2026-03-01T10:00:00Z"}}`, false},
		{`{"timestamp":{"$gte":"2026-03-01T00:00:00Z","$lt":"2026-03-02T00:00:00Z"}}`, true},
		{`{"timestamp":{"$in":["2026-01-01T00:00:00Z","2026-03-01T10:00:00.000000000Z"]}}`, true},
		// booleans and null; null matches a missing field too
		{`{"metadata.flag":true}`, true},
		{`{"metadata.flag":false}`, false},
		{`{"metadata.none":null}`, true},
		{`{"metadata.missing":null}`, true},
		{`{"metadata.flag":null}`, false},
		{`{"metadata.none":{"$exists":true}}`, true},
		{`{"metadata.missing":{"$exists":true}}`, false},
		{`{"metadata.missing":{"$exists":false}}`, true},
		{`{"metadata.missing":{"$ne":1}}`, true},
		{`{"metadata.missing":{"$nin":[1]}}`, true},
		{`{"metadata.missing":{"$in":[null]}}`, true},
		{`{"metadata.missing":{"$gt":0}}`, false},
		{`{"metadata.missing":{"$regex":""}}`, false},
		// other top-level fields
		{`{"seq":7}`, true},
		{`{"seq":{"$gte":5,"$lt":8}}`, true},
		{`{"seq":{"$gt":7}}`, false},
		{`{"pid":4242}`, true},
		{`{"pid":4242.0}`, true},
		{`{"message":"Payment received"}`, true},
		{`{"message":{"$regex":"^pay","$options":"i"}}`, true},
		{`{"message":{"$regex":"^pay"}}`, false},
		{`{"message":{"$contains":"RECEIVED"}}`, true},
		{`{"message":{"$gt":"O"}}`, true},
		{`{"hostname":"api-7"}`, true},
		{`{"id":"019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61"}`, true},
		{`{"tenantId":null}`, true},
		{`{"tenantId":"acme"}`, false},
		{`{"tenantId":{"$ne":"acme"}}`, true},
		{`{"metadata":{"$exists":true}}`, true},
		// logic
		{`{"$or":[{"level":"ERROR"},{"metadata.amount":{"$gt":1000}}]}`, true},
		{`{"$or":[{"level":"ERROR"},{"metadata.amount":{"$gt":2000}}]}`, false},
		{`{"$and":[{"level":"REVENUE"},{"metadata.currency":"EUR"}]}`, false},
		{`{"$and":[{"level":"REVENUE"},{"metadata.currency":"USD"}]}`, true},
		{`{"$nor":[{"level":"ERROR"},{"level":"INFO"}]}`, true},
		{`{"$nor":[{"level":"ERROR"},{"level":"REVENUE"}]}`, false},
		{`{"$not":{"level":"REVENUE"}}`, false},
		{`{"$not":{"level":"ERROR"}}`, true},
		{`{"metadata.amount":{"$not":{"$gt":2000}}}`, true},
		{`{"metadata.amount":{"$not":{"$gt":1000}}}`, false},
		{`{"metadata.amount":{"$not":{"$gt":1000,"$lt":1200}}}`, true},
		{`{"$or":[{"$and":[{"$not":{"level":"ERROR"}},{"metadata.customer.tier":{"$in":["gold","platinum"]}}]}]}`, true},
		{`{"$and":[{"$or":[{"seq":1},{"seq":7}]},{"$nor":[{"metadata.flag":false}]},{"$not":{"$not":{"level":"revenue"}}}]}`, true},
		{`{"level":"REVENUE","metadata.amount":{"$gte":1000},"metadata.customer.country":"FR"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			require.NoError(t, err)
			cq, err := compileQuery(q)
			require.NoError(t, err)
			require.Equal(t, tt.want, cq.match(e))
		})
	}
}

// Queries built in Go take Go values as operands.
func TestQueryGoValues(t *testing.T) {
	e := sampleEntry(t)
	tests := []struct {
		name string
		q    Query
		want bool
	}{
		{"int", Query{"metadata.amount": 1500}, true},
		{"int64", Query{"metadata.amount": Query{"$gte": int64(1000)}}, true},
		{"uint8", Query{"metadata.amount": Query{"$gt": uint8(200)}}, true},
		{"float32", Query{"metadata.ratio": float32(0.25)}, true},
		{"map operators", Query{"metadata.amount": map[string]any{"$lt": 2000}}, true},
		{"Fields literal", Query{"metadata.customer": Fields{"country": "DE", "tier": "gold"}}, true},
		{"map[string]string literal", Query{"metadata.customer": map[string]string{"country": "DE", "tier": "gold"}}, true},
		{"Level", Query{"level": LevelRevenue}, true},
		{"Level $in []Level", Query{"level": Query{"$in": []Level{LevelError, LevelRevenue}}}, true},
		{"[]string $in", Query{"metadata.currency": Query{"$in": []string{"EUR", "USD"}}}, true},
		{"time.Time", Query{"timestamp": Query{"$gte": time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}, true},
		{"time.Time in another zone", Query{"timestamp": time.Date(2026, 3, 1, 11, 0, 0, 0, time.FixedZone("CET", 3600))}, true},
		{"time.Time vs metadata string", Query{"metadata.paidAt": Query{"$lt": time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}, true},
		{"seq uint64", Query{"seq": uint64(7)}, true},
		{"$and []Query", Query{"$and": []Query{{"level": "REVENUE"}, {"pid": 4242}}}, true},
		{"$or []map", Query{"$or": []map[string]any{{"level": "ERROR"}, {"pid": 1}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cq, err := compileQuery(tt.q)
			require.NoError(t, err)
			require.Equal(t, tt.want, cq.match(e))
		})
	}
}

func TestQueryErrors(t *testing.T) {
	deep := strings.Repeat(`{"$not":`, 40) + `{"level":"INFO"}` + strings.Repeat(`}`, 40)
	deepLiteral := `{"metadata.a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`
	tests := []struct {
		query string
		msg   string // part of the error message
	}{
		{`not json`, "malformed JSON"},
		{``, "malformed JSON"},
		{`{"level":`, "malformed JSON"},
		{`[1,2]`, "a query is a JSON object"},
		{`null`, "a query is a JSON object"},
		{`"level"`, "a query is a JSON object"},
		{`{"a":1} {"b":2}`, "data after the query"},
		{`{"foo":1}`, `unknown field "foo"`},
		{`{"level.x":1}`, `unknown field "level.x"`},
		{`{"Level":"INFO"}`, `unknown field "Level"`},
		{`{"metadata..a":1}`, "empty element"},
		{`{"metadata.":1}`, "empty element"},
		{`{"level":{"$gte":"ERROR"}}`, "levels have no order"},
		{`{"level":"LOUD"}`, `unknown level "LOUD"`},
		{`{"level":{"$in":["INFO","LOUD"]}}`, `level.$in[1]: unknown level "LOUD"`},
		{`{"level":3}`, "level wants a level name"},
		{`{"metadata.amount":{"$foo":1}}`, `metadata.amount.$foo: unknown operator "$foo"`},
		{`{"$xor":[{"level":"INFO"}]}`, `unknown operator "$xor"`},
		{`{"metadata.a":{"$regex":"("}}`, "invalid regular expression"},
		{`{"metadata.a":{"$regex":1}}`, "$regex: want a string"},
		{`{"metadata.a":{"$options":"i"}}`, "$options without $regex"},
		{`{"metadata.a":{"$regex":"x","$options":"q"}}`, "unknown flag"},
		{`{"metadata.a":{"$regex":"x","$options":1}}`, "want a string of flags"},
		{`{"metadata.a":{"$gte":true}}`, "not a boolean"},
		{`{"metadata.a":{"$gt":null}}`, "not null"},
		{`{"metadata.a":{"$lt":[1]}}`, "not an array"},
		{`{"metadata.a":{"$lte":{"x":1}}}`, "not an object"},
		{`{"seq":"7"}`, "seq"},
		{`{"seq":{"$gt":"7"}}`, "number"},
		{`{"pid":{"$in":[1,"2"]}}`, "pid.$in[1]"},
		{`{"seq":{"$regex":"7"}}`, "applies to text"},
		{`{"timestamp":{"$gte":"yesterday"}}`, "RFC 3339"},
		{`{"timestamp":1}`, "RFC 3339"},
		{`{"timestamp":{"$contains":"2026"}}`, "applies to text"},
		{`{"message":5}`, "wants a string"},
		{`{"hostname":{"$gt":1}}`, "wants a string"},
		{`{"tenantId":5}`, "tenantId wants a string or null"},
		{`{"message":{"$contains":5}}`, "wants a string"},
		{`{"metadata.a":{"$contains":[1]}}`, "want a string, number or boolean"},
		{`{"metadata.a":{"$in":5}}`, "want an array"},
		{`{"metadata.a":{"$nin":"x"}}`, "want an array"},
		{`{"metadata.a":{"$exists":"yes"}}`, "want true or false"},
		{`{"$and":[]}`, "non-empty array"},
		{`{"$or":{}}`, "non-empty array"},
		{`{"$and":[1]}`, "$and[0]: want a query document"},
		{`{"$not":[{"level":"INFO"}]}`, "want a query document"},
		{`{"$or":[{"level":"ERROR"},{"metadata.x":{"$gt":null}}]}`, "$or[1].metadata.x.$gt"},
		{`{"$and":[{"$or":[{"bad":1}]}]}`, `$and[0].$or[0].bad: unknown field`},
		{`{"metadata.a":{"$eq":1,"b":2}}`, "mixes operators"},
		{`{"metadata.a":{"$not":1}}`, "want a document of operators"},
		{`{"metadata.a":{"$not":{"b":1}}}`, "want a document of operators"},
		{`{"metadata.a":{"$eq":{"$gt":1}}}`, "operators are not allowed inside a literal"},
		{`{"metadata.a":{"$not":{"$bad":1}}}`, `unknown operator "$bad"`},
		{deep, "nested more than 32 levels"},
		{deepLiteral, "nested more than 32 levels"},
		{`{"metadata.` + strings.Repeat("a.", 40) + `a":1}`, "more than 32 elements"},
		{`{"metadata.a":1e400}`, "invalid number"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			require.ErrorIs(t, err, ErrInvalidQuery)
			require.Contains(t, err.Error(), tt.msg)
			require.Nil(t, q)
		})
	}

	// Go values that have no JSON form.
	for name, q := range map[string]Query{
		"channel":        {"metadata.a": make(chan int)},
		"NaN":            {"metadata.a": math.NaN()},
		"Inf in $in":     {"metadata.a": Query{"$in": []float64{1, math.Inf(1)}}},
		"func":           {"metadata.a": Query{"$eq": func() {}}},
		"invalid Level":  {"level": Level(42)},
		"json.Number":    {"metadata.a": json.Number("12x")},
		"unknown in and": {"$and": []Query{{"nope": 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := compileQuery(q)
			require.ErrorIs(t, err, ErrInvalidQuery)
		})
	}
	_, err := ParseQuery(`{"metadata.a":"` + strings.Repeat("x", maxQuerySize) + `"}`)
	require.ErrorIs(t, err, ErrInvalidQuery)
}

// The index constraints a query implies narrow what is read and never
// exclude a match.
func TestQueryHints(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	tests := []struct {
		query        string
		levels       uint16
		since, until int64
		from, to     uint64
	}{
		{`{}`, allLevels, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"level":"ERROR"}`, 1 << LevelError, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"level":{"$in":["ERROR","critical"]}}`, 1<<LevelError | 1<<LevelCritical, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"level":{"$nin":["INFO"]}}`, allLevels &^ (1 << LevelInfo), math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"$and":[{"level":{"$in":["ERROR","INFO"]}},{"level":{"$ne":"INFO"}}]}`, 1 << LevelError, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"$or":[{"level":"ERROR"},{"level":"INFO"}]}`, allLevels, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"$not":{"level":"ERROR"}}`, allLevels, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"timestamp":{"$gte":"2026-03-01T10:00:00Z","$lt":"2026-03-01T10:00:01Z"}}`, allLevels, t0, t0 + 1e9, 0, math.MaxUint64},
		{`{"timestamp":{"$gt":"2026-03-01T10:00:00Z","$lte":"2026-03-01T10:00:01Z"}}`, allLevels, t0 + 1, t0 + 1e9 + 1, 0, math.MaxUint64},
		{`{"timestamp":"2026-03-01T10:00:00Z"}`, allLevels, t0, t0 + 1, 0, math.MaxUint64},
		{`{"timestamp":{"$ne":"2026-03-01T10:00:00Z"}}`, allLevels, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
		{`{"seq":{"$gte":10,"$lt":20}}`, allLevels, math.MinInt64, math.MaxInt64, 10, 20},
		{`{"seq":{"$gt":10,"$lte":20}}`, allLevels, math.MinInt64, math.MaxInt64, 11, 21},
		{`{"seq":15}`, allLevels, math.MinInt64, math.MaxInt64, 15, 16},
		{`{"seq":{"$lt":-1}}`, allLevels, math.MinInt64, math.MaxInt64, 0, 0},
		{`{"seq":{"$gt":10.5}}`, allLevels, math.MinInt64, math.MaxInt64, 0, math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			require.NoError(t, err)
			cq, err := compileQuery(q)
			require.NoError(t, err)
			assert.Equal(t, tt.levels, cq.levels, "levels")
			assert.Equal(t, tt.since, cq.since, "since")
			assert.Equal(t, tt.until, cq.until, "until")
			assert.Equal(t, tt.from, cq.from, "from")
			assert.Equal(t, tt.to, cq.to, "to")
		})
	}
}

func TestFilterErrors(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for name, f := range map[string]Filter{
		"negative limit":      {Limit: -1},
		"since after until":   {Since: t0.Add(time.Second), Until: t0},
		"from after to":       {FromSeq: 10, ToSeq: 5},
		"unknown level":       {Levels: []Level{LevelInfo, Level(42)}},
		"level zero":          {Levels: []Level{0}},
		"invalid query":       {Query: Query{"nope": 1}},
		"invalid query value": {Query: Query{"level": "LOUD"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := compileFilter(f)
			require.Error(t, err)
			if f.Query != nil {
				require.ErrorIs(t, err, ErrInvalidQuery)
			} else {
				require.ErrorIs(t, err, ErrInvalidFilter)
			}
		})
	}
	// Empty ranges are not errors: they select nothing.
	for _, f := range []Filter{{Since: t0, Until: t0}, {FromSeq: 5, ToSeq: 5}, {Query: Query{"seq": Query{"$lt": 0}}}} {
		cf, err := compileFilter(f)
		require.NoError(t, err)
		require.True(t, cf.empty())
	}
	// Out-of-range times saturate rather than overflow.
	cf, err := compileFilter(Filter{Since: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, int64(math.MinInt64), cf.since)
	require.Equal(t, int64(math.MaxInt64), cf.until)
}

func TestParseStoredTime(t *testing.T) {
	for _, s := range []string{
		"2026-03-01T10:00:00.000000000Z", "1970-01-01T00:00:00.000000000Z", "1969-12-31T23:59:59.999999999Z",
		"2000-02-29T12:34:56.123456789Z", "2261-12-31T23:59:59.999999999Z", "1678-01-01T00:00:00.000000000Z",
		"2024-12-31T23:59:59.000000001Z", "2100-03-01T00:00:00.000000000Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		got, ok := parseStoredTime(s)
		require.True(t, ok, s)
		require.Equal(t, want.UnixNano(), got, s)
	}
	for _, s := range []string{
		"2026-02-29T10:00:00.000000000Z", "2026-13-01T10:00:00.000000000Z", "2026-03-01T24:00:00.000000000Z",
		"2026-03-01T10:00:60.000000000Z", "2026-03-01T10:00:00.00000000xZ", "2026-03-01T10:00:00Z",
		"2026-03-01 10:00:00.000000000Z", "1677-01-01T00:00:00.000000000Z", "2026-03-00T10:00:00.000000000Z",
	} {
		_, ok := parseStoredTime(s)
		require.False(t, ok, s)
	}
}

// FuzzParseQuery parses arbitrary text as a query: no panic, and a query
// that parses compiles and matches without panicking.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"level":"ERROR"}`, `{"metadata.amount":{"$gte":1000}}`,
		`{"$or":[{"level":{"$in":["ERROR","CRITICAL"]}},{"metadata.retry":{"$exists":true}}]}`,
		`{"timestamp":{"$gte":"2026-03-01T00:00:00Z","$lt":"2026-03-02T00:00:00Z"}}`,
		`{"message":{"$regex":"^pay","$options":"i"}}`, `{"$not":{"seq":{"$lt":10}}}`,
		`{"metadata.tags":{"$contains":"x"}}`, `{"metadata.a.0.b":{"$not":{"$eq":null}}}`,
		`{"$nor":[{"pid":1}]}`, `[`, `{"a":`, `{"metadata.a":1e999}`,
	} {
		f.Add(s)
	}
	e := sampleEntry(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidQuery)
			return
		}
		cq, err := compileQuery(q)
		require.NoError(t, err, "a parsed query compiles")
		cq.match(e)
		cf, err := compileFilter(Filter{Query: q})
		require.NoError(t, err)
		_ = cf.empty()
	})
}

// FuzzMatch matches a query and a search against an arbitrary payload: the
// decoder, the matcher and the searcher must not panic, whatever the bytes.
func FuzzMatch(f *testing.F) {
	f.Add(`{"level":"REVENUE"}`, "pay", []byte(sampleEntryJSON))
	f.Add(`{"metadata.items.sku":"y2"}`, `"hi"`, []byte(sampleEntryJSON))
	f.Add(`{"metadata.a":{"$contains":"\u00e4"}}`, "Ä", []byte(`{"id":"019aa8a1-6e58-7c3a-9b1e-2f5d0c8a4e61","timestamp":"2026-03-01T10:00:00.000000000Z","level":"INFO","message":"a\"b\\c\u003cd","metadata":{"a":"\u00c4rger","b":[1,{"c":null}]},"hostname":"h","pid":1,"tenantId":"t","seq":0}`))
	f.Add(`{"message":{"$regex":"."}}`, "x", []byte(`{"seq":0}`))
	f.Add(`{}`, "", []byte(`{"id":"x","metadata":{"k":"\ud800"},"seq":0}`))
	f.Fuzz(func(t *testing.T, query, search string, payload []byte) {
		q, err := ParseQuery(query)
		if err != nil {
			q = nil
		}
		var d entryDecoder
		var e Entry
		decodeErr := d.decode(payload, 0, "", &e)
		if q != nil && decodeErr == nil {
			cq, err := compileQuery(q)
			require.NoError(t, err)
			cq.match(&e)
		}
		if search == "" {
			return
		}
		st := &scanState{}
		s := newSearcher(search)
		s.matchRaw(payload, nil, st)
		s.matchRaw(payload, asciiLower(nil, payload), st)
		if decodeErr == nil {
			s.matchEntry(&e, st)
		}
		fastLevelTime(payload)
		entryRegions(payload)
	})
}
