package treeoflife

import (
	"encoding/binary"
	"math/bits"
	"time"
)

// The fast path of entryDecoder: stored entries as this library writes them
// (FORMAT.md, "Entries"), keys in their order, without whitespace. Anything
// else — another key order, whitespace, an unknown key, a seq or tenantId
// that is not the record's, any error — makes decodeFast give up, and
// decode then parses the entry with decodeAny, which accepts every valid
// entry and reports the errors. For any payload decodeFast accepts, both
// give the same Entry (decode_fast_test.go checks it, and FuzzDecodeFast).
//
// It is faster than decodeAny because it compares the keys it expects
// instead of dispatching on them, never skips whitespace, takes metadata
// keys from the previous entry's (entries of one log mostly share their
// keys), interns short strings in a small table indexed by a cheap hash
// instead of a map, and builds arrays at their final size.

// decode decodes the stored entry p of the record at seq in the log of
// tenant ("" for none). An entry whose seq or tenantId is not the record's
// (one copied from another position or another tenant's log) is refused
// with a *misplacedError.
func (d *entryDecoder) decode(p []byte, seq uint64, tenant string, e *Entry) error {
	if d.decodeFast(p, seq, tenant, e) {
		return nil
	}
	return d.decodeAny(p, seq, tenant, e)
}

// maxShapeKeys bounds the metadata keys remembered from the previous entry.
const maxShapeKeys = 256

// internSlots is the size of the table of short strings; a power of two.
const internSlots = 1024

// internSlot is a short string and the interface value holding it.
type internSlot struct {
	s string
	v any
}

// decodeFast decodes p into e if it is laid out as the writer lays out
// entries, and reports whether it did; see above.
func (d *entryDecoder) decodeFast(p []byte, seq uint64, tenant string, e *Entry) bool {
	*e = Entry{}
	c := jsonCursor{b: p, d: d}
	if !c.lit(`{"id":"`) {
		return false
	}
	raw, esc, ok := c.quoted()
	if !ok || !c.lit(`,"timestamp":"`) {
		return false
	}
	if esc {
		e.ID = string(unescape(d.scratch[:0], raw))
	} else {
		e.ID = string(raw)
	}
	if c.i+entryTSLen > len(p) {
		return false
	}
	ns, ok := parseStoredTime(p[c.i : c.i+entryTSLen])
	if !ok {
		return false
	}
	e.Time = time.Unix(0, ns).UTC()
	c.i += entryTSLen
	if !c.lit(`","level":"`) {
		return false
	}
	if raw, esc, ok = c.quoted(); !ok || esc {
		return false
	}
	for _, lv := range levels {
		if string(raw) == levelNames[lv] {
			e.Level = lv
			break
		}
	}
	if e.Level == 0 || !c.lit(`,"message":"`) {
		return false
	}
	if raw, esc, ok = c.quoted(); !ok {
		return false
	}
	switch {
	case esc:
		e.Message = string(unescape(d.scratch[:0], raw))
	case string(raw) == d.msg:
		e.Message = d.msg
	default:
		e.Message = d.text(raw)
		d.msg = e.Message
	}
	if !c.lit(`,"metadata":{`) {
		return false
	}
	c.i--
	start := c.i
	if d.raw {
		if !c.skipFast(0) {
			return false
		}
	} else {
		d.nkeys = 0
		v, ok := c.fastValue(0)
		if !ok {
			d.dropStack()
			return false
		}
		e.Metadata = v.(map[string]any)
	}
	d.meta = p[start:c.i]
	if !c.lit(`,"hostname":"`) {
		return false
	}
	if raw, esc, ok = c.quoted(); !ok {
		return false
	}
	switch {
	case esc:
		e.Hostname = string(unescape(d.scratch[:0], raw))
	case string(raw) == d.host:
		e.Hostname = d.host
	default:
		d.host = string(raw)
		e.Hostname = d.host
	}
	if !c.lit(`,"pid":`) {
		return false
	}
	pid, ok := c.fastInt()
	if !ok || !c.lit(`,"tenantId":`) {
		return false
	}
	e.PID = int(pid)
	if tenant == "" {
		if !c.lit("null") {
			return false
		}
	} else {
		if !c.lit(`"`) {
			return false
		}
		if raw, esc, ok = c.quoted(); !ok || esc || string(raw) != tenant {
			return false
		}
		e.Tenant = tenant
	}
	if c.lit(`,"legacy":`) {
		var err error
		if e.Legacy, err = decodeLegacy(&c); err != nil {
			return false
		}
	}
	if !c.lit(`,"seq":`) {
		return false
	}
	n, ok := c.fastInt()
	if !ok || n < 0 || uint64(n) != seq || !c.lit("}") || c.i != len(p) {
		return false
	}
	e.Seq = seq
	return true
}

