package treeoflife

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// The fixed positions at the start of a stored entry (FORMAT.md, "Entries"):
// the id is 36 characters and the timestamp 30.
const (
	entryTSStart    = len(`{"id":"`) + 36 + len(`","timestamp":"`)
	entryTSLen      = len("2006-01-02T15:04:05.000000000Z")
	entryLevelStart = entryTSStart + entryTSLen + len(`","level":"`)
)

// fastLevelTime reads the level and timestamp of a stored entry from their
// fixed places, without allocating; ok is false when they are not there.
func fastLevelTime(p []byte) (Level, int64, bool) {
	if len(p) < entryLevelStart+5 || string(p[entryTSStart+entryTSLen:entryLevelStart]) != `","level":"` {
		return 0, 0, false
	}
	t, ok := parseStoredTime(p[entryTSStart : entryTSStart+entryTSLen])
	if !ok {
		return 0, 0, false
	}
	end := bytes.IndexByte(p[entryLevelStart:min(len(p), entryLevelStart+9)], '"')
	if end < 0 {
		return 0, 0, false
	}
	if lv := levelOf(p[entryLevelStart : entryLevelStart+end]); lv != 0 {
		return lv, t, true
	}
	return 0, 0, false
}

// levelOf returns the level a stored name names (case-insensitively), or 0.
func levelOf(name []byte) Level {
	for _, lv := range levels {
		if string(name) == levelNames[lv] {
			return lv
		}
	}
	if lv, err := ParseLevel(string(name)); err == nil {
		return lv
	}
	return 0
}

