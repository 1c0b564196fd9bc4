package treeoflife

import (
	"context"
	"fmt"
)

// A ScopedLogger logs into an ImmutableLogger with fields of its own, which
// go into the metadata of every record it logs: a request's ID, a user, a
// job. It is made by With, holds its fields encoded once (a call encodes
// only its own fields), and is safe for concurrent use.
//
// Fields merge by key at the top level of the metadata: a field given to a
// call replaces the scoped field of the same key, and a With on a
// ScopedLogger replaces its parent's field of the same key. A replaced
// value is replaced whole: nested maps are not merged.
type ScopedLogger struct {
	l      *ImmutableLogger
	fields []encodedField // sorted by key, each key once
	err    error          // the fields could not be encoded
}

// With returns a ScopedLogger that adds fields to every record it logs.
// fields are encoded now, once; changing the map afterwards changes
// nothing. If they cannot be encoded (see Fields), every call of the
// ScopedLogger returns that error, wrapping ErrInvalidEntry, and writes
// nothing.
func (l *ImmutableLogger) With(fields Fields) *ScopedLogger {
	enc, err := encodeFields(fields)
	if err != nil {
		err = fmt.Errorf("%w: With metadata%v", ErrInvalidEntry, err)
	}
	return &ScopedLogger{l: l, fields: enc, err: err}
}

// With returns a ScopedLogger with s's fields and fields, which replace
// s's fields of the same keys.
func (s *ScopedLogger) With(fields Fields) *ScopedLogger {
	if s.err != nil {
		return s
	}
	enc, err := encodeFields(fields)
	if err != nil {
		return &ScopedLogger{l: s.l, err: fmt.Errorf("%w: With metadata%v", ErrInvalidEntry, err)}
	}
	return &ScopedLogger{l: s.l, fields: mergeEncoded(s.fields, enc)}
}

// Logger returns the logger s logs into.
func (s *ScopedLogger) Logger() *ImmutableLogger { return s.l }

// Log is ImmutableLogger.Log with s's fields merged into fields.
func (s *ScopedLogger) Log(ctx context.Context, level Level, msg string, fields Fields) (Record, error) {
	if s.err != nil {
		return Record{}, s.err
	}
	return s.l.logMeta(ctx, level, msg, meta{fields: fields, pre: s.fields})
}

// Info logs msg at LevelInfo.
func (s *ScopedLogger) Info(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelInfo, msg, fields)
}

// InfoContext logs msg at LevelInfo, with ctx as Log takes it.
func (s *ScopedLogger) InfoContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelInfo, msg, fields)
}

// Warn logs msg at LevelWarn.
func (s *ScopedLogger) Warn(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelWarn, msg, fields)
}

// WarnContext logs msg at LevelWarn, with ctx as Log takes it.
func (s *ScopedLogger) WarnContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelWarn, msg, fields)
}

// Error logs msg at LevelError.
func (s *ScopedLogger) Error(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelError, msg, fields)
}

// ErrorContext logs msg at LevelError, with ctx as Log takes it.
func (s *ScopedLogger) ErrorContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelError, msg, fields)
}

// Critical logs msg at LevelCritical.
func (s *ScopedLogger) Critical(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelCritical, msg, fields)
}

// CriticalContext logs msg at LevelCritical, with ctx as Log takes it.
func (s *ScopedLogger) CriticalContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelCritical, msg, fields)
}

// Audit logs msg at LevelAudit.
func (s *ScopedLogger) Audit(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelAudit, msg, fields)
}

// AuditContext logs msg at LevelAudit, with ctx as Log takes it.
func (s *ScopedLogger) AuditContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelAudit, msg, fields)
}

// Security logs msg at LevelSecurity.
func (s *ScopedLogger) Security(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelSecurity, msg, fields)
}

// SecurityContext logs msg at LevelSecurity, with ctx as Log takes it.
func (s *ScopedLogger) SecurityContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelSecurity, msg, fields)
}

// Revenue logs msg at LevelRevenue.
func (s *ScopedLogger) Revenue(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelRevenue, msg, fields)
}

// RevenueContext logs msg at LevelRevenue, with ctx as Log takes it.
func (s *ScopedLogger) RevenueContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelRevenue, msg, fields)
}

// System logs msg at LevelSystem.
func (s *ScopedLogger) System(msg string, fields Fields) (Record, error) {
	return s.Log(context.Background(), LevelSystem, msg, fields)
}

// SystemContext logs msg at LevelSystem, with ctx as Log takes it.
func (s *ScopedLogger) SystemContext(ctx context.Context, msg string, fields Fields) (Record, error) {
	return s.Log(ctx, LevelSystem, msg, fields)
}
