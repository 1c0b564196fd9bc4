package treeoflife

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The slog levels of the business levels and of Critical, for
// slog.Log(ctx, treeoflife.SlogAudit, ...) and the like. They sit above
// slog.LevelError, so that a handler enabled for errors lets them through,
// and each is distinct. Other handlers print them as "ERROR+4" to
// "ERROR+8" unless told otherwise (HandlerOptions.ReplaceAttr).
const (
	SlogCritical = slog.LevelError + 4
	SlogAudit    = slog.LevelError + 5
	SlogSecurity = slog.LevelError + 6
	SlogRevenue  = slog.LevelError + 7
	SlogSystem   = slog.LevelError + 8
)

// SlogLevel returns the Level a SlogHandler stores a record of slog level
// lv at: the five Slog levels as named (SlogAudit is LevelAudit, and so
// on); any other level by severity: below slog.LevelWarn (Debug and Info)
// LevelInfo, below slog.LevelError LevelWarn, below SlogCritical
// LevelError, and above the named ones LevelCritical.
func SlogLevel(lv slog.Level) Level {
	switch {
	case lv < slog.LevelWarn:
		return LevelInfo
	case lv < slog.LevelError:
		return LevelWarn
	case lv < SlogCritical:
		return LevelError
	}
	switch lv {
	case SlogAudit:
		return LevelAudit
	case SlogSecurity:
		return LevelSecurity
	case SlogRevenue:
		return LevelRevenue
	case SlogSystem:
		return LevelSystem
	}
	return LevelCritical
}

// SlogOptions configure a SlogHandler. The zero value (or nil) is the
// default: Info and above, errors counted but not reported.
type SlogOptions struct {
	// Level is the lowest slog level stored. Default slog.LevelInfo.
	Level slog.Leveler

	// OnError, when set, is called with every error Handle returns, from
	// the goroutine that logged: slog.Logger drops them. Failures counts
	// them either way.
	OnError func(error)

	// KeepTime also stores the slog Record's Time, when it is not zero, in
	// the metadata as "time" (slog.TimeKey, RFC 3339 with nanoseconds),
	// outside any group; an attribute named "time" replaces it. Off by
	// default: the entry's own timestamp, taken from the logger's clock as
	// the record is sequenced, is the one the log orders, indexes and
	// filters by, whichever is kept.
	KeepTime bool
}

// A SlogHandler is a slog.Handler that stores every record it handles in
// an ImmutableLogger. Use it to send what a program already logs with
// log/slog into the tamper-evident log:
//
//	logger := slog.New(treeoflife.NewSlogHandler(l, nil))
//	logger.Log(ctx, treeoflife.SlogAudit, "user login", "user", id)
//
// Each record is one entry: its message is the entry's message, its level
// maps to a Level (see SlogLevel), and its attributes are the metadata,
// with every group a nested object. It follows slog's rules: values are
// resolved (LogValuer), empty attributes and groups with no attributes are
// left out, and the attributes of a group with an empty key are inlined.
// Values are stored as Log stores the same Go value in Fields (a
// time.Duration as its String, an error as its Error). Where several
// attributes have the same key in one object, the last one given is kept,
// as reading slog's JSON output back would keep it. The slog Record's Time
// is not stored unless SlogOptions.KeepTime; its source (PC) never is.
//
// slog passes a context for its values (trace IDs, say), not to cancel a
// logging call, so Handle does not let ctx stop the write: a record handed
// to Handle is written even if ctx is done. On a DurabilitySync logger
// Handle returns after the fsync.
//
// slog.Logger drops the error Handle returns. The handler counts failures
// (Failures) and passes each error to SlogOptions.OnError. Writes that must
// not be lost silently — the audit trail itself — belong on the
// error-returning API (Audit, Log, ...), not on slog.
//
// A SlogHandler is safe for concurrent use. WithAttrs encodes its
// attributes once, when called, not for every record.
type SlogHandler struct {
	l      *ImmutableLogger
	level  slog.Leveler
	opts   *SlogOptions
	failed *atomic.Uint64 // shared by the handlers derived with With...
	groups []slogGroup    // groups[0] is the top level; one more per WithGroup
	err    error          // WithAttrs could not encode its attributes
}

// slogGroup is one object level of a handler's output: the attributes
// WithAttrs gave it, encoded, sorted by key, each key once.
type slogGroup struct {
	name  string
	attrs []slogRef
}

// slogRef is one encoded attribute: key and its value's JSON.
type slogRef struct {
	key string
	val []byte
}

var _ slog.Handler = (*SlogHandler)(nil)

