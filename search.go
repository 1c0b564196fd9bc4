package treeoflife

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// searcher finds a needle in the searchable parts of entries: the level,
// the message, and the metadata's keys and values.
//
// The fast path searches the stored JSON text itself. It is exact when the
// needle holds nothing JSON escapes or uses as syntax: such a needle, found
// in a key's or a value's text, is found in its stored text too, and cannot
// match across two of them. A raw match in text that holds an escape could
// come from the escape's own letters ("u003c"), so there the match is
// confirmed on the decoded text.
type searcher struct {
	lower   []byte // the needle, lower-cased as strings.ToLower does
	raw     bool   // the needle can be searched for in the stored text
	ascii   bool   // the needle is ASCII: ASCII case folding suffices...
	special [][]byte
	// ...unless the text holds one of these, which lower-case to an ASCII
	// letter of the needle (KELVIN SIGN to k, LATIN CAPITAL I WITH DOT to i).

	// pre, when not empty, is what a block must hold, ASCII-folded, to
	// hold a match: the needle, or its longest part stored verbatim;
	// preSpecial is special for it.
	pre        []byte
	preSpecial [][]byte
	// inv is the longest run of pre without letters, if at least two
	// bytes: case-invariant, so it is found in the stored text as it is.
	inv []byte
}

func newSearcher(needle string) *searcher {
	lower := strings.ToLower(needle)
	s := &searcher{lower: []byte(lower), raw: true, ascii: true}
	for _, r := range lower {
		switch {
		case r >= utf8.RuneSelf:
			s.ascii = false
		case r < 0x20, strings.ContainsRune("\"\\<>&{}[]:,", r):
			s.raw = false
		}
		if r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			s.raw = false
		}
	}
	s.special = asciiSpecials(lower)
	if !s.ascii {
		s.special = nil
	}
	// The longest run of the needle that is stored as it is: ASCII that
	// JSON does not escape. A text holding the needle holds it verbatim.
	var best string
	for _, part := range strings.FieldsFunc(lower, func(r rune) bool {
		return r >= utf8.RuneSelf || r < 0x20 || strings.ContainsRune("\"\\<>&", r)
	}) {
		if len(part) > len(best) {
			best = part
		}
	}
	if best == lower || len(best) >= 2 {
		s.pre, s.preSpecial = []byte(best), asciiSpecials(best)
		for _, part := range strings.FieldsFunc(best, func(r rune) bool { return 'a' <= r && r <= 'z' }) {
			if len(part) >= 2 && len(part) > len(s.inv) {
				s.inv = []byte(part)
			}
		}
	}
	return s
}

// asciiSpecials lists the non-ASCII characters that lower-case to an ASCII
// letter of s.
func asciiSpecials(s string) [][]byte {
	var out [][]byte
	if strings.ContainsRune(s, 'k') {
		out = append(out, []byte("\u212a"))
	}
	if strings.ContainsRune(s, 'i') {
		out = append(out, []byte("\u0130"))
	}
	return out
}

func containsAny(b []byte, subs [][]byte) bool {
	for _, sub := range subs {
		if bytes.Contains(b, sub) {
			return true
		}
	}
	return false
}

// entryRegions finds the level name, the message's stored text (between its
// quotes) and the metadata object in a stored entry, relying on the stored
// layout (FORMAT.md, "Entries"); ok is false when the payload does not have
// it. Each region is given as the offsets [start, end) in p. The metadata
// ends at the last `,"hostname":`, since the hostname's and tenant's values
// are strings in which a quote is escaped.
func entryRegions(p []byte) (r [3][2]int, ok bool) {
	if len(p) < entryLevelStart+4 || string(p[entryTSStart+entryTSLen:entryLevelStart]) != `","level":"` {
		return r, false
	}
	end := bytes.IndexByte(p[entryLevelStart:min(len(p), entryLevelStart+16)], '"')
	if end < 0 {
		return r, false
	}
	r[0] = [2]int{entryLevelStart, entryLevelStart + end}
	i := entryLevelStart + end
	const msgKey = `","message":"`
	if !bytes.HasPrefix(p[i:], []byte(msgKey)) {
		return r, false
	}
	ms := i + len(msgKey)
	me := -1
	for j := ms; j < len(p); {
		q := bytes.IndexByte(p[j:], '"')
		if q < 0 {
			return r, false
		}
		k := j + q
		n := 0
		for k-1-n >= ms && p[k-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			me = k
			break
		}
		j = k + 1
	}
	if me < 0 {
		return r, false
	}
	r[1] = [2]int{ms, me}
	const metaKey = `,"metadata":`
	if !bytes.HasPrefix(p[me+1:], []byte(metaKey)) {
		return r, false
	}
	mstart := me + 1 + len(metaKey)
	h := lastHostnameKey(p, mstart+2)
	if h < 0 {
		return r, false
	}
	r[2] = [2]int{mstart, h}
	return r, true
}

// lastHostnameKey finds the last `,"hostname":` at or after lo. It is a few
// dozen bytes from the end, so a plain backward scan beats bytes.LastIndex.
func lastHostnameKey(p []byte, lo int) int {
	const key = `,"hostname":`
	for i := len(p) - len(key); i >= lo; i-- {
		if p[i] == ',' && string(p[i:i+len(key)]) == key {
			return i
		}
	}
	return -1
}

// asciiFor reports whether ASCII case folding finds the needle in b as
// strings.ToLower would.
func (s *searcher) asciiFor(b []byte) bool { return s.ascii && !containsAny(b, s.special) }