// parseStoredTime parses a timestamp in the stored layout,
// 2006-01-02T15:04:05.000000000Z, to Unix nanoseconds; ok is false for any
// other text and for times int64 nanoseconds cannot hold.
func parseStoredTime[T string | []byte](b T) (int64, bool) {
	if len(b) != entryTSLen || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[29] != 'Z' {
		return 0, false
	}
	num := func(i, n int) int64 {
		var v int64
		for j := i; j < i+n; j++ {
			c := b[j]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int64(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, s, ns := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 9)
	if y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > int64(daysIn(int(mo), int(y))) || h > 23 || mi > 59 || s > 59 || ns < 0 || h < 0 || mi < 0 || s < 0 {
		return 0, false
	}
	return (daysFromCivil(y, mo, d)*86400+h*3600+mi*60+s)*1e9 + ns, true
}

// daysIn is the number of days of month m (1 to 12) of year y in the
// proleptic Gregorian calendar.
func daysIn(m, y int) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return int(monthDays[m])
}

var monthDays = [13]uint8{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// entryDecoder decodes stored entries. It is a small JSON parser for the
// stored layout, several times faster than encoding/json into a struct with
// a map: it interns metadata keys and the hostname, and takes the timestamp
// from its fixed layout. It does not depend on key order, ignores unknown
// keys, and is strict about JSON syntax. Entries laid out as the writer
// lays them out take a faster path (decode_fast.go).
type entryDecoder struct {
	keys    map[string]string
	vals    map[string]any
	texts   map[string]string
	host    string
	tenant  string
	scratch []byte

	// For decodeFast: the last message, the metadata keys of the last
	// entry in the order met (and how many of this one's are met),
	// arrays being decoded, and the table of short strings.
	msg      string
	shape    []string
	nkeys    int
	stack    []any
	interned *[internSlots]internSlot

	// raw: skip building the metadata (Filter.RawMetadata). meta is the
	// metadata object in the last entry decoded (its bytes, or "{}").
	raw  bool
	meta []byte
}

var errSyntax = errors.New("malformed JSON")

// A misplacedError is an entry that is well formed but not the record it is
// stored as: its seq is not the frame's, or its tenantId not the log's.
type misplacedError struct{ reason string }

func (e *misplacedError) Error() string { return e.reason }

func tenantName(t string) string {
	if t == "" {
		return "no tenant"
	}
	return fmt.Sprintf("tenant %q", t)
}

// decodeAny is decode for any valid entry, whatever its key order and
// whitespace: the general parser, which decode uses when decodeFast cannot
// (decode_fast.go). It reports why an entry is not valid.
func (d *entryDecoder) decodeAny(p []byte, seq uint64, tenant string, e *Entry) error {
	*e = Entry{}
	c := jsonCursor{b: p, d: d}
	if !c.consume('{') {
		return errSyntax
	}
	haveSeq, haveTenant := false, false
	for first := true; ; first = false {
		if c.consume('}') {
			break
		}
		if !first && !c.consume(',') {
			return errSyntax
		}
		key, esc, ok := c.rawString()
		if !ok || !c.consume(':') {
			return errSyntax
		}
		if esc {
			key = unescape(d.scratch[:0], key)
		}
		var err error
		switch string(key) {
		case "id":
			e.ID, err = c.str()
		case "timestamp":
			raw, esc, ok := c.rawString()
			if !ok || esc {
				return fmt.Errorf("timestamp: %w", errSyntax)
			}
			if ns, ok := parseStoredTime(raw); ok {
				e.Time = time.Unix(0, ns).UTC()
			} else if e.Time, err = time.Parse(time.RFC3339Nano, string(raw)); err != nil {
				return fmt.Errorf("timestamp: %v", err)
			}
		case "level":
			raw, _, ok := c.rawString()
			if !ok {
				return fmt.Errorf("level: %w", errSyntax)
			}
			if e.Level = levelOf(raw); e.Level == 0 {
				return fmt.Errorf("level %q is unknown", raw)
			}
		case "message":
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case esc:
				e.Message = string(unescape(d.scratch[:0], raw))
			default:
				e.Message = d.text(raw)
			}
		case "metadata":
			var v any
			c.ws()
			start := c.i
			if v, err = c.value(0); err == nil {
				d.meta = p[start:c.i]
				switch m := v.(type) {
				case map[string]any:
					e.Metadata = m
				case nil:
				default:
					err = errors.New("metadata is not an object")
				}
			}
		case "hostname":
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case !esc && string(raw) == d.host:
				e.Hostname = d.host
			case !esc:
				d.host = string(raw)
				e.Hostname = d.host
			default:
				e.Hostname = string(unescape(d.scratch[:0], raw))
			}
		case "pid":
			var n int64
			if n, err = c.int(); err == nil {
				e.PID = int(n)
			}
		case "tenantId":
			haveTenant = true
			if c.literal("null") {
				if tenant != "" {
					err = &misplacedError{fmt.Sprintf("entry has tenantId null in the log of tenant %q", tenant)}
				}
				break
			}
			raw, esc, ok := c.rawString()
			switch {
			case !ok:
				err = errSyntax
			case !esc && string(raw) == d.tenant:
				e.Tenant = d.tenant
			case !esc:
				d.tenant = string(raw)
				e.Tenant = d.tenant
			default:
				e.Tenant = string(unescape(d.scratch[:0], raw))
			}
			if err == nil && (tenant == "" || e.Tenant != tenant) {
				err = &misplacedError{fmt.Sprintf("entry has tenantId %q in the log of %s", e.Tenant, tenantName(tenant))}
			}
		case "legacy":
			e.Legacy, err = decodeLegacy(&c)
		case "seq":
			var n int64
			if n, err = c.int(); err == nil && uint64(n) != seq {
				err = &misplacedError{fmt.Sprintf("entry says seq %d but its frame says %d", n, seq)}
			}
			haveSeq = true
		default:
			_, err = c.value(0) // a key this version does not know
		}
		if err != nil {
			if errors.Is(err, errSyntax) {
				return fmt.Errorf("%s: %w", key, err)
			}
			return err
		}
	}
	c.ws()
	if c.i != len(p) {
		return fmt.Errorf("data after the entry: %w", errSyntax)
	}
	if !haveSeq {
		return errors.New("entry has no seq")
	}
	if !haveTenant && tenant != "" {
		return &misplacedError{fmt.Sprintf("entry has no tenantId in the log of tenant %q", tenant)}
	}
	e.Seq = seq
	if e.Metadata == nil {
		e.Metadata = map[string]any{}
		d.meta = emptyObject
	}
	if d.raw {
		e.Metadata = nil
	}
	return nil
}