// NewSlogHandler returns a handler that logs into l. opts may be nil.
func NewSlogHandler(l *ImmutableLogger, opts *SlogOptions) *SlogHandler {
	if opts == nil {
		opts = &SlogOptions{}
	}
	h := &SlogHandler{l: l, level: opts.Level, opts: opts, failed: new(atomic.Uint64), groups: []slogGroup{{}}}
	if h.level == nil {
		h.level = slog.LevelInfo
	}
	return h
}

// Enabled reports whether level is at least SlogOptions.Level.
func (h *SlogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// Failures returns how many records this handler, and those derived from
// it by WithAttrs and WithGroup, failed to store.
func (h *SlogHandler) Failures() uint64 { return h.failed.Load() }

// Handle stores r as one entry. It returns nil once the logger has
// accepted the record (DurabilityBuffered) or made it durable
// (DurabilitySync); otherwise the error, which it also counts and passes
// to SlogOptions.OnError. It is safe for concurrent use.
func (h *SlogHandler) Handle(_ context.Context, r slog.Record) error {
	err := h.handle(r)
	if err != nil {
		h.failed.Add(1)
		if h.opts.OnError != nil {
			h.opts.OnError(err)
		}
	}
	return err
}

func (h *SlogHandler) handle(r slog.Record) error {
	if h.err != nil {
		return h.err
	}
	if len(h.groups)-1 > maxDepth {
		return fmt.Errorf("%w: slog groups nested more than %d levels deep", ErrInvalidEntry, maxDepth)
	}
	s := slogScratchPool.Get().(*slogScratch)
	defer s.release()
	depth := len(h.groups) // the depth of the innermost group's values
	var err error
	r.Attrs(func(a slog.Attr) bool {
		err = s.add(a, depth)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("%w: slog attribute%v", ErrInvalidEntry, err)
	}
	// The record's attributes, then each group from the innermost out:
	// a group's object is its WithAttrs attributes and the object inside
	// it (left out when empty), in the object around it under its name.
	s.refs = s.toRefs(s.refs[:0], 0)
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := &h.groups[i]
		// Lowest priority first: a later attribute of the same key wins.
		var refs []slogRef
		if i == 0 && h.opts.KeepTime && !r.Time.IsZero() {
			s.time = append(r.Time.AppendFormat(append(s.time[:0], '"'), time.RFC3339Nano), '"')
			refs = append(s.level[:0], slogRef{slog.TimeKey, s.time})
		} else {
			refs = s.level[:0]
		}
		refs = append(refs, g.attrs...)
		refs = append(refs, s.refs...)
		s.level = refs
		if len(refs) == 0 {
			s.refs = s.refs[:0]
			continue
		}
		sortRefs(refs)
		s.out[i&1], err = appendRefs(s.out[i&1][:0], refs)
		if err != nil {
			return fmt.Errorf("%w: slog attribute%v", ErrInvalidEntry, err)
		}
		if i > 0 {
			s.refs = append(s.refs[:0], slogRef{g.name, s.out[i&1]})
		}
	}
	raw := s.out[0]
	if len(s.level) == 0 {
		raw = append(raw[:0], "{}"...)
	}
	// Background: see the type's doc on contexts.
	_, err = h.l.logMeta(context.Background(), SlogLevel(r.Level), r.Message, meta{raw: raw})
	return err
}

// WithAttrs returns a handler that adds attrs to every record, in the
// groups open now. They are resolved and encoded once, here; if that
// fails, every record of the returned handler fails with the error.
func (h *SlogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 || h.err != nil {
		return h
	}
	h2 := *h
	h2.groups = slices.Clone(h.groups)
	g := &h2.groups[len(h2.groups)-1]
	s := &slogScratch{}
	for _, a := range attrs {
		if err := s.add(a, len(h.groups)); err != nil {
			h2.err = fmt.Errorf("%w: slog attribute%v", ErrInvalidEntry, err)
			return &h2
		}
	}
	// s is not returned to the pool: the new handler keeps its buffer.
	refs := append(slices.Clip(g.attrs), s.toRefs(nil, 0)...)
	sortRefs(refs)
	g.attrs = dedupRefs(refs)
	for _, r := range g.attrs {
		if _, err := appendJSONString(nil, r.key); err != nil {
			h2.err = fmt.Errorf("%w: slog attribute.%s: key: %v", ErrInvalidEntry, r.key, err)
			break
		}
	}
	return &h2
}

// WithGroup returns a handler that puts the attributes of every record,
// and those given to its WithAttrs, in a group called name: a nested
// object, left out of records that give it no attributes. An empty name
// returns h.
func (h *SlogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), slogGroup{name: name})
	return &h2
}