// lit consumes s if the text at the cursor starts with it.
func (c *jsonCursor) lit(s string) bool {
	if len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// quoted is rawString for a string whose opening quote has been consumed.
func (c *jsonCursor) quoted() (raw []byte, esc, ok bool) {
	start := c.i
	for j := start; j < len(c.b); {
		j += quoteOrBackslash(c.b[j:])
		switch {
		case j >= len(c.b):
			return nil, false, false
		case c.b[j] == '"':
			c.i = j + 1
			return c.b[start:j], esc, true
		}
		esc = true
		j += 2 // the backslash and the character it escapes
	}
	return nil, false, false
}

// fastInt reads what jsonCursor.int accepts, up to 18 digits.
func (c *jsonCursor) fastInt() (int64, bool) {
	neg := c.i < len(c.b) && c.b[c.i] == '-'
	start := c.i + btoi(neg)
	var n int64
	j := start
	for ; j < len(c.b) && j-start < 19 && '0' <= c.b[j] && c.b[j] <= '9'; j++ {
		n = n*10 + int64(c.b[j]-'0')
	}
	if j == start || j-start > 18 {
		return 0, false
	}
	c.i = j
	if neg {
		n = -n
	}
	return n, true
}

// skipFast moves past the value fastValue would read, checking it as
// fastValue does, without building it: containers nested at most
// maxDecodeDepth deep (counting from depth), strings up to their closing
// quote (unescape takes any escape), numbers as scanNumber reads them,
// and literals. (A number that scanNumber accepts always converts.) It
// walks the containers with a stack of their closing brackets rather than
// by recursion, and scans strings eight bytes at a time.
func (c *jsonCursor) skipFast(depth int) bool {
	b, i := c.b, c.i
	var ends [maxDecodeDepth + 1]byte // the closing bracket of each open container
	n := 0                            // how many are open
	for {
		// A value at i, nested in n containers.
		if depth+n > maxDecodeDepth || i >= len(b) {
			return false
		}
		switch ch := b[i]; {
		case ch == '{' || ch == '[':
			end := ch + 2 // '}' or ']'
			i++
			if i < len(b) && b[i] == end {
				i++
				break // an empty one: a whole value
			}
			ends[n] = end
			n++
			if end == '}' {
				if i = skipKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case ch == '"':
			if i = skipString(b, i+1); i < 0 {
				return false
			}
		case ch == 't':
			if !hasLit(b, i, "true") {
				return false
			}
			i += 4
		case ch == 'f':
			if !hasLit(b, i, "false") {
				return false
			}
			i += 5
		case ch == 'n':
			if !hasLit(b, i, "null") {
				return false
			}
			i += 4
		case ch == '-' || '0' <= ch && ch <= '9':
			c.i = i
			if _, _, ok := c.scanNumber(); !ok {
				return false
			}
			i = c.i
		default:
			return false
		}
		// After a value: the containers it ends, then the next value.
		for {
			if n == 0 {
				c.i = i
				return true
			}
			if i >= len(b) {
				return false
			}
			if b[i] == ends[n-1] {
				i++
				n--
				continue
			}
			if b[i] != ',' {
				return false
			}
			i++
			if ends[n-1] == '}' {
				if i = skipKey(b, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// skipKey returns the index after the key at b[i:] and its colon, or -1.
func skipKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = skipString(b, i+1); i < 0 || i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// skipString returns the index after the closing quote of the string whose
// opening quote is just before b[i:], or -1 if it does not end: what
// jsonCursor.quoted accepts.
func skipString(b []byte, i int) int {
	const (
		ones   = 0x0101010101010101
		high   = 0x8080808080808080
		quote  = ones * '"'
		bslash = ones * '\\'
	)
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		q, s := x^quote, x^bslash
		found := ((q-ones)&^q | (s-ones)&^s) & high
		if found == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(found) / 8
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // the backslash and the character it escapes
	}
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return -1
}

// hasLit reports whether b[i:] starts with s.
func hasLit(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// fastValue is jsonCursor.value for text without whitespace; it gives up
// (false) where value would fail, and on whitespace.
func (c *jsonCursor) fastValue(depth int) (any, bool) {
	if depth > maxDecodeDepth || c.i >= len(c.b) {
		return nil, false
	}
	d := c.d
	switch ch := c.b[c.i]; {
	case ch == '{':
		c.i++
		m := make(map[string]any)
		if c.lit("}") {
			return m, true
		}
		for {
			if !c.lit(`"`) {
				return nil, false
			}
			raw, esc, ok := c.quoted()
			if !ok || !c.lit(":") {
				return nil, false
			}
			k := d.shapeKey(raw, esc)
			v, ok := c.fastValue(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
			if c.i >= len(c.b) {
				return nil, false
			}
			switch c.b[c.i] {
			case ',':
				c.i++
			case '}':
				c.i++
				return m, true
			default:
				return nil, false
			}
		}
	case ch == '[':
		c.i++
		if c.lit("]") {
			return []any{}, true
		}
		base := len(d.stack)
		for {
			v, ok := c.fastValue(depth + 1)
			if !ok {
				return nil, false
			}
			d.stack = append(d.stack, v)
			if c.i >= len(c.b) {
				return nil, false
			}
			switch c.b[c.i] {
			case ',':
				c.i++
			case ']':
				c.i++
				a := make([]any, len(d.stack)-base)
				copy(a, d.stack[base:])
				clear(d.stack[base:])
				d.stack = d.stack[:base]
				return a, true
			default:
				return nil, false
			}
		}
	case ch == '"':
		c.i++
		raw, esc, ok := c.quoted()
		if !ok {
			return nil, false
		}
		if esc {
			return string(unescape(d.scratch[:0], raw)), true
		}
		return d.intern(raw), true
	case ch == 't':
		return true, c.lit("true")
	case ch == 'f':
		return false, c.lit("false")
	case ch == 'n':
		return nil, c.lit("null")
	case ch == '-' || '0' <= ch && ch <= '9':
		v, err := c.number()
		return v, err == nil
	}
	return nil, false
}

// dropStack empties the array scratch space after a failed decoding.
func (d *entryDecoder) dropStack() {
	clear(d.stack)
	d.stack = d.stack[:0]
}

// shapeKey returns a metadata key as a string: the string of the key in the
// same place of the previous entry when they are the same (no hashing),
// else an interned one.
func (d *entryDecoder) shapeKey(raw []byte, esc bool) string {
	if esc {
		return string(unescape(d.scratch[:0], raw))
	}
	k := d.nkeys
	d.nkeys++
	if k < len(d.shape) && d.shape[k] == string(raw) {
		return d.shape[k]
	}
	s := d.key(raw, false)
	switch {
	case k < len(d.shape):
		d.shape[k] = s
	case k == len(d.shape) && k < maxShapeKeys:
		d.shape = append(d.shape, s)
	}
	return s
}

// intern returns a string value as an interface value, reusing the one of
// an equal short string decoded before when the table still holds it.
// Strings are immutable, so entries may share them.
func (d *entryDecoder) intern(raw []byte) any {
	if len(raw) > maxInternedLen {
		return string(raw)
	}
	if d.interned == nil {
		d.interned = new([internSlots]internSlot)
	}
	slot := &d.interned[shortHash(raw)&(internSlots-1)]
	if slot.v != nil && slot.s == string(raw) {
		return slot.v
	}
	s := string(raw)
	slot.s, slot.v = s, s
	return slot.v
}

// shortHash hashes a string of at most 32 bytes from its length and its
// first and last eight bytes; enough to spread a log's repeated values.
func shortHash(b []byte) uint64 {
	var x, y uint64
	if len(b) >= 8 {
		x = binary.LittleEndian.Uint64(b)
		y = binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for i, ch := range b {
			x |= uint64(ch) << (8 * i)
		}
	}
	h := (x ^ uint64(len(b))) * 0x9E3779B97F4A7C15
	h ^= y * 0xC2B2AE3D27D4EB4F
	return h ^ h>>29 ^ h>>47
}
