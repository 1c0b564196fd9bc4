package treeoflife

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors of the read side. Both are wrapped with a message naming the bad
// part; test for them with errors.Is.
var (
	// ErrInvalidFilter is returned for a Filter that cannot mean anything: a
	// negative Limit, Since after Until, FromSeq after ToSeq, an unknown
	// level, or Reverse on Tail.
	ErrInvalidFilter = errors.New("treeoflife: invalid filter")

	// ErrInvalidQuery is returned for a Query that is not valid: malformed
	// JSON, an unknown field or operator, an operand of the wrong type for
	// its operator or field, an invalid regular expression, or nesting
	// deeper than MaxQueryDepth. A query is checked in full before any record
	// is read, so a bad query is never mistaken for one that matches nothing.
	ErrInvalidQuery = errors.New("treeoflife: invalid query")
)

// DefaultReadLimit is the number of entries Read returns when Filter.Limit is
// zero, as the read() of the system this library replaces did.
const DefaultReadLimit = 100

// DefaultQueryLimit is the most entries Search and Query return when
// Filter.Limit is zero; more matches are ErrTooManyEntries.
const DefaultQueryLimit = 10_000

// ErrTooManyEntries is returned, with the first DefaultQueryLimit entries,
// by a Search or Query without a limit that more entries match.
var ErrTooManyEntries = errors.New("treeoflife: too many entries for one slice")

// MaxQueryDepth bounds how deeply a query may nest ($and inside $or inside
// $not, operator documents, literal arrays and objects).
const MaxQueryDepth = 32

// maxQuerySize bounds the JSON text ParseQuery accepts.
const maxQuerySize = 1 << 20

// Filter selects entries. Every set field narrows the selection; the zero
// Filter selects every entry. The level, time and sequence constraints (and
// those a Query implies) let a read skip whole index blocks of 256 records
// without reading them.
type Filter struct {
	// Levels, when not empty, keeps entries at one of these levels.
	Levels []Level

	// Since keeps entries whose timestamp is at or after it (inclusive);
	// Until keeps those strictly before it (exclusive). A zero time leaves
	// that side open. Since after Until is an error; Since equal to Until
	// selects nothing.
	Since, Until time.Time

	// FromSeq keeps entries with Seq >= FromSeq (inclusive); ToSeq, when not
	// zero, keeps those with Seq < ToSeq (exclusive). ToSeq zero means no
	// upper bound. FromSeq after a non-zero ToSeq is an error.
	FromSeq, ToSeq uint64

	// Limit caps the number of entries returned. Zero means no limit for
	// Entries and Tail, DefaultReadLimit for Read, and DefaultQueryLimit
	// (and ErrTooManyEntries beyond it) for Search and Query. Negative is
	// an error. Which entries a limit keeps depends on the method: Read keeps
	// the newest, the others the first in iteration order, and Tail the
	// newest existing ones before it follows.
	Limit int

	// Reverse iterates newest first. Read returns its (newest) entries
	// newest first instead of oldest first.
	Reverse bool

	// Search, when not empty, keeps entries whose message, level, or
	// metadata keys or values contain it, ignoring case (Unicode lower-case
	// mapping, as strings.ToLower). A match lies within one key or value:
	// "amount" and "1000" match {"amount":1000}, "amount:1000" does not.
	// Numbers, true, false and null are matched as their JSON text. The id,
	// timestamp, hostname, pid and tenantId are not searched (use a Query).
	Search string

	// Query, when not nil, keeps entries it matches; see Query.
	Query Query

	// RawMetadata leaves Entry.Metadata nil and sets Entry.RawMetadata to
	// the metadata object as stored (JSON), for callers that pass it on,
	// decode it into their own types, or do not need it: building
	// map[string]any is most of the cost of reading entries with nested
	// metadata. Search and Query match against the metadata either way.
	//
	// From Entries and Tail, RawMetadata shares memory that the iteration
	// reuses (as bufio.Scanner.Bytes and sql.RawBytes do), so that reading
	// allocates nothing for it: it is valid only in the loop body that
	// receives the entry. To keep it, copy it (slices.Clone, or decode
	// it). Read, Search and Query return entries whose RawMetadata is
	// their own.
	RawMetadata bool
}

// allLevels has bit l set for every valid level l.
const allLevels uint16 = (1<<(LevelSystem+1) - 1) &^ 1

// compiledFilter is a Filter checked and reduced to what a scan tests.
type compiledFilter struct {
	levels       uint16 // bit l: level l may match
	since, until int64  // Unix nanoseconds, [since, until)
	from, to     uint64 // [from, to)
	limit        int    // 0: none
	reverse      bool
	search       *searcher
	query        *compiledQuery
	raw          bool // Filter.RawMetadata
	// cheap is set when level or time constrain the records, so that the
	// fixed-position fields are checked before an entry is decoded.
	cheap bool
}

