package treeoflife

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Level is the kind of a record. The business levels (Audit, Security,
// Revenue, System) sit beside the usual severities, as in the system this
// library replaces.
type Level uint8

// The levels, in the order they are stored and counted.
const (
	LevelInfo Level = iota + 1
	LevelWarn
	LevelError
	LevelCritical
	LevelAudit
	LevelSecurity
	LevelRevenue
	LevelSystem
)

var levelNames = [...]string{
	LevelInfo:     "INFO",
	LevelWarn:     "WARN",
	LevelError:    "ERROR",
	LevelCritical: "CRITICAL",
	LevelAudit:    "AUDIT",
	LevelSecurity: "SECURITY",
	LevelRevenue:  "REVENUE",
	LevelSystem:   "SYSTEM",
}

// levels lists every valid level, in order.
var levels = [...]Level{LevelInfo, LevelWarn, LevelError, LevelCritical, LevelAudit, LevelSecurity, LevelRevenue, LevelSystem}

// Levels returns every valid level, in order, in a new slice the caller may
// modify.
func Levels() []Level { return append([]Level(nil), levels[:]...) }

// String returns the stored name of the level: "INFO", "WARN", "ERROR",
// "CRITICAL", "AUDIT", "SECURITY", "REVENUE" or "SYSTEM".
func (l Level) String() string {
	if l.valid() {
		return levelNames[l]
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

func (l Level) valid() bool { return l >= LevelInfo && l <= LevelSystem }

// ParseLevel returns the level named s, case-insensitively ("revenue",
// "REVENUE"). "WARNING" is accepted for LevelWarn.
func ParseLevel(s string) (Level, error) {
	for _, l := range levels {
		if equalFoldASCII(s, levelNames[l]) {
			return l, nil
		}
	}
	if equalFoldASCII(s, "WARNING") {
		return LevelWarn, nil
	}
	return 0, fmt.Errorf("%w: unknown level %q", ErrInvalidEntry, s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) {
	if !l.valid() {
		return nil, fmt.Errorf("%w: unknown level %d", ErrInvalidEntry, l)
	}
	return []byte(levelNames[l]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Fields is the metadata of an entry: any value encoding/json can encode,
// except NaN and ±Inf. Keys are stored sorted.
type Fields map[string]any

// Nesting limits, one set for the encoder and the decoder, so that whatever
// is logged can be read back. maxDepth bounds nesting in metadata (so that a
// cyclic map is an error, not a stack overflow): containers at levels
// 0..maxDepth below Fields. It is checked on the final encoded bytes of
// values encoding/json encodes (json.Marshaler, json.RawMessage, structs),
// not only on the maps and slices the encoder walks itself. The decoder
// (reader.go) allows maxDecodeDepth levels counted from the entry object.
const (
	maxDepth       = 32
	maxDecodeDepth = 2 * maxDepth
)

// The decoder must allow the entry object, the metadata object and the
// maxDepth+1 levels inside it: this does not compile otherwise.
const _ = uint(maxDecodeDepth - (maxDepth + 3))

// newEntryID returns a UUID version 7 (RFC 9562): 48 bits of Unix
// milliseconds, then random bits, so IDs sort roughly by time. It is an
// identifier, not a secret, so the runtime's fast generator is enough.
func appendEntryID(dst []byte, t time.Time) []byte {
	var u [16]byte
	ms := uint64(t.UnixMilli())
	r1, r2 := rand.Uint64(), rand.Uint64()
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(r1>>60)&0x0f
	u[7] = byte(r1 >> 52)
	u[8] = 0x80 | byte(r1>>44)&0x3f
	u[9] = byte(r1 >> 36)
	for i := 0; i < 6; i++ {
		u[10+i] = byte(r2 >> (8 * i))
	}
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[x>>4], hexd[x&0x0f]
		j += 2
	}
	return append(dst, b[:]...)
}

// timestampLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so
// stored timestamps sort as strings.
const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// A timestampSecond is the text of one second in timestampLayout, up to
// and including the decimal point: what consecutive timestamps share.
type timestampSecond struct {
	unix int64
	text [20]byte
}

// lastSecond is the second of the latest timestamp appendTimestamp wrote.
var lastSecond atomic.Pointer[timestampSecond]

// appendTimestamp appends t in timestampLayout; it is the hot path's
// replacement for t.UTC().AppendFormat(dst, timestampLayout). The date and
// time of day change once a second, so they are formatted once a second.
func appendTimestamp(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	s := lastSecond.Load()
	if s == nil || s.unix != sec {
		t := t.UTC()
		year, month, day := t.Date()
		if year < 0 || year > 9999 {
			return t.AppendFormat(dst, timestampLayout)
		}
		hour, min, second := t.Clock()
		s = &timestampSecond{unix: sec}
		b := s.text[:0]
		b = appendInt(b, year, 4)
		b = append(b, '-')
		b = appendInt(b, int(month), 2)
		b = append(b, '-')
		b = appendInt(b, day, 2)
		b = append(b, 'T')
		b = appendInt(b, hour, 2)
		b = append(b, ':')
		b = appendInt(b, min, 2)
		b = append(b, ':')
		b = appendInt(b, second, 2)
		_ = append(b, '.')
		lastSecond.Store(s)
	}
	dst = append(dst, s.text[:]...)
	// Nine digits of nanoseconds, two at a time, then 'Z'.
	const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
	ns := uint32(t.Nanosecond())
	var b [10]byte
	b[9] = 'Z'
	for i := 7; i > 0; i -= 2 {
		q := ns % 100
		ns /= 100
		b[i], b[i+1] = pairs[2*q], pairs[2*q+1]
	}
	b[0] = byte('0' + ns)
	return append(dst, b[:]...)
}

// appendInt appends v zero-padded to width digits.
func appendInt(dst []byte, v, width int) []byte {
	var b [9]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}

// appendEntryBody appends the stored JSON entry up to and including `"seq":`,
// the one part that depends on the sequence number, which the appender adds
// (digits and the closing brace) when it assigns it. Keeping seq last lets the
// caller's goroutine hash everything before it; see FORMAT.md.
func (l *ImmutableLogger) appendEntryBody(dst []byte, id []byte, t time.Time, level Level, msg string, m meta) ([]byte, error) {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","timestamp":"`...)
	dst = appendTimestamp(dst, t)
	dst = append(dst, `","level":"`...)
	dst = append(dst, levelNames[level]...)
	dst = append(dst, `","message":`...)
	var err error
	if dst, err = appendJSONString(dst, msg); err != nil {
		return dst, fmt.Errorf("%w: message: %v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"metadata":`...)
	if dst, err = m.appendTo(dst); err != nil {
		return dst, fmt.Errorf("%w: metadata%v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"hostname":`...)
	dst = append(dst, l.hostJSON...)
	dst = append(dst, `,"pid":`...)
	dst = strconv.AppendInt(dst, int64(l.pid), 10)
	dst = append(dst, `,"tenantId":`...)
	dst = append(dst, l.tenantJSON...)
	dst = append(dst, `,"seq":`...)
	return dst, nil
}

// meta is a record's metadata as a logging call holds it: Fields to encode,
// merged with fields encoded earlier (a ScopedLogger's), or a whole
// metadata object encoded earlier (the slog handler's).
type meta struct {
	fields Fields
	pre    []encodedField // sorted by key, each key once
	raw    []byte         // when not nil: the encoded object, used as is
	order  *fieldOrder    // when not nil: the keys of the Fields encoded with it before
}

// fieldOrder is the sorted keys of the last non-empty Fields a pooled
// encoder encoded, each with its encoding (`"key":`); none after Fields of
// more than maxOrderedFields keys or with a key that cannot be encoded. A
// service logs the same keys call after call; when a call's Fields have
// exactly these keys, looking each one up takes less than walking the map
// and sorting its keys, and the keys need not be escaped again.
type fieldOrder struct {
	keys []string
	enc  []byte
	ends []int // keys[i] is encoded as enc[ends[i-1]:ends[i]] (from 0 for i == 0)
}

// maxOrderedFields bounds the keys a fieldOrder remembers.
const maxOrderedFields = 16

// lookup returns fields' pairs in the order of o's keys, in fs's memory
// (fs is empty), if fields has exactly o's keys; else it returns fs and
// false.
func (o *fieldOrder) lookup(fs []field, fields Fields) ([]field, bool) {
	if o == nil || len(o.keys) == 0 || len(fields) != len(o.keys) {
		return fs, false
	}
	for _, k := range o.keys {
		v, ok := fields[k]
		if !ok {
			return fs[:0], false
		}
		fs = append(fs, field{k, v})
	}
	return fs, true
}

// sorted returns fields' pairs sorted by key, in fs's memory (fs is
// empty): by lookup when it can, else by walking the map and sorting,
// after which o remembers their keys. It reports whether o holds the
// encodings of their keys, in their order (see key).
func (o *fieldOrder) sorted(fs []field, fields Fields) ([]field, bool) {
	if fs, ok := o.lookup(fs, fields); ok {
		return fs, true
	}
	for k, v := range fields {
		fs = append(fs, field{k, v})
	}
	sortFields(fs)
	if o == nil || len(fs) == 0 {
		return fs, false
	}
	return fs, o.remember(fs)
}

// remember makes fs's keys, sorted, o's, and reports whether it did: not
// when there are more than maxOrderedFields or one cannot be encoded.
func (o *fieldOrder) remember(fs []field) bool {
	o.keys, o.enc, o.ends = o.keys[:0], o.enc[:0], o.ends[:0]
	if len(fs) > maxOrderedFields {
		return false
	}
	for _, f := range fs {
		var err error
		if o.enc, err = appendJSONString(o.enc, f.key); err != nil {
			o.keys, o.enc, o.ends = o.keys[:0], o.enc[:0], o.ends[:0]
			return false
		}
		o.enc = append(o.enc, ':')
		o.keys = append(o.keys, f.key)
		o.ends = append(o.ends, len(o.enc))
	}
	return true
}

// key returns the encoding of o's key i, `"key":`.
func (o *fieldOrder) key(i int) []byte {
	start := 0
	if i > 0 {
		start = o.ends[i-1]
	}
	return o.enc[start:o.ends[i]]
}

// appendTo appends the metadata object to dst. A key of fields replaces
// the pre-encoded field of the same key.
func (m *meta) appendTo(dst []byte) ([]byte, error) {
	if m.raw != nil {
		return append(dst, m.raw...), nil
	}
	var small [16]field
	fs, encoded := m.order.sorted(small[:0], m.fields)
	dst = append(dst, '{')
	var err error
	if len(m.pre) == 0 {
		for j := range fs {
			if j > 0 {
				dst = append(dst, ',')
			}
			if dst, err = m.appendField(dst, fs, j, encoded); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	i, j, n := 0, 0, 0
	for i < len(m.pre) || j < len(fs) {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		if j == len(fs) || i < len(m.pre) && m.pre[i].key < fs[j].key {
			dst = append(dst, m.pre[i].enc...)
			i++
			continue
		}
		if i < len(m.pre) && m.pre[i].key == fs[j].key {
			i++ // replaced by the call's field
		}
		if dst, err = m.appendField(dst, fs, j, encoded); err != nil {
			return dst, err
		}
		j++
	}
	return append(dst, '}'), nil
}

// appendField appends fs[j] as `"key":value`, the key as m.order encoded
// it when encoded (see fieldOrder.sorted).
func (m *meta) appendField(dst []byte, fs []field, j int, encoded bool) ([]byte, error) {
	k := fs[j].key
	if encoded {
		dst = append(dst, m.order.key(j)...)
	} else {
		var err error
		if dst, err = appendJSONString(dst, k); err != nil {
			return dst, wrapPath(k, fmt.Errorf("key: %w", err))
		}
		dst = append(dst, ':')
	}
	dst, err := appendJSONValue(dst, fs[j].value, 1)
	if err != nil {
		return dst, wrapPath(k, err)
	}
	return dst, nil
}

// encodedField is one metadata field encoded once, for many records: enc is
// `"key":value`.
type encodedField struct {
	key string
	enc []byte
}

// encodeFields encodes fields as a sorted list, with one buffer for all of
// them.
func encodeFields(fields Fields) ([]encodedField, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	fs := make([]field, 0, len(fields))
	for k, v := range fields {
		fs = append(fs, field{k, v})
	}
	sortFields(fs)
	var buf []byte
	ends := make([]int, len(fs))
	for i, f := range fs {
		var err error
		if buf, err = appendJSONString(buf, f.key); err != nil {
			return nil, wrapPath(f.key, fmt.Errorf("key: %w", err))
		}
		buf = append(buf, ':')
		if buf, err = appendJSONValue(buf, f.value, 1); err != nil {
			return nil, wrapPath(f.key, err)
		}
		ends[i] = len(buf)
	}
	out := make([]encodedField, len(fs))
	start := 0
	for i, f := range fs {
		out[i] = encodedField{key: f.key, enc: buf[start:ends[i]:ends[i]]}
		start = ends[i]
	}
	return out, nil
}

// mergeEncoded returns base with over's fields added, a field of over
// replacing base's of the same key. Both are sorted; so is the result.
func mergeEncoded(base, over []encodedField) []encodedField {
	out := make([]encodedField, 0, len(base)+len(over))
	i, j := 0, 0
	for i < len(base) || j < len(over) {
		switch {
		case j == len(over) || i < len(base) && base[i].key < over[j].key:
			out = append(out, base[i])
			i++
		default:
			if i < len(base) && base[i].key == over[j].key {
				i++
			}
			out = append(out, over[j])
			j++
		}
	}
	return out
}

// pathError names where in the metadata a value could not be encoded.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }

func wrapPath(key string, err error) error {
	if pe, ok := err.(*pathError); ok {
		return &pathError{path: "." + key + pe.path, err: pe.err}
	}
	return &pathError{path: "." + key, err: err}
}

func appendJSONMap(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, fmt.Errorf(" nested more than %d levels deep (a cycle?)", maxDepth)
	}
	if len(m) == 0 {
		return append(dst, "{}"...), nil
	}
	// The pairs are sorted by key, with their values, so that no value is
	// looked up in the map again.
	var small [16]field
	fs := small[:0]
	for k, v := range m {
		fs = append(fs, field{k, v})
	}
	sortFields(fs)
	dst = append(dst, '{')
	for i := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		k := fs[i].key
		var err error
		if dst, err = appendJSONString(dst, k); err != nil {
			return dst, wrapPath(k, fmt.Errorf("key: %w", err))
		}
		dst = append(dst, ':')
		if dst, err = appendJSONValue(dst, fs[i].value, depth+1); err != nil {
			return dst, wrapPath(k, err)
		}
	}
	return append(dst, '}'), nil
}

// field is one metadata key and its value.
type field struct {
	key   string
	value any
}

// sortFields sorts fs by key: by insertion for the few fields an entry
// usually has, else with slices.SortFunc.
func sortFields(fs []field) {
	if len(fs) > 12 {
		slices.SortFunc(fs, func(a, b field) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].key < fs[j-1].key; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

func appendJSONValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendJSONString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float32:
		return appendJSONFloat(dst, float64(v), 32)
	case float64:
		return appendJSONFloat(dst, v, 64)
	case json.Number:
		if !json.Valid([]byte(v)) {
			return dst, fmt.Errorf("invalid json.Number %q", string(v))
		}
		return append(dst, v...), nil
	case time.Time:
		if y := v.Year(); y < 0 || y > 9999 {
			return appendMarshaled(dst, v, depth) // encoding/json reports the error
		}
		return append(v.AppendFormat(append(dst, '"'), time.RFC3339Nano), '"'), nil
	case time.Duration:
		return appendJSONString(dst, v.String())
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case Fields:
		return appendJSONMap(dst, v, depth)
	case map[string]any:
		return appendJSONMap(dst, v, depth)
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return appendJSONMap(dst, m, depth)
	case []any:
		if depth > maxDepth {
			return dst, fmt.Errorf("nested more than %d levels deep (a cycle?)", maxDepth)
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSONValue(dst, e, depth+1); err != nil {
				return dst, wrapPath(strconv.Itoa(i), err)
			}
		}
		return append(dst, ']'), nil
	case []string:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSONString(dst, e); err != nil {
				return dst, wrapPath(strconv.Itoa(i), err)
			}
		}
		return append(dst, ']'), nil
	case json.Marshaler:
		return appendMarshaled(dst, v, depth)
	case error:
		return appendJSONString(dst, v.Error())
	}
	return appendMarshaled(dst, v, depth)
}

// appendMarshaled encodes what the fast path does not know with encoding/json,
// which reports channels, functions and cycles as errors.
// The bytes it produces are held to the limits the fast path enforces
// (maxDepth, for a value at depth), since the decoder reads them back.
func appendMarshaled(dst []byte, v any, depth int) ([]byte, error) {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Float32 || rv.Kind() == reflect.Float64 {
		return appendJSONFloat(dst, rv.Float(), rv.Type().Bits())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	if !utf8.Valid(b) {
		return dst, fmt.Errorf("encodes to invalid UTF-8")
	}
	if n := jsonNesting(b); n > 0 && depth+n-1 > maxDepth {
		return dst, fmt.Errorf("encodes to JSON nested %d levels deep, more than the %d allowed in metadata", depth+n, maxDepth+1)
	}
	return append(dst, b...), nil
}

// jsonNesting returns the deepest nesting of objects and arrays in the
// valid JSON text b: 0 for a scalar, 1 for [1], 2 for [[1]].
func jsonNesting(b []byte) int {
	depth, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			most = max(most, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return most
}

func appendJSONFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("unsupported number %v (JSON has no NaN or Inf)", f)
	}
	// Like encoding/json: plain notation for ordinary magnitudes.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, bits), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 is an error
// rather than being replaced: an audit record must say exactly what it was
// given or not be written.
// jsonSafe marks the bytes appendJSONString copies as they are: ASCII
// other than control characters, '"', '\\', '<', '>' and '&'.
var jsonSafe = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

func appendJSONString(dst []byte, s string) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if jsonSafe[b] {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Control characters, and <, > and & as encoding/json does, so
				// entries are safe to embed in HTML.
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst, fmt.Errorf("invalid UTF-8 at byte %d", i)
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}
