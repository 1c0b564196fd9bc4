package treeoflife

// Imported entries: records brought over from another log (the system this
// library replaces) with their own id, time, host and process as data, and
// where they came from in the old log.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LegacyRef says where an imported record was in the log it came from: the
// original system's hash chain (blockchain.json). It is stored in the entry
// under the key "legacy" (FORMAT.md, "Entries"), so the original chain stays
// provable after the move: SHA-256 of Data is Hash, and each record's
// PrevHash is the Hash of the record imported before it.
type LegacyRef struct {
	// Index is the record's position in the original chain (block index),
	// from 0.
	Index uint64 `json:"index"`
	// Hash is the original block hash: SHA-256, hex, of Data.
	Hash string `json:"hash"`
	// PrevHash is the original block's previousHash ("0" for block 0).
	PrevHash string `json:"prevHash"`
	// Broken marks a record whose Data did not match the hash the original
	// chain recorded for it (it was imported anyway, on request). Hash is
	// then the recorded hash, not SHA-256 of Data.
	Broken bool `json:"broken,omitempty"`
	// Data is the original line exactly as the original chain hashed it:
	// the JSON entry, or the encrypted line for an encrypted log.
	Data string `json:"data"`
}

// ImportedEntry is an entry written by another system, appended with
// ImmutableLogger.Import. Unlike Log, which stamps the logger's clock, host
// and process, Import stores these fields as given.
type ImportedEntry struct {
	ID       string    // required; stored as given
	Time     time.Time // required; stored in UTC with nine fractional digits
	Level    Level
	Message  string // required
	Metadata Fields
	// MetadataJSON, when not nil, is the metadata as a JSON object and is
	// used instead of Metadata. It is re-encoded the way Log encodes
	// metadata (keys sorted, strings escaped alike), so the stored entry
	// keeps the format; numbers keep their value, not their spelling.
	MetadataJSON []byte
	Hostname     string
	PID          int
	// Tenant must be the log's tenant ("" for a log without one): a
	// reader refuses an entry whose tenantId is not its log's.
	Tenant string
	Legacy *LegacyRef // optional
}

// Import appends e as it is: its ID, Time, Hostname and PID are stored as
// data instead of being taken from the logger, and e.Legacy, when set, is
// stored with it. The log's chain, index and verification treat the record
// like any other; the index files it under e.Time. ctx and the durability
// of the returned Record are as for Log. An invalid entry returns an error
// wrapping ErrInvalidEntry or ErrEntryTooLarge and writes nothing.
func (l *ImmutableLogger) Import(ctx context.Context, e ImportedEntry) (Record, error) {
	if !l.live() {
		return Record{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	enc := encoderPool.Get().(*encoder)
	defer encoderPool.Put(enc)
	if err := l.encodeImported(enc, &e); err != nil {
		return Record{}, err
	}
	return l.appendImported(ctx, enc, &e)
}

// ImportBatch imports es in order, as many Import calls would, but encodes
// the entries on several goroutines (up to GOMAXPROCS) first: for an
// importer that has many entries at hand. On a plain log the batch is then
// appended under one hold of the logger's lock, so other callers wait for
// it (keep batches to a few hundred entries). It returns the records
// appended. On an error, the entries before the one that failed are
// appended (len of the records returned) and none after it.
func (l *ImmutableLogger) ImportBatch(ctx context.Context, es []ImportedEntry) ([]Record, error) {
	if !l.live() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	encs := make([]*encoder, len(es))
	errs := make([]error, len(es))
	for i := range encs {
		encs[i] = encoderPool.Get().(*encoder)
	}
	defer func() {
		for _, enc := range encs {
			encoderPool.Put(enc)
		}
	}()
	workers := min(runtime.GOMAXPROCS(0), (len(es)+15)/16)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(es)/workers, (w+1)*len(es)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				errs[i] = l.encodeImported(encs[i], &es[i])
			}
		}()
	}
	wg.Wait()
	recs := make([]Record, 0, len(es))
	n := len(es)
	for i, err := range errs {
		if err != nil {
			n = i
			break
		}
	}
	if l.keys == nil && n > 0 {
		// A plain log: the valid prefix under one hold of the lock.
		if err := ctx.Err(); err != nil {
			return recs, err
		}
		done, err := l.appendPlainRun(encs[:n], es[:n])
		for i := range done {
			rec, serr := l.settle(ctx, encs[i], done[i].seq, done[i].chain, done[i].gen, es[i].Time, es[i].Level)
			if rec.Hash != (Hash{}) {
				rec.ID = es[i].ID
				recs = append(recs, rec)
			}
			if serr != nil {
				return recs, serr
			}
		}
		if err != nil {
			return recs, err
		}
		if n < len(es) {
			return recs, errs[n]
		}
		return recs, nil
	}
	for i := range es {
		if errs[i] != nil {
			return recs, errs[i]
		}
		rec, err := l.appendImported(ctx, encs[i], &es[i])
		if rec.Hash != (Hash{}) {
			recs = append(recs, rec)
		}
		if err != nil {
			return recs, err
		}
	}
	return recs, nil
}