func compileFilter(f Filter) (*compiledFilter, error) {
	cf := &compiledFilter{levels: allLevels, since: math.MinInt64, until: math.MaxInt64, to: math.MaxUint64, reverse: f.Reverse, raw: f.RawMetadata}
	if f.Limit < 0 {
		return nil, fmt.Errorf("%w: Limit %d is negative", ErrInvalidFilter, f.Limit)
	}
	cf.limit = f.Limit
	if len(f.Levels) > 0 {
		cf.levels = 0
		for _, lv := range f.Levels {
			if !lv.valid() {
				return nil, fmt.Errorf("%w: Levels holds unknown level %d", ErrInvalidFilter, lv)
			}
			cf.levels |= 1 << lv
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until) {
		return nil, fmt.Errorf("%w: Since %s is after Until %s", ErrInvalidFilter, f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	if !f.Since.IsZero() {
		cf.since = unixNanoClamped(f.Since)
	}
	if !f.Until.IsZero() {
		cf.until = unixNanoClamped(f.Until)
	}
	if f.ToSeq != 0 {
		if f.FromSeq > f.ToSeq {
			return nil, fmt.Errorf("%w: FromSeq %d is after ToSeq %d", ErrInvalidFilter, f.FromSeq, f.ToSeq)
		}
		cf.to = f.ToSeq
	}
	cf.from = f.FromSeq
	if f.Search != "" {
		cf.search = newSearcher(f.Search)
	}
	if f.Query != nil {
		q, err := compileQuery(f.Query)
		if err != nil {
			return nil, err
		}
		cf.query = q
		// What the query implies about level, time and seq narrows the
		// blocks to read; the query itself is still matched on every entry.
		cf.levels &= q.levels
		cf.since = max(cf.since, q.since)
		cf.until = min(cf.until, q.until)
		cf.from = max(cf.from, q.from)
		cf.to = min(cf.to, q.to)
	}
	cf.cheap = cf.levels != allLevels || cf.since != math.MinInt64 || cf.until != math.MaxInt64
	return cf, nil
}

// empty reports whether the constraints exclude everything.
func (cf *compiledFilter) empty() bool {
	return cf.levels == 0 || cf.since >= cf.until || cf.from >= cf.to
}

var (
	minTimeNanos = time.Unix(0, math.MinInt64)
	maxTimeNanos = time.Unix(0, math.MaxInt64)
)

// unixNanoClamped is t.UnixNano, saturated where int64 nanoseconds end
// (years 1677 and 2262), where UnixNano's result is undefined.
func unixNanoClamped(t time.Time) int64 {
	switch {
	case t.Before(minTimeNanos):
		return math.MinInt64
	case t.After(maxTimeNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Query selects entries in the style of a MongoDB filter document: a map
// from field to condition, where every condition must hold.
//
//	{"level": "REVENUE", "metadata.amount": {"$gte": 1000}}
//	{"$or": [{"level": {"$in": ["ERROR", "CRITICAL"]}}, {"metadata.retry": {"$exists": true}}]}
//
// # Fields
//
// Top-level fields go by their stored JSON names: seq, id, timestamp, level,
// message, hostname, pid, tenantId, and metadata. Paths with dots reach into
// the metadata: "metadata.customer.country". A numeric path element indexes
// an array ("metadata.items.0.sku"); any other element applied to an array
// looks into each of its objects. Metadata keys that contain a dot cannot be
// addressed. Any other field name is an error.
//
// # Conditions
//
// A condition is a value (meaning $eq) or a document of operators:
//
//	$eq $ne              equal, not equal (a missing field is not equal)
//	$gt $gte $lt $lte    ordered comparison of numbers, times or strings
//	$in $nin             equal to one of / none of an array of values
//	$exists              true: the field is present (even if null); false: absent
//	$regex [$options]    RE2 regular expression (regexp package) on a string;
//	                     $options may hold i, m and s
//	$contains            case-insensitive substring of a string; for an array,
//	                     an element that contains (strings) or equals it
//	$not                 a document of operators that must not all hold
//
// and at the top of a document (or nested):
//
//	$and $or $nor        arrays of query documents
//	$not                 a query document that must not match
//
// # Types
//
// Numbers compare as numbers whatever their JSON or Go type (1000, 1000.0
// and int64(1000) are equal). A string operand that parses as an RFC 3339
// time, and a time.Time operand, compare as times against the timestamp
// field and against metadata strings that parse as RFC 3339 times; other
// strings compare byte-wise. The level field compares by name,
// case-insensitively ("error" matches ERROR) and has no order. As in
// MongoDB, a condition on a field holding an array holds when it holds for
// the array or for one of its elements, and {"field": null} also matches a
// missing field.
//
// # Errors
//
// An operand whose type an operator or field cannot use is an error when the
// query is compiled (ErrInvalidQuery): $gt with true, a timestamp that is not
// an RFC 3339 time, seq compared with a string, level with an unknown name,
// $regex with a number. A stored value of a type the operand cannot compare
// with (a metadata string compared with $gte 1000) simply does not match.
//
// A Query is compiled before any record is read; the methods that take one
// validate it on every call, which costs microseconds.
type Query map[string]any

// ParseQuery parses a query from JSON text and checks it. Numbers keep their
// exact text (json.Number), so large integers compare exactly.
func ParseQuery(s string) (Query, error) {
	if len(s) > maxQuerySize {
		return nil, fmt.Errorf("%w: %d bytes of JSON (limit %d)", ErrInvalidQuery, len(s), maxQuerySize)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %v", ErrInvalidQuery, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: malformed JSON: data after the query document", ErrInvalidQuery)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a query is a JSON object, not %s", ErrInvalidQuery, describe(v))
	}
	if _, err := compileQuery(Query(m)); err != nil {
		return nil, err
	}
	return Query(m), nil
}

// compiledQuery is a checked Query, and what it implies about the fields the
// indexes summarise, to skip blocks with.
type compiledQuery struct {
	root   qnode
	levels uint16
	since  int64
	until  int64
	from   uint64
	to     uint64
}

func compileQuery(q Query) (*compiledQuery, error) {
	root, err := compileDoc(map[string]any(q), "", 1)
	if err != nil {
		return nil, err
	}
	cq := &compiledQuery{root: root, levels: allLevels, since: math.MinInt64, until: math.MaxInt64, to: math.MaxUint64}
	cq.hint(root)
	return cq, nil
}

func (q *compiledQuery) match(e *Entry) bool { return q.root.match(e) }

// hint narrows the index constraints from the conditions every match must
// meet: the top-level document and $and, never $or, $nor or $not. It only
// ever narrows to what the conditions require, so it never excludes a match.
func (q *compiledQuery) hint(n qnode) {
	switch n := n.(type) {
	case andNode:
		for _, c := range n {
			q.hint(c)
		}
	case *fieldNode:
		for i := range n.preds {
			q.hintPred(n.field, &n.preds[i])
		}
	}
}

func (q *compiledQuery) hintPred(f fieldKind, p *pred) {
	switch f {
	case fieldLevel:
		var mask uint16
		switch p.kind {
		case predEq:
			mask = levelBit(&p.arg)
		case predIn:
			for i := range p.args {
				mask |= levelBit(&p.args[i])
			}
		default:
			return
		}
		if p.negate {
			q.levels &^= mask
		} else {
			q.levels &= mask
		}
	case fieldTime:
		if p.negate || p.arg.kind != kindTime {
			return
		}
		ns := unixNanoClamped(p.arg.t)
		switch p.kind {
		case predEq:
			q.since, q.until = max(q.since, ns), min(q.until, satAdd(ns))
		case predGt:
			q.since = max(q.since, satAdd(ns))
		case predGte:
			q.since = max(q.since, ns)
		case predLt:
			q.until = min(q.until, ns)
		case predLte:
			q.until = min(q.until, satAdd(ns))
		}
	case fieldSeq:
		if p.negate || p.arg.kind != kindNum || !p.arg.n.isInt {
			return
		}
		n := p.arg.n.i
		switch p.kind {
		case predEq:
			if n < 0 {
				q.to = 0
				return
			}
			q.from, q.to = max(q.from, uint64(n)), min(q.to, uint64(n)+1)
		case predGt:
			if n >= 0 {
				q.from = max(q.from, uint64(n)+1)
			}
		case predGte:
			if n > 0 {
				q.from = max(q.from, uint64(n))
			}
		case predLt:
			q.to = min(q.to, uint64(max(n, 0)))
		case predLte:
			if n < 0 {
				q.to = 0
			} else {
				q.to = min(q.to, uint64(n)+1)
			}
		}
	}
}

func satAdd(ns int64) int64 {
	if ns == math.MaxInt64 {
		return ns
	}
	return ns + 1
}

func levelBit(o *operand) uint16 {
	if o.kind == kindLevel {
		return 1 << o.lv
	}
	return 0
}

// qnode is a compiled query document or condition.
type qnode interface{ match(e *Entry) bool }

type (
	andNode []qnode
	orNode  []qnode
	norNode []qnode
	notNode struct{ n qnode }
)

func (n andNode) match(e *Entry) bool {
	for _, c := range n {
		if !c.match(e) {
			return false
		}
	}
	return true
}

func (n orNode) match(e *Entry) bool {
	for _, c := range n {
		if c.match(e) {
			return true
		}
	}
	return false
}

func (n norNode) match(e *Entry) bool { return !orNode(n).match(e) }
func (n notNode) match(e *Entry) bool { return !n.n.match(e) }

// fieldKind is the field a condition reads.
type fieldKind uint8

const (
	fieldMeta fieldKind = iota // metadata, or a path into it
	fieldSeq
	fieldID
	fieldTime
	fieldLevel
	fieldMessage
	fieldHostname
	fieldPID
	fieldTenant
)

var topFields = map[string]fieldKind{
	"seq": fieldSeq, "id": fieldID, "timestamp": fieldTime, "level": fieldLevel, "message": fieldMessage,
	"hostname": fieldHostname, "pid": fieldPID, "tenantId": fieldTenant, "metadata": fieldMeta,
}

const fieldNames = "seq, id, timestamp, level, message, hostname, pid, tenantId, metadata and metadata.<key>"

// fieldNode is the conditions on one field; all must hold.
type fieldNode struct {
	path  string
	field fieldKind
	sub   []string // for fieldMeta: the path below metadata
	preds []pred
}

type predKind uint8

const (
	predEq predKind = iota
	predGt
	predGte
	predLt
	predLte
	predIn
	predExists
	predRegex
	predContains
	predNot
)

// pred is one operator. negate turns $eq into $ne, $in into $nin and
// $exists:true into $exists:false: the negation of "some value satisfies".
type pred struct {
	kind   predKind
	negate bool
	arg    operand
	args   []operand // $in, $nin
	re     *regexp.Regexp
	lower  string // $contains with a string: its lower-case form
	sub    []pred // $not
}

// valueKind is the type of a compiled operand.
type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindNum
	kindStr
	kindTime
	kindLevel
	kindArr
	kindObj
)

// operand is a compiled query value.
type operand struct {
	kind   valueKind
	b      bool
	n      number
	s      string
	t      time.Time // kindTime; and kindStr when isTime
	isTime bool      // kindStr that parses as an RFC 3339 time
	lv     Level
	arr    []operand
	obj    map[string]operand
}

// number is a JSON number: exact when it is an integer that fits an int64,
// a float64 otherwise (f is always set).
type number struct {
	i     int64
	f     float64
	isInt bool
}

func cmpNum(a, b number) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	switch {
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	}
	return 0
}

func intNumber(i int64) number { return number{i: i, f: float64(i), isInt: true} }

func floatNumber(f float64) number {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return number{i: int64(f), f: f, isInt: true}
	}
	return number{f: f}
}

func parseNumber(s string) (number, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intNumber(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return number{}, false // out of range, or not a JSON number (NaN, Inf)
	}
	return floatNumber(f), true
}

// toNumber converts a stored or Go numeric value.
func toNumber(v any) (number, bool) {
	switch x := v.(type) {
	case float64:
		return floatNumber(x), true
	case json.Number:
		return parseNumber(string(x))
	case int:
		return intNumber(int64(x)), true
	case uint64:
		if x <= math.MaxInt64 {
			return intNumber(int64(x)), true
		}
		return number{f: float64(x)}, true
	}
	return goNumber(v)
}

// goNumber converts any Go numeric kind, for operands built in Go.
func goNumber(v any) (number, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intNumber(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return intNumber(int64(u)), true
		}
		return number{f: float64(rv.Uint())}, true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return number{}, false
		}
		return floatNumber(f), true
	}
	return number{}, false
}