var emptyObject = []byte("{}")

// smallFloats holds the small integers as float64 interface values, so that
// decoding them does not allocate.
var smallFloats = func() (t [1024]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

// maxInterned bounds the strings the decoder keeps to reuse, and
// maxInternedLen their length: enough for the keys and the repeated short
// values (currencies, countries, statuses) of a log's metadata.
const (
	maxInterned    = 4096
	maxInternedLen = 32
)

// value returns a short string as an interface value, reusing one decoded
// before when it can: strings are immutable, so entries may share them.
func (d *entryDecoder) value(raw []byte) any {
	if len(raw) > maxInternedLen {
		return string(raw)
	}
	if v, ok := d.vals[string(raw)]; ok {
		return v
	}
	var v any = string(raw)
	if d.vals == nil {
		d.vals = make(map[string]any)
	}
	if len(d.vals) < maxInterned {
		d.vals[v.(string)] = v
	}
	return v
}

// text is value for the message: one message text is often logged many
// times.
func (d *entryDecoder) text(raw []byte) string {
	if len(raw) > 2*maxInternedLen {
		return string(raw)
	}
	if s, ok := d.texts[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.texts == nil {
		d.texts = make(map[string]string)
	}
	if len(d.texts) < maxInterned {
		d.texts[s] = s
	}
	return s
}

func (d *entryDecoder) key(raw []byte, esc bool) string {
	if esc {
		return string(unescape(d.scratch[:0], raw))
	}
	if s, ok := d.keys[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.keys == nil {
		d.keys = make(map[string]string)
	}
	if len(d.keys) < 4096 {
		d.keys[s] = s
	}
	return s
}

// jsonCursor is a position in JSON text.
type jsonCursor struct {
	b []byte
	i int
	d *entryDecoder
}

func (c *jsonCursor) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *jsonCursor) consume(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

func (c *jsonCursor) literal(lit string) bool {
	c.ws()
	if bytes.HasPrefix(c.b[c.i:], []byte(lit)) {
		c.i += len(lit)
		return true
	}
	return false
}

// rawString returns the text between the quotes of the string at the
// cursor, and whether it holds escapes.
func (c *jsonCursor) rawString() (raw []byte, esc, ok bool) {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, false
	}
	at := c.i
	c.i++
	if raw, esc, ok = c.quoted(); !ok {
		c.i = at
	}
	return raw, esc, ok
}

// quoteOrBackslash returns the index of the first '"' or '\\' in b, or
// len(b), looking at eight bytes at a time.
func quoteOrBackslash(b []byte) int {
	const (
		ones   = 0x0101010101010101
		high   = 0x8080808080808080
		quote  = ones * '"'
		bslash = ones * '\\'
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, s := x^quote, x^bslash
		if found := ((q-ones)&^q | (s-ones)&^s) & high; found != 0 {
			return i + bits.TrailingZeros64(found)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' || b[i] == '\\' {
			return i
		}
	}
	return len(b)
}

func (c *jsonCursor) str() (string, error) {
	raw, esc, ok := c.rawString()
	if !ok {
		return "", errSyntax
	}
	if esc {
		return string(unescape(c.d.scratch[:0], raw)), nil
	}
	return string(raw), nil
}

func (c *jsonCursor) int() (int64, error) {
	c.ws()
	start := c.i
	if c.i < len(c.b) && c.b[c.i] == '-' {
		c.i++
	}
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
	return strconv.ParseInt(string(c.b[start:c.i]), 10, 64)
}

// value decodes any JSON value: objects to map[string]any, arrays to []any,
// numbers to float64 (json.Number for an integer a float64 cannot hold
// exactly), and strings, booleans and null as encoding/json does.
func (c *jsonCursor) value(depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errors.New("nested too deeply")
	}
	c.ws()
	if c.i >= len(c.b) {
		return nil, errSyntax
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		c.i++
		m := make(map[string]any)
		if c.consume('}') {
			return m, nil
		}
		for {
			raw, esc, ok := c.rawString()
			if !ok || !c.consume(':') {
				return nil, errSyntax
			}
			k := c.d.key(raw, esc)
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			if c.consume('}') {
				return m, nil
			}
			if !c.consume(',') {
				return nil, errSyntax
			}
		}
	case ch == '[':
		c.i++
		a := []any{}
		if c.consume(']') {
			return a, nil
		}
		for {
			v, err := c.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			if c.consume(']') {
				return a, nil
			}
			if !c.consume(',') {
				return nil, errSyntax
			}
		}
	case ch == '"':
		raw, esc, ok := c.rawString()
		if !ok {
			return nil, errSyntax
		}
		if esc {
			return string(unescape(c.d.scratch[:0], raw)), nil
		}
		return c.d.value(raw), nil
	case ch == 't':
		if c.literal("true") {
			return true, nil
		}
	case ch == 'f':
		if c.literal("false") {
			return false, nil
		}
	case ch == 'n':
		if c.literal("null") {
			return nil, nil
		}
	case ch == '-' || '0' <= ch && ch <= '9':
		return c.number()
	}
	return nil, errSyntax
}

// scanNumber moves past a JSON number, checking its grammar; isInt reports
// that it has no fraction or exponent.
func (c *jsonCursor) scanNumber() (raw []byte, isInt, ok bool) {
	b, start := c.b, c.i
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return nil, false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		i++
		isInt = false
		if digits() == 0 {
			return nil, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		isInt = false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, false, false
		}
	}
	c.i = i
	return b[start:i], isInt, true
}