// encodeImported checks e and encodes it into enc, with the leaf hash
// begun (or the seal prepared), ready for append.
func (l *ImmutableLogger) encodeImported(enc *encoder, e *ImportedEntry) error {
	switch {
	case !e.Level.valid():
		return fmt.Errorf("%w: unknown level %d", ErrInvalidEntry, e.Level)
	case e.Message == "":
		return fmt.Errorf("%w: message is empty", ErrInvalidEntry)
	case e.ID == "":
		return fmt.Errorf("%w: id is empty", ErrInvalidEntry)
	case e.Time.IsZero():
		return fmt.Errorf("%w: time is not set", ErrInvalidEntry)
	case e.Tenant != l.Tenant():
		return fmt.Errorf("%w: entry of %s imported into the log of %s", ErrInvalidEntry, tenantName(e.Tenant), tenantName(l.Tenant()))
	}
	var hdr [frameHeaderSize]byte
	var err error
	enc.frame, err = l.appendImportedBody(append(enc.frame[:0], hdr[:]...), e)
	if err != nil {
		return err
	}
	enc.buf = enc.frame[frameHeaderSize:]
	if len(enc.buf)+21 > l.opts.MaxEntrySize {
		return fmt.Errorf("%w: %d bytes encoded, limit %d (Options.MaxEntrySize)", ErrEntryTooLarge, len(enc.buf)+21, l.opts.MaxEntrySize)
	}
	if l.keys != nil {
		l.keys.prepareSeal(enc)
	} else {
		enc.key, enc.overhead = nil, 0
		enc.frame[frameHeaderSize-1] = leafHashPrefix // as in Log
		enc.h.Reset()
		enc.h.Write(enc.frame[frameHeaderSize-1:])
	}
	enc.id = enc.id[:0]
	return nil
}

// appended is where appendPlainRun put one record.
type appended struct {
	seq   uint64
	chain Hash
	gen   *generation
}

// appendPlainRun is append for a run of encoded entries of a plain log,
// under one hold of the lock (which admitLocked may let go while it waits
// for room): each frame is sequenced, linked and copied into its chunk
// before the lock is released, so the writer never waits for a copy. It
// returns where the records went; on an error, those before it.
func (l *ImmutableLogger) appendPlainRun(encs []*encoder, es []ImportedEntry) ([]appended, error) {
	out := make([]appended, 0, len(encs))
	now := l.opts.Clock()
	l.mu.Lock()
	for i, e := range encs {
		if err := l.admitLocked(); err != nil {
			l.mu.Unlock()
			return out, err
		}
		seq := l.size
		e.frame = strconv.AppendUint(e.frame, seq, 10)
		e.frame = append(e.frame, '}')
		e.h.Write(e.frame[frameHeaderSize+len(e.buf):])
		leaf := Hash(e.h.Sum())
		c, off := l.reserveAdmittedLocked(int64(len(e.frame)), now)
		dst := c.data[off : off+len(e.frame)]
		c.data = c.data[:off+len(e.frame)]
		chain := l.linkLocked(c, int64(len(e.frame)), leaf, es[i].Level, es[i].Time.UnixNano())
		fillFrameHeader(e.frame, seq, &chain)
		copy(dst, e.frame)
		out = append(out, appended{seq, chain, l.gen})
	}
	flush := l.opts.Durability == DurabilityBuffered && l.pendBytes >= flushBytes
	l.mu.Unlock()
	if flush {
		l.flushInline()
	}
	return out, nil
}