// parseTimeString parses an RFC 3339 time, rejecting cheaply what cannot be one.
func parseTimeString(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	if ns, ok := parseStoredTime(s); ok {
		return time.Unix(0, ns).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (f *fieldNode) match(e *Entry) bool {
	var small [4]any
	vals := f.resolve(e, small[:0])
	for i := range f.preds {
		if !f.preds[i].holds(vals) {
			return false
		}
	}
	return true
}

// resolve appends the values the field's path reaches in e; none when it is
// missing.
func (f *fieldNode) resolve(e *Entry, out []any) []any {
	switch f.field {
	case fieldSeq:
		return append(out, e.Seq)
	case fieldID:
		return append(out, e.ID)
	case fieldTime:
		return append(out, e.Time)
	case fieldLevel:
		return append(out, e.Level)
	case fieldMessage:
		return append(out, e.Message)
	case fieldHostname:
		return append(out, e.Hostname)
	case fieldPID:
		return append(out, e.PID)
	case fieldTenant:
		if e.Tenant == "" {
			return append(out, nil)
		}
		return append(out, e.Tenant)
	}
	var m any = e.Metadata
	if e.Metadata == nil {
		m = map[string]any{}
	}
	return walkPath(m, f.sub, out, 0)
}

func walkPath(cur any, segs []string, out []any, depth int) []any {
	if len(segs) == 0 {
		return append(out, cur)
	}
	if depth > maxDecodeDepth {
		return out
	}
	switch c := cur.(type) {
	case map[string]any:
		if v, ok := c[segs[0]]; ok {
			out = walkPath(v, segs[1:], out, depth+1)
		}
	case []any:
		if i, err := strconv.Atoi(segs[0]); err == nil && i >= 0 && isDigits(segs[0]) {
			if i < len(c) {
				out = walkPath(c[i], segs[1:], out, depth+1)
			}
			return out
		}
		for _, el := range c {
			if m, ok := el.(map[string]any); ok {
				out = walkPath(m, segs, out, depth+1)
			}
		}
	}
	return out
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// holds evaluates the operator over the values the path reached.
func (p *pred) holds(vals []any) bool {
	switch p.kind {
	case predExists:
		return (len(vals) > 0) != p.negate
	case predNot:
		for i := range p.sub {
			if !p.sub[i].holds(vals) {
				return true
			}
		}
		return false
	}
	found := false
	if len(vals) == 0 {
		// {"f": null} and {"f": {"$in": [null]}} match a missing field.
		found = p.matchesNull()
	}
	for _, v := range vals {
		if p.test(v) {
			found = true
			break
		}
	}
	return found != p.negate
}

func (p *pred) matchesNull() bool {
	switch p.kind {
	case predEq:
		return p.arg.kind == kindNull
	case predIn:
		for i := range p.args {
			if p.args[i].kind == kindNull {
				return true
			}
		}
	}
	return false
}

// test reports whether v, or one of its elements if it is an array,
// satisfies the operator.
func (p *pred) test(v any) bool {
	if p.testOne(v) {
		return true
	}
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if p.testOne(el) {
				return true
			}
		}
	}
	return false
}

func (p *pred) testOne(v any) bool {
	switch p.kind {
	case predEq:
		return equalValue(v, &p.arg, 0)
	case predIn:
		for i := range p.args {
			if equalValue(v, &p.args[i], 0) {
				return true
			}
		}
		return false
	case predGt, predGte, predLt, predLte:
		c, ok := compareValue(v, &p.arg)
		if !ok {
			return false
		}
		switch p.kind {
		case predGt:
			return c > 0
		case predGte:
			return c >= 0
		case predLt:
			return c < 0
		}
		return c <= 0
	case predRegex:
		s, ok := stringOf(v)
		return ok && p.re.MatchString(s)
	case predContains:
		if p.arg.kind == kindStr {
			if s, ok := stringOf(v); ok {
				return containsFold(s, p.lower)
			}
		}
		return equalValue(v, &p.arg, 0)
	}
	return false
}

// stringOf returns v as text for $regex and $contains: a string, or a
// level's name.
func stringOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case Level:
		return x.String(), true
	}
	return "", false
}