// slogScratch is the per-record space of a SlogHandler, pooled. vals holds
// encoded values (a nested group's object among them), ents the
// attributes of the objects being built, indexing vals.
type slogScratch struct {
	vals  []byte
	ents  []slogEnt
	refs  []slogRef
	level []slogRef
	out   [2][]byte
	time  []byte
}

type slogEnt struct {
	key        string
	start, end int // vals[start:end]
}

var slogScratchPool = sync.Pool{New: func() any { return &slogScratch{} }}

func (s *slogScratch) release() {
	if cap(s.vals) > 64<<10 || cap(s.out[0]) > 64<<10 || cap(s.out[1]) > 64<<10 {
		return // not worth keeping
	}
	s.vals, s.ents = s.vals[:0], s.ents[:0]
	clear(s.refs[:cap(s.refs)])
	clear(s.level[:cap(s.level)])
	s.refs, s.level = s.refs[:0], s.level[:0]
	slogScratchPool.Put(s)
}

// add encodes a into the object being built, whose values are at depth.
func (s *slogScratch) add(a slog.Attr, depth int) error {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return nil
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if a.Key == "" {
			for _, g := range attrs {
				if err := s.add(g, depth); err != nil {
					return err
				}
			}
			return nil
		}
		if depth > maxDepth {
			return wrapPath(a.Key, fmt.Errorf("groups nested more than %d levels deep", maxDepth))
		}
		base := len(s.ents)
		for _, g := range attrs {
			if err := s.add(g, depth+1); err != nil {
				return wrapPath(a.Key, err)
			}
		}
		if len(s.ents) == base {
			return nil // an empty group is left out
		}
		// The group's object goes to the end of vals, after its values.
		refs := s.toRefs(nil, base)
		sortRefs(refs)
		start := len(s.vals)
		var err error
		if s.vals, err = appendRefs(s.vals, refs); err != nil {
			return wrapPath(a.Key, err)
		}
		s.ents = append(s.ents[:base], slogEnt{a.Key, start, len(s.vals)})
		return nil
	}
	start := len(s.vals)
	var err error
	if s.vals, err = appendSlogValue(s.vals, a.Value, depth); err != nil {
		return wrapPath(a.Key, err)
	}
	s.ents = append(s.ents, slogEnt{a.Key, start, len(s.vals)})
	return nil
}

// toRefs appends the attributes ents[base:] to refs, as slices of vals.
// vals must not grow while they are used.
func (s *slogScratch) toRefs(refs []slogRef, base int) []slogRef {
	for _, e := range s.ents[base:] {
		refs = append(refs, slogRef{e.key, s.vals[e.start:e.end:e.end]})
	}
	return refs
}

func appendSlogValue(dst []byte, v slog.Value, depth int) ([]byte, error) {
	switch v.Kind() {
	case slog.KindString:
		return appendJSONString(dst, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(dst, v.Int64(), 10), nil
	case slog.KindUint64:
		return strconv.AppendUint(dst, v.Uint64(), 10), nil
	case slog.KindFloat64:
		return appendJSONFloat(dst, v.Float64(), 64)
	case slog.KindBool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case slog.KindDuration:
		return appendJSONString(dst, v.Duration().String())
	case slog.KindTime:
		if t := v.Time(); t.Year() >= 0 && t.Year() <= 9999 {
			return append(t.AppendFormat(append(dst, '"'), time.RFC3339Nano), '"'), nil
		}
		return appendJSONValue(dst, v.Any(), depth) // encoding/json reports the error
	}
	return appendJSONValue(dst, v.Any(), depth)
}

// sortRefs sorts refs by key, keeping the order of equal keys.
func sortRefs(refs []slogRef) {
	if len(refs) > 12 {
		slices.SortStableFunc(refs, func(a, b slogRef) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && refs[j].key < refs[j-1].key; j-- {
			refs[j], refs[j-1] = refs[j-1], refs[j]
		}
	}
}

// dedupRefs keeps the last of each run of equal keys in the sorted refs.
func dedupRefs(refs []slogRef) []slogRef {
	out := refs[:0]
	for i, r := range refs {
		if i+1 < len(refs) && refs[i+1].key == r.key {
			continue
		}
		out = append(out, r)
	}
	return out
}

// appendRefs appends the sorted refs as a JSON object, keeping the last of
// each run of equal keys.
func appendRefs(dst []byte, refs []slogRef) ([]byte, error) {
	dst = append(dst, '{')
	n := 0
	for i, r := range refs {
		if i+1 < len(refs) && refs[i+1].key == r.key {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var err error
		if dst, err = appendJSONString(dst, r.key); err != nil {
			return dst, wrapPath(r.key, fmt.Errorf("key: %w", err))
		}
		dst = append(dst, ':')
		dst = append(dst, r.val...)
	}
	return append(dst, '}'), nil
}
