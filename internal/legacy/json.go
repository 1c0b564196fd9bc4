package legacy

// A small JSON scanner for the two shapes the import reads a million times:
// blockchain.json's blocks (streamed) and the entry lines. encoding/json
// takes several times longer for both, and the import's speed is the sum.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

var errJSON = errors.New("malformed JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// unescape appends the JSON string body raw (between its quotes) to dst,
// unescaped. Like encoding/json, an invalid surrogate becomes U+FFFD.
func unescape(dst, raw []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			return append(dst, raw...), nil
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		if len(raw) < 2 {
			return dst, errJSON
		}
		switch c := raw[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
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
			r, ok := hex4(raw[2:])
			if !ok {
				return dst, errJSON
			}
			n := 6
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if len(raw) >= 12 && raw[6] == '\\' && raw[7] == 'u' {
					r2, ok = hex4(raw[8:])
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r, n = dec, 12
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			raw = raw[n:]
			continue
		default:
			return dst, errJSON
		}
		raw = raw[2:]
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// cursor scans a JSON text held whole in memory.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) ws() {
	for c.i < len(c.b) && isSpace(c.b[c.i]) {
		c.i++
	}
}

func (c *cursor) consume(ch byte) bool {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

// rawString returns the body of the string at the cursor, still escaped,
// and whether it holds an escape.
func (c *cursor) rawString() ([]byte, bool, error) {
	c.ws()
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		return nil, false, errJSON
	}
	start, esc := c.i+1, false
	for j := start; j < len(c.b); j++ {
		switch ch := c.b[j]; {
		case ch == '"':
			c.i = j + 1
			return c.b[start:j], esc, nil
		case ch == '\\':
			esc = true
			j++
		case ch < 0x20:
			return nil, false, errJSON
		}
	}
	return nil, false, errJSON
}

// str returns the string at the cursor, unescaped.
func (c *cursor) str() (string, error) {
	raw, esc, err := c.rawString()
	if err != nil || !esc {
		return string(raw), err
	}
	b, err := unescape(nil, raw)
	return string(b), err
}

// skip moves past the value at the cursor and returns it, as written.
func (c *cursor) skip(depth int) ([]byte, error) {
	if depth > 128 {
		return nil, errors.New("nested too deeply")
	}
	c.ws()
	if c.i >= len(c.b) {
		return nil, errJSON
	}
	start := c.i
	switch ch := c.b[c.i]; {
	case ch == '"':
		if _, _, err := c.rawString(); err != nil {
			return nil, err
		}
	case ch == '{' || ch == '[':
		end := byte('}')
		if ch == '[' {
			end = ']'
		}
		c.i++
		if !c.consume(end) {
			for {
				if ch == '{' {
					if _, _, err := c.rawString(); err != nil {
						return nil, err
					}
					if !c.consume(':') {
						return nil, errJSON
					}
				}
				if _, err := c.skip(depth + 1); err != nil {
					return nil, err
				}
				if c.consume(end) {
					break
				}
				if !c.consume(',') {
					return nil, errJSON
				}
			}
		}
	default:
		for c.i < len(c.b) {
			ch := c.b[c.i]
			if ch == ',' || ch == '}' || ch == ']' || isSpace(ch) {
				break
			}
			c.i++
		}
		lit := c.b[start:c.i]
		switch string(lit) {
		case "true", "false", "null":
		default:
			if !isNumber(lit) {
				return nil, errJSON
			}
		}
	}
	return c.b[start:c.i], nil
}

// parseLine parses an entry line into l, whose fields it resets.
func parseLine(b []byte, l *jsonLine) error {
	*l = jsonLine{}
	c := cursor{b: b}
	if !c.consume('{') {
		return errJSON
	}
	for !c.consume('}') {
		key, esc, err := c.rawString()
		if err != nil || !c.consume(':') {
			return errJSON
		}
		if esc {
			if key, err = unescape(nil, key); err != nil {
				return err
			}
		}
		switch string(key) {
		case "id":
			l.ID, l.hasID, err = c.strOrNumber()
		case "timestamp":
			l.Timestamp, err = c.str()
			l.hasTimestamp = err == nil
		case "level":
			l.Level, err = c.str()
			l.hasLevel = err == nil
		case "message":
			l.Message, err = c.str()
			l.hasMessage = err == nil
		case "metadata":
			l.Metadata, err = c.skip(0)
		case "hostname":
			if c.literal("null") {
				break
			}
			l.Hostname, err = c.str()
		case "pid":
			var raw []byte
			if raw, err = c.skip(0); err == nil && string(raw) != "null" {
				var n int64
				if n, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
					err = fmt.Errorf("pid %s is not an integer", raw)
				}
				l.PID = int(n)
			}
		case "tenantId":
			if c.literal("null") {
				break
			}
			var t string
			if t, err = c.str(); err == nil {
				l.TenantID = &t
			}
		default:
			_, err = c.skip(0)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if c.consume('}') {
			break
		}
		if !c.consume(',') {
			return errJSON
		}
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == '}' {
			return errJSON // a trailing comma
		}
	}
	c.ws()
	if c.i != len(c.b) {
		return fmt.Errorf("data after the entry: %w", errJSON)
	}
	return nil
}

func (c *cursor) literal(lit string) bool {
	c.ws()
	if bytes.HasPrefix(c.b[c.i:], []byte(lit)) {
		c.i += len(lit)
		return true
	}
	return false
}

// strOrNumber reads an id: a string, or a number kept as written.
func (c *cursor) strOrNumber() (string, bool, error) {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '"' {
		s, err := c.str()
		return s, err == nil, err
	}
	raw, err := c.skip(0)
	if err != nil {
		return "", false, err
	}
	if string(raw) == "null" {
		return "", false, nil
	}
	return string(raw), true, nil
}

// streamScanner reads blockchain.json's blocks from a stream.
type streamScanner struct {
	br  *bufio.Reader
	raw []byte // scratch: a number or literal
	esc []byte // scratch: a string token, escaped
}

// next returns the next non-space byte, consumed.
func (s *streamScanner) next() (byte, error) {
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if !isSpace(c) {
			return c, nil
		}
	}
}

// str appends the string whose opening quote was consumed to dst,
// unescaped.
func (s *streamScanner) str(dst []byte) ([]byte, error) {
	raw, err := s.rawStr(s.esc[:0])
	s.esc = raw
	if err != nil {
		return dst, err
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return append(dst, raw...), nil
	}
	return unescape(dst, raw)
}

// rawStr appends the body of the string whose opening quote was consumed
// to dst, as written (still escaped).
func (s *streamScanner) rawStr(dst []byte) ([]byte, error) {
	// Usually the whole string is in the reader's buffer: find its end
	// there.
	if win, _ := s.br.Peek(s.br.Buffered()); len(win) > 0 {
		for i := 0; i < len(win); {
			j := i + bytes.IndexByte(win[i:], '"')
			if j < i {
				break
			}
			n := 0
			for k := j - 1; k >= 0 && win[k] == '\\'; k-- {
				n++
			}
			if n%2 == 0 {
				dst = append(dst, win[:j]...)
				s.br.Discard(j + 1)
				return dst, nil
			}
			i = j + 1
		}
	}
	start := len(dst)
	for {
		chunk, err := s.br.ReadSlice('"')
		if err == bufio.ErrBufferFull {
			dst = append(dst, chunk...)
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		dst = append(dst, chunk...)
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for k := len(dst) - 2; k >= start && dst[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return dst[:len(dst)-1], nil
		}
	}
}

// equalUnescaped reports whether the JSON string body raw (escaped) is s.
func equalUnescaped(raw, s []byte) bool {
	for {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			return bytes.Equal(raw, s)
		}
		if i > len(s) || !bytes.Equal(raw[:i], s[:i]) {
			return false
		}
		raw, s = raw[i:], s[i:]
		if len(raw) < 2 {
			return false
		}
		switch c := raw[1]; c {
		case '"', '\\', '/':
			if len(s) == 0 || s[0] != c {
				return false
			}
			raw, s = raw[2:], s[1:]
		default:
			u, err := unescape(nil, raw)
			return err == nil && bytes.Equal(u, s)
		}
	}
}

// skip moves past a value whose first byte, c, was consumed.
func (s *streamScanner) skip(c byte, depth int) error {
	if depth > 128 {
		return errors.New("nested too deeply")
	}
	switch c {
	case '"':
		_, err := s.str(nil)
		return err
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		for first := true; ; first = false {
			c, err := s.next()
			if err != nil {
				return err
			}
			if c == end {
				return nil
			}
			if !first {
				if c != ',' {
					return errJSON
				}
				if c, err = s.next(); err != nil {
					return err
				}
			}
			if end == '}' {
				if c != '"' {
					return errJSON
				}
				if _, err := s.str(nil); err != nil {
					return err
				}
				if c, err = s.next(); err != nil || c != ':' {
					return errJSON
				}
				if c, err = s.next(); err != nil {
					return err
				}
			}
			if err := s.skip(c, depth+1); err != nil {
				return err
			}
		}
	}
	_, err := s.scalar(c)
	return err
}

// scalar reads a number or literal whose first byte, c, was consumed.
func (s *streamScanner) scalar(c byte) ([]byte, error) {
	s.raw = append(s.raw[:0], c)
	for {
		b, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if b == ',' || b == '}' || b == ']' || isSpace(b) {
			s.br.UnreadByte()
			break
		}
		s.raw = append(s.raw, b)
	}
	switch string(s.raw) {
	case "true", "false", "null":
		return s.raw, nil
	}
	if !isNumber(s.raw) {
		return nil, errJSON
	}
	return s.raw, nil
}

// isNumber reports whether b is a JSON number (RFC 8259, section 6).
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// block reads one block object, whose '{' was consumed, into b.
func (s *streamScanner) block(b *block) error {
	b.Index, b.hasIndex = 0, false
	b.Data, b.Hash, b.PreviousHash = b.Data[:0], "", ""
	var tmp []byte
	for first := true; ; first = false {
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
		if !first {
			if c != ',' {
				return errJSON
			}
			if c, err = s.next(); err != nil {
				return err
			}
		}
		if c != '"' {
			return errJSON
		}
		s.raw = s.raw[:0]
		key, err := s.str(tmp[:0])
		if err != nil {
			return err
		}
		tmp = key
		if c, err = s.next(); err != nil || c != ':' {
			return errJSON
		}
		if c, err = s.next(); err != nil {
			return err
		}
		switch string(key) {
		case "index":
			raw, err := s.scalar(c)
			if err != nil {
				return err
			}
			if b.Index, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
				return fmt.Errorf("index %s is not an integer", raw)
			}
			b.hasIndex = true
		case "data", "hash", "previousHash":
			if c != '"' {
				return fmt.Errorf("%s is not a string", key)
			}
			switch string(key) {
			case "data":
				// Kept escaped: the reader of the lines compares it
				// (equalUnescaped), sharing the work.
				if b.Data, err = s.rawStr(b.Data[:0]); err != nil {
					return err
				}
			case "hash":
				v, err := s.str(nil)
				if err != nil {
					return err
				}
				b.Hash = string(v)
			default:
				v, err := s.str(nil)
				if err != nil {
					return err
				}
				b.PreviousHash = string(v)
			}
		default:
			if err := s.skip(c, 0); err != nil {
				return err
			}
		}
	}
}