// appendImported appends the entry encodeImported encoded into enc.
func (l *ImmutableLogger) appendImported(ctx context.Context, enc *encoder, e *ImportedEntry) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	seq, chain, gen, err := l.append(enc, l.opts.Clock(), e.Level, e.Time.UnixNano())
	if err != nil {
		return Record{}, err
	}
	rec, err := l.settle(ctx, enc, seq, chain, gen, e.Time, e.Level)
	if rec.Hash != (Hash{}) {
		rec.ID = e.ID
	}
	return rec, err
}

// appendImportedBody is appendEntryBody for an imported entry: the same
// keys in the same order, with "legacy" between "tenantId" and "seq".
func (l *ImmutableLogger) appendImportedBody(dst []byte, e *ImportedEntry) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	if dst, err = appendJSONString(dst, e.ID); err != nil {
		return dst, fmt.Errorf("%w: id: %v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"timestamp":"`...)
	dst = appendTimestamp(dst, e.Time)
	dst = append(dst, `","level":"`...)
	dst = append(dst, levelNames[e.Level]...)
	dst = append(dst, `","message":`...)
	if dst, err = appendJSONString(dst, e.Message); err != nil {
		return dst, fmt.Errorf("%w: message: %v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"metadata":`...)
	if e.MetadataJSON != nil {
		if dst, err = appendCanonicalMetadata(dst, e.MetadataJSON); err != nil {
			return dst, fmt.Errorf("%w: metadata: %v", ErrInvalidEntry, err)
		}
	} else if dst, err = appendJSONMap(dst, e.Metadata, 0); err != nil {
		return dst, fmt.Errorf("%w: metadata%v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"hostname":`...)
	if dst, err = appendJSONString(dst, e.Hostname); err != nil {
		return dst, fmt.Errorf("%w: hostname: %v", ErrInvalidEntry, err)
	}
	dst = append(dst, `,"pid":`...)
	dst = strconv.AppendInt(dst, int64(e.PID), 10)
	dst = append(dst, `,"tenantId":`...)
	dst = append(dst, l.tenantJSON...)
	if r := e.Legacy; r != nil {
		dst = strconv.AppendUint(append(dst, `,"legacy":{"index":`...), r.Index, 10)
		if dst, err = appendJSONString(append(dst, `,"hash":`...), r.Hash); err != nil {
			return dst, fmt.Errorf("%w: legacy hash: %v", ErrInvalidEntry, err)
		}
		if dst, err = appendJSONString(append(dst, `,"prevHash":`...), r.PrevHash); err != nil {
			return dst, fmt.Errorf("%w: legacy prevHash: %v", ErrInvalidEntry, err)
		}
		if r.Broken {
			dst = append(dst, `,"broken":true`...)
		}
		if dst, err = appendJSONString(append(dst, `,"data":`...), r.Data); err != nil {
			return dst, fmt.Errorf("%w: legacy data: %v", ErrInvalidEntry, err)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"seq":`...)
	return dst, nil
}

// metaDecoders serve canonicalMetadata; each keeps its interned keys
// between calls.
var metaDecoders = sync.Pool{New: func() any { return new(entryDecoder) }}

// canonicalMetadata re-encodes the JSON object b as Log encodes metadata
// (FORMAT.md, "Entries"): keys sorted (the last of a repeated key wins, as
// when it is decoded into a map), no spaces, strings escaped and numbers
// written as Log writes the values a reader decodes them to. A null is an
// empty object.
func canonicalMetadata(b []byte) ([]byte, error) { return appendCanonicalMetadata(nil, b) }

// appendCanonicalMetadata appends canonicalMetadata(b) to dst.
func appendCanonicalMetadata(dst, b []byte) ([]byte, error) {
	d := metaDecoders.Get().(*entryDecoder)
	defer metaDecoders.Put(d)
	c := jsonCursor{b: b, d: d}
	c.ws()
	if c.literal("null") {
		c.ws()
		if c.i != len(b) {
			return nil, fmt.Errorf("data after the object: %w", errSyntax)
		}
		return append(dst, "{}"...), nil
	}
	if c.i >= len(b) || b[c.i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	out, err := appendCanonical(dst, &c, 0)
	if err != nil {
		return nil, err
	}
	c.ws()
	if c.i != len(b) {
		return nil, fmt.Errorf("data after the object: %w", errSyntax)
	}
	return out, nil
}

// canonField is one encoded member of an object being re-encoded: its key
// and the span of its encoded value in the object's buffer.
type canonField struct {
	key        string
	start, end int
}

// appendCanonical appends the JSON value at c re-encoded canonically. depth
// counts as appendJSONMap and appendJSONValue count it.
func appendCanonical(dst []byte, c *jsonCursor, depth int) ([]byte, error) {
	c.ws()
	if c.i >= len(c.b) {
		return dst, errSyntax
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		if depth > maxDepth {
			return dst, fmt.Errorf("nested more than %d levels deep", maxDepth)
		}
		c.i++
		if c.consume('}') {
			return append(dst, "{}"...), nil
		}
		var small [16]canonField
		fs := small[:0]
		var buf []byte
		for {
			raw, esc, ok := c.rawString()
			if !ok || !c.consume(':') {
				return dst, errSyntax
			}
			k := c.d.key(raw, esc)
			start := len(buf)
			var err error
			if buf, err = appendCanonical(buf, c, depth+1); err != nil {
				return dst, wrapPath(k, err)
			}
			fs = append(fs, canonField{k, start, len(buf)})
			if c.consume('}') {
				break
			}
			if !c.consume(',') {
				return dst, errSyntax
			}
		}
		slices.SortStableFunc(fs, func(a, b canonField) int { return strings.Compare(a.key, b.key) })
		dst = append(dst, '{')
		n := 0
		for i, f := range fs {
			if i+1 < len(fs) && fs[i+1].key == f.key {
				continue // a later value of the same key wins
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			var err error
			if dst, err = appendJSONString(dst, f.key); err != nil {
				return dst, wrapPath(f.key, fmt.Errorf("key: %w", err))
			}
			dst = append(dst, ':')
			dst = append(dst, buf[f.start:f.end]...)
		}
		return append(dst, '}'), nil
	case ch == '[':
		if depth > maxDepth {
			return dst, fmt.Errorf("nested more than %d levels deep", maxDepth)
		}
		c.i++
		dst = append(dst, '[')
		if c.consume(']') {
			return append(dst, ']'), nil
		}
		for i := 0; ; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, c, depth+1); err != nil {
				return dst, wrapPath(strconv.Itoa(i), err)
			}
			if c.consume(']') {
				return append(dst, ']'), nil
			}
			if !c.consume(',') {
				return dst, errSyntax
			}
		}
	case ch == '"':
		raw, esc, ok := c.rawString()
		if !ok {
			return dst, errSyntax
		}
		if !esc && plainASCII(raw) {
			dst = append(dst, '"')
			dst = append(dst, raw...)
			return append(dst, '"'), nil
		}
		s := string(raw)
		if esc {
			s = string(unescape(c.d.scratch[:0], raw))
		}
		return appendJSONString(dst, s)
	case ch == 't' || ch == 'f' || ch == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if c.literal(lit) {
				return append(dst, lit...), nil
			}
		}
		return dst, errSyntax
	case ch == '-' || '0' <= ch && ch <= '9':
		v, err := c.number()
		if err != nil {
			return dst, err
		}
		return appendJSONValue(dst, v, depth)
	}
	return dst, errSyntax
}

// plainASCII reports whether appendJSONString writes raw as it is: printable
// ASCII without the characters it escapes.
func plainASCII(raw []byte) bool {
	for _, b := range raw {
		if b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return false
		}
	}
	return true
}

// decodeLegacy decodes the value of an entry's "legacy" key.
func decodeLegacy(c *jsonCursor) (*LegacyRef, error) {
	if c.literal("null") {
		return nil, nil
	}
	if !c.consume('{') {
		return nil, errSyntax
	}
	r := new(LegacyRef)
	for first := true; ; first = false {
		if c.consume('}') {
			return r, nil
		}
		if !first && !c.consume(',') {
			return nil, errSyntax
		}
		key, err := c.str()
		if err != nil || !c.consume(':') {
			return nil, errSyntax
		}
		switch key {
		case "index":
			var n int64
			if n, err = c.int(); err == nil && n < 0 {
				err = errors.New("index is negative")
			}
			r.Index = uint64(n)
		case "hash":
			r.Hash, err = c.str()
		case "prevHash":
			r.PrevHash, err = c.str()
		case "broken":
			switch {
			case c.literal("true"):
				r.Broken = true
			case c.literal("false"):
			default:
				err = errSyntax
			}
		case "data":
			r.Data, err = c.str()
		default:
			_, err = c.value(2)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
}