// containsFold reports whether s contains lower, which is already in lower
// case, ignoring case as strings.ToLower does.
func containsFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.Contains(strings.ToLower(s), lower)
		}
	}
	return strings.Contains(s, lower)
}

func equalValue(v any, o *operand, depth int) bool {
	if depth > maxDecodeDepth {
		return false
	}
	switch o.kind {
	case kindNull:
		return v == nil
	case kindBool:
		b, ok := v.(bool)
		return ok && b == o.b
	case kindNum:
		n, ok := toNumber(v)
		return ok && cmpNum(n, o.n) == 0
	case kindStr:
		switch x := v.(type) {
		case string:
			if x == o.s {
				return true
			}
			if o.isTime {
				t, ok := parseTimeString(x)
				return ok && t.Equal(o.t)
			}
		case time.Time:
			return o.isTime && x.Equal(o.t)
		}
		return false
	case kindTime:
		t, ok := timeOf(v)
		return ok && t.Equal(o.t)
	case kindLevel:
		lv, ok := v.(Level)
		return ok && lv == o.lv
	case kindArr:
		a, ok := v.([]any)
		if !ok || len(a) != len(o.arr) {
			return false
		}
		for i := range a {
			if !equalValue(a[i], &o.arr[i], depth+1) {
				return false
			}
		}
		return true
	case kindObj:
		m, ok := v.(map[string]any)
		if !ok || len(m) != len(o.obj) {
			return false
		}
		for k, ov := range o.obj {
			mv, ok := m[k]
			if !ok || !equalValue(mv, &ov, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func timeOf(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		return parseTimeString(x)
	}
	return time.Time{}, false
}

// compareValue orders v against the operand; ok is false when they are of
// types that do not compare.
func compareValue(v any, o *operand) (int, bool) {
	switch o.kind {
	case kindNum:
		n, ok := toNumber(v)
		if !ok {
			return 0, false
		}
		return cmpNum(n, o.n), true
	case kindStr:
		if !o.isTime {
			s, ok := v.(string)
			if !ok {
				return 0, false
			}
			return strings.Compare(s, o.s), true
		}
	case kindTime:
	default:
		return 0, false
	}
	t, ok := timeOf(v)
	if !ok {
		return 0, false
	}
	return t.Compare(o.t), true
}

// Compilation.

func queryError(where, format string, args ...any) error {
	if where == "" {
		where = "query"
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidQuery, where, fmt.Sprintf(format, args...))
}

func joinPath(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func compileDoc(m map[string]any, where string, depth int) (qnode, error) {
	if depth > MaxQueryDepth {
		return nil, queryError(where, "nested more than %d levels deep", MaxQueryDepth)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic errors and evaluation order
	n := make(andNode, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		at := joinPath(where, k)
		if strings.HasPrefix(k, "$") {
			switch k {
			case "$and", "$or", "$nor":
				list, ok := asSlice(v)
				if !ok || len(list) == 0 {
					return nil, queryError(at, "want a non-empty array of query documents, got %s", describe(v))
				}
				subs := make([]qnode, len(list))
				for i, el := range list {
					sm, ok := asMap(el)
					if !ok {
						return nil, queryError(fmt.Sprintf("%s[%d]", at, i), "want a query document, got %s", describe(el))
					}
					s, err := compileDoc(sm, fmt.Sprintf("%s[%d]", at, i), depth+1)
					if err != nil {
						return nil, err
					}
					subs[i] = s
				}
				switch k {
				case "$and":
					n = append(n, andNode(subs))
				case "$or":
					n = append(n, orNode(subs))
				default:
					n = append(n, norNode(subs))
				}
			case "$not":
				sm, ok := asMap(v)
				if !ok {
					return nil, queryError(at, "want a query document, got %s", describe(v))
				}
				s, err := compileDoc(sm, at, depth+1)
				if err != nil {
					return nil, err
				}
				n = append(n, notNode{s})
			default:
				return nil, queryError(at, "unknown operator %q at the top of a document (want $and, $or, $nor or $not, or a field name)", k)
			}
			continue
		}
		f, err := compileField(k, v, at, depth+1)
		if err != nil {
			return nil, err
		}
		n = append(n, f)
	}
	return n, nil
}

func compileField(path string, cond any, where string, depth int) (*fieldNode, error) {
	f := &fieldNode{path: path}
	head, rest, dotted := strings.Cut(path, ".")
	fk, ok := topFields[head]
	if !ok || dotted && fk != fieldMeta {
		return nil, queryError(where, "unknown field %q (fields are %s)", path, fieldNames)
	}
	f.field = fk
	if dotted {
		f.sub = strings.Split(rest, ".")
		for _, s := range f.sub {
			if s == "" {
				return nil, queryError(where, "empty element in path %q", path)
			}
		}
		if len(f.sub) > MaxQueryDepth {
			return nil, queryError(where, "path %q has more than %d elements", path, MaxQueryDepth)
		}
	}
	if ops, ok := asMap(cond); ok && hasOperator(ops) {
		preds, err := compilePreds(fk, ops, where, depth)
		if err != nil {
			return nil, err
		}
		f.preds = preds
		return f, nil
	}
	p, err := compilePred(fk, "$eq", cond, nil, where, depth)
	if err != nil {
		return nil, err
	}
	f.preds = []pred{p}
	return f, nil
}

// hasOperator reports whether a condition document holds operators (then it
// must hold nothing else) rather than being a literal object to compare.
func hasOperator(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") {
			return true
		}
	}
	return false
}

func compilePreds(fk fieldKind, ops map[string]any, where string, depth int) ([]pred, error) {
	if depth > MaxQueryDepth {
		return nil, queryError(where, "nested more than %d levels deep", MaxQueryDepth)
	}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		if !strings.HasPrefix(k, "$") {
			return nil, queryError(where, "condition mixes operators with the plain key %q", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if _, ok := ops["$options"]; ok {
		if _, ok := ops["$regex"]; !ok {
			return nil, queryError(joinPath(where, "$options"), "$options without $regex")
		}
	}
	preds := make([]pred, 0, len(keys))
	for _, k := range keys {
		if k == "$options" {
			continue
		}
		p, err := compilePred(fk, k, ops[k], ops, joinPath(where, k), depth)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	return preds, nil
}

func compilePred(fk fieldKind, op string, arg any, ops map[string]any, where string, depth int) (pred, error) {
	var p pred
	switch op {
	case "$eq", "$ne":
		p.kind, p.negate = predEq, op == "$ne"
		o, err := compileOperand(arg, where, depth+1)
		if err != nil {
			return p, err
		}
		if p.arg, err = fieldOperand(fk, op, o, where); err != nil {
			return p, err
		}
	case "$gt", "$gte", "$lt", "$lte":
		p.kind = map[string]predKind{"$gt": predGt, "$gte": predGte, "$lt": predLt, "$lte": predLte}[op]
		o, err := compileOperand(arg, where, depth+1)
		if err != nil {
			return p, err
		}
		switch o.kind {
		case kindNum, kindStr, kindTime:
		default:
			return p, queryError(where, "%s compares numbers, strings and times, not %s", op, kindName(o.kind))
		}
		if fk == fieldLevel {
			return p, queryError(where, "levels have no order; use $eq, $ne, $in or $nin")
		}
		if p.arg, err = fieldOperand(fk, op, o, where); err != nil {
			return p, err
		}
	case "$in", "$nin":
		p.kind, p.negate = predIn, op == "$nin"
		list, ok := asSlice(arg)
		if !ok {
			return p, queryError(where, "want an array, got %s", describe(arg))
		}
		p.args = make([]operand, len(list))
		for i, el := range list {
			at := fmt.Sprintf("%s[%d]", where, i)
			o, err := compileOperand(el, at, depth+1)
			if err != nil {
				return p, err
			}
			if p.args[i], err = fieldOperand(fk, op, o, at); err != nil {
				return p, err
			}
		}
	case "$exists":
		b, ok := arg.(bool)
		if !ok {
			return p, queryError(where, "want true or false, got %s", describe(arg))
		}
		p.kind, p.negate = predExists, !b
	case "$regex":
		s, ok := arg.(string)
		if !ok {
			return p, queryError(where, "want a string, got %s", describe(arg))
		}
		if err := textField(fk, op, where); err != nil {
			return p, err
		}
		flags := ""
		if o, ok := ops["$options"]; ok {
			fl, ok := o.(string)
			if !ok {
				return p, queryError(joinPath(strings.TrimSuffix(where, ".$regex"), "$options"), "want a string of flags, got %s", describe(o))
			}
			for _, c := range fl {
				if c != 'i' && c != 'm' && c != 's' {
					return p, queryError(joinPath(strings.TrimSuffix(where, ".$regex"), "$options"), "unknown flag %q (want i, m or s)", c)
				}
				if !strings.ContainsRune(flags, c) {
					flags += string(c)
				}
			}
		}
		if flags != "" {
			s = "(?" + flags + ")" + s
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return p, queryError(where, "invalid regular expression: %v", err)
		}
		p.kind, p.re = predRegex, re
	case "$contains":
		o, err := compileOperand(arg, where, depth+1)
		if err != nil {
			return p, err
		}
		switch o.kind {
		case kindStr, kindNum, kindBool:
		default:
			return p, queryError(where, "want a string, number or boolean, got %s", kindName(o.kind))
		}
		if err := textField(fk, op, where); err != nil {
			return p, err
		}
		if fk != fieldMeta && o.kind != kindStr {
			return p, queryError(where, "%s of a %s field wants a string, got %s", op, fieldType(fk), kindName(o.kind))
		}
		o.isTime = false
		p.kind, p.arg, p.lower = predContains, o, strings.ToLower(o.s)
	case "$not":
		ops, ok := asMap(arg)
		if !ok || !hasOperator(ops) {
			return p, queryError(where, "want a document of operators, got %s", describe(arg))
		}
		sub, err := compilePreds(fk, ops, where, depth+1)
		if err != nil {
			return p, err
		}
		p.kind, p.sub = predNot, sub
	default:
		return p, queryError(where, "unknown operator %q", op)
	}
	return p, nil
}

// textField refuses $regex and $contains on fields that hold no text.
func textField(fk fieldKind, op, where string) error {
	switch fk {
	case fieldSeq, fieldPID, fieldTime:
		return queryError(where, "%s applies to text; this field holds a %s", op, fieldType(fk))
	}
	return nil
}

func fieldType(fk fieldKind) string {
	switch fk {
	case fieldSeq, fieldPID:
		return "number"
	case fieldTime:
		return "time"
	case fieldLevel:
		return "level"
	case fieldMeta:
		return "metadata"
	}
	return "string"
}

// fieldOperand checks an operand against the type of a top-level field and
// converts it to the form the field compares with.
func fieldOperand(fk fieldKind, op string, o operand, where string) (operand, error) {
	bad := func() (operand, error) {
		return o, queryError(where, "%s of a %s field wants a %s, got %s", op, fieldType(fk), fieldType(fk), kindName(o.kind))
	}
	switch fk {
	case fieldMeta:
		return o, nil
	case fieldSeq, fieldPID:
		if o.kind != kindNum {
			return bad()
		}
	case fieldID, fieldMessage, fieldHostname:
		if o.kind != kindStr {
			return bad()
		}
		o.isTime = false
	case fieldTenant:
		if o.kind == kindNull && (op == "$eq" || op == "$ne" || op == "$in" || op == "$nin") {
			return o, nil
		}
		if o.kind != kindStr {
			return o, queryError(where, "%s of tenantId wants a string or null, got %s", op, kindName(o.kind))
		}
		o.isTime = false
	case fieldTime:
		switch {
		case o.kind == kindTime:
		case o.kind == kindStr && o.isTime:
			o = operand{kind: kindTime, t: o.t}
		case o.kind == kindStr:
			return o, queryError(where, "timestamp wants an RFC 3339 time, got %q", o.s)
		default:
			return o, queryError(where, "timestamp wants an RFC 3339 time, got %s", kindName(o.kind))
		}
	case fieldLevel:
		if o.kind != kindStr {
			return o, queryError(where, "level wants a level name, got %s", kindName(o.kind))
		}
		lv, err := ParseLevel(o.s)
		if err != nil {
			return o, queryError(where, "unknown level %q (want one of INFO, WARN, ERROR, CRITICAL, AUDIT, SECURITY, REVENUE, SYSTEM)", o.s)
		}
		o = operand{kind: kindLevel, lv: lv}
	}
	return o, nil
}

// compileOperand converts a query value, from JSON or from Go, to an operand.
func compileOperand(v any, where string, depth int) (operand, error) {
	if depth > MaxQueryDepth {
		return operand{}, queryError(where, "nested more than %d levels deep", MaxQueryDepth)
	}
	switch x := v.(type) {
	case nil:
		return operand{kind: kindNull}, nil
	case bool:
		return operand{kind: kindBool, b: x}, nil
	case string:
		o := operand{kind: kindStr, s: x}
		o.t, o.isTime = parseTimeString(x)
		return o, nil
	case json.Number:
		n, ok := parseNumber(string(x))
		if !ok {
			return operand{}, queryError(where, "invalid number %q", string(x))
		}
		return operand{kind: kindNum, n: n}, nil
	case time.Time:
		return operand{kind: kindTime, t: x}, nil
	case Level:
		if !x.valid() {
			return operand{}, queryError(where, "unknown level %d", x)
		}
		return operand{kind: kindStr, s: x.String()}, nil
	}
	if n, ok := goNumber(v); ok {
		return operand{kind: kindNum, n: n}, nil
	}
	if m, ok := asMap(v); ok {
		if hasOperator(m) {
			return operand{}, queryError(where, "operators are not allowed inside a literal value")
		}
		o := operand{kind: kindObj, obj: make(map[string]operand, len(m))}
		for k, el := range m {
			c, err := compileOperand(el, joinPath(where, k), depth+1)
			if err != nil {
				return operand{}, err
			}
			o.obj[k] = c
		}
		return o, nil
	}
	if list, ok := asSlice(v); ok {
		o := operand{kind: kindArr, arr: make([]operand, len(list))}
		for i, el := range list {
			c, err := compileOperand(el, fmt.Sprintf("%s[%d]", where, i), depth+1)
			if err != nil {
				return operand{}, err
			}
			o.arr[i] = c
		}
		return o, nil
	}
	return operand{}, queryError(where, "unsupported value %s", describe(v))
}

// asMap returns v as a map with string keys: a JSON object, a Query, Fields,
// or any Go map keyed by strings.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case Query:
		return m, true
	case Fields:
		return m, true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	m := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m, true
}

// asSlice returns v as a list: a JSON array or any Go slice or array but
// []byte.
func asSlice(v any) ([]any, bool) {
	switch s := v.(type) {
	case []any:
		return s, true
	case []byte, nil, string:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func kindName(k valueKind) string {
	return [...]string{"null", "a boolean", "a number", "a string", "a time", "a level", "an array", "an object"}[k]
}

// describe names a value's type in an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + string(x)
	case []any:
		return "an array"
	case map[string]any, Query, Fields:
		return "an object"
	}
	if _, ok := goNumber(v); ok {
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("a value of type %T", v)
}