// matchRaw searches a stored entry; known is false when the payload does not
// have the stored layout, and the decoded entry must be searched instead.
// low, when not nil, is p with its ASCII letters lower-cased.
func (s *searcher) matchRaw(p, low []byte, st *scanState) (found, known bool) {
	if low != nil && !bytes.Contains(low, s.pre) {
		// Not even in the whole entry (the block's filter checked the
		// specials). This holds whatever the layout: the writer escapes
		// nothing pre holds, so a match would hold pre verbatim.
		return false, true
	}
	regions, ok := entryRegions(p)
	if !ok {
		return false, false
	}
	ascii := s.asciiFor(p)
	if !ascii {
		low = nil
	}
	for i, rg := range regions {
		var l []byte
		if low != nil {
			l = low[rg[0]:rg[1]]
		}
		if s.region(p[rg[0]:rg[1]], l, i == 2, ascii, st) {
			return true, true
		}
	}
	return false, true
}

// region searches one region's stored text: a string's content, or (json)
// the metadata object. low, when not nil, is its lower-cased text.
func (s *searcher) region(r, low []byte, json, ascii bool, st *scanState) bool {
	if s.raw {
		switch {
		case low != nil:
		case ascii:
			st.scratch = asciiLower(st.scratch[:0], r)
			low = st.scratch
		default:
			st.scratch = appendLower(st.scratch[:0], r)
			low = st.scratch
		}
		if !bytes.Contains(low, s.lower) {
			return false
		}
		if bytes.IndexByte(r, '\\') < 0 {
			return true
		}
	}
	// Confirm on the decoded text.
	if !json {
		st.tok = unescape(st.tok[:0], r)
		return s.text(st.tok, st)
	}
	c := jsonCursor{b: r, d: &st.dec}
	return s.walk(&c, 0, st)
}

// text reports whether decoded text contains the needle, ignoring case.
func (s *searcher) text(t []byte, st *scanState) bool {
	st.scratch = appendLower(st.scratch[:0], t)
	return bytes.Contains(st.scratch, s.lower)
}

// walk searches every key and scalar of the JSON value at the cursor,
// decoded; numbers and literals as their text.
func (s *searcher) walk(c *jsonCursor, depth int, st *scanState) bool {
	if depth > maxDecodeDepth {
		return false
	}
	c.ws()
	if c.i >= len(c.b) {
		return false
	}
	switch c.b[c.i] {
	case '{', '[':
		obj := c.b[c.i] == '{'
		c.i++
		closer := byte(']')
		if obj {
			closer = '}'
		}
		if c.consume(closer) {
			return false
		}
		for {
			if obj {
				raw, _, ok := c.rawString()
				if !ok || !c.consume(':') {
					return false
				}
				st.tok = unescape(st.tok[:0], raw)
				if s.text(st.tok, st) {
					return true
				}
			}
			if s.walk(c, depth+1, st) {
				return true
			}
			if c.consume(closer) || !c.consume(',') {
				return false
			}
		}
	case '"':
		raw, _, ok := c.rawString()
		if !ok {
			return false
		}
		st.tok = unescape(st.tok[:0], raw)
		return s.text(st.tok, st)
	}
	start := c.i
	for c.i < len(c.b) && !strings.ContainsRune(",]} \t\r\n", rune(c.b[c.i])) {
		c.i++
	}
	return s.text(c.b[start:c.i], st)
}

// matchEntry searches a decoded entry, for payloads without the stored
// layout.
func (s *searcher) matchEntry(e *Entry, st *scanState) bool {
	if s.text([]byte(e.Level.String()), st) || s.text([]byte(e.Message), st) {
		return true
	}
	return s.value(e.Metadata, 0, st)
}

func (s *searcher) value(v any, depth int, st *scanState) bool {
	if depth > maxDecodeDepth {
		return false
	}
	switch x := v.(type) {
	case map[string]any:
		for k, el := range x {
			if s.text([]byte(k), st) || s.value(el, depth+1, st) {
				return true
			}
		}
		return false
	case []any:
		for _, el := range x {
			if s.value(el, depth+1, st) {
				return true
			}
		}
		return false
	case string:
		return s.text([]byte(x), st)
	case float64:
		st.tok, _ = appendJSONFloat(st.tok[:0], x, 64)
	case json.Number:
		st.tok = append(st.tok[:0], x...)
	case bool:
		st.tok = strconv.AppendBool(st.tok[:0], x)
	case nil:
		st.tok = append(st.tok[:0], "null"...)
	default:
		return false
	}
	return s.text(st.tok, st)
}

// asciiLower appends src with the ASCII letters lower-cased, eight bytes at
// a time; other bytes are copied unchanged.
func asciiLower(dst, src []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, len(src))[:start+len(src)]
	out := dst[start:]
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(src); i += 8 {
		x := binary.LittleEndian.Uint64(src[i:])
		t := x &^ high
		ge := t + ones*(0x80-'A')   // bit 7 set where t >= 'A'
		gt := t + ones*(0x80-'Z'-1) // bit 7 set where t > 'Z'
		upper := ge &^ gt &^ x & high
		binary.LittleEndian.PutUint64(out[i:], x|upper>>2)
	}
	for ; i < len(src); i++ {
		c := src[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return dst
}

// appendLower appends src lower-cased rune by rune, as strings.ToLower does;
// runs of ASCII go through asciiLower.
func appendLower(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf && i+8 <= len(src) {
			j := i + 8
			for j+8 <= len(src) && binary.LittleEndian.Uint64(src[j:])&0x8080808080808080 == 0 {
				j += 8
			}
			if binary.LittleEndian.Uint64(src[i:])&0x8080808080808080 == 0 {
				dst = asciiLower(dst, src[i:j])
				i = j
				continue
			}
		}
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += n
	}
	return dst
}