func (c *jsonCursor) number() (any, error) {
	raw, isInt, ok := c.scanNumber()
	if !ok {
		return nil, errSyntax
	}
	if isInt && len(raw) <= 16 {
		var v int64
		neg := raw[0] == '-'
		for _, ch := range raw[btoi(neg):] {
			v = v*10 + int64(ch-'0')
		}
		if neg {
			v = -v
		}
		if 0 <= v && v < int64(len(smallFloats)) {
			return smallFloats[v], nil
		}
		if v >= -(1<<53) && v <= 1<<53 {
			return float64(v), nil
		}
	}
	if isInt {
		// An integer a float64 cannot hold exactly keeps its digits.
		if i, err := strconv.ParseInt(string(raw), 10, 64); err != nil || i < -(1<<53) || i > 1<<53 {
			return json.Number(raw), nil
		}
	}
	if f, ok := shortDecimal(raw); ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return json.Number(raw), nil // out of float64 range: keep the text
	}
	return f, nil
}

// shortDecimal converts a number with a fraction, no exponent and at most
// 15 digits, as strconv.ParseFloat does, only faster: its digits as an
// integer and the power of ten to divide by are exact float64 values, so
// the one division is correctly rounded (Clinger's fast path).
func shortDecimal(raw []byte) (float64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	var m uint64
	digits, frac := 0, -1
	for _, ch := range raw[btoi(neg):] {
		switch {
		case '0' <= ch && ch <= '9':
			m = m*10 + uint64(ch-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case ch == '.' && frac < 0 && digits > 0:
			frac = 0
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || frac <= 0 {
		return 0, false
	}
	f := float64(m) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

var pow10 = [16]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unescape appends the decoded text of a JSON string's raw content to dst.
// Invalid escapes decode as U+FFFD, as encoding/json does for bad surrogates.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		ch := raw[i]
		if ch != '\\' || i+1 >= len(raw) {
			dst = append(dst, ch)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := hex4(raw[i+1:])
			if n == 0 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
				continue
			}
			i += n
			if 0xD800 <= r && r < 0xDC00 && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2, n2 := hex4(raw[i+3:]); n2 > 0 && 0xDC00 <= r2 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 2 + n2
				}
			}
			if 0xD800 <= r && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, '\\', raw[i])
		}
	}
	return dst
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, 0
	}
	var r rune
	for _, ch := range b[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			r = r<<4 | rune(ch-'0')
		case 'a' <= ch && ch <= 'f':
			r = r<<4 | rune(ch-'a'+10)
		case 'A' <= ch && ch <= 'F':
			r = r<<4 | rune(ch-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}
