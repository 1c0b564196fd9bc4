package treeoflife

import (
	"errors"
	"fmt"
	"syscall"
)

// Errors returned by the logger. Test for them with errors.Is; most are wrapped
// with the path or value they concern.
var (
	// ErrClosed is returned by every method called after Close, and by the
	// methods of a nil or zero ImmutableLogger or Tenants (use the values
	// Open and OpenTenants return) and Close on a nil or zero Reader or
	// TenantLogger.
	ErrClosed = errors.New("treeoflife: logger is closed")

	// ErrLocked is returned by Open when another process, or another Open in
	// this process, holds the directory's lock.
	ErrLocked = errors.New("treeoflife: log directory is locked by another logger")

	// ErrNotLog is returned by Open for a directory that holds files but no
	// treeoflife HEADER, and for files that are not treeoflife segments.
	ErrNotLog = errors.New("treeoflife: not a treeoflife log")

	// ErrUnsupportedVersion is returned for a header or segment written by a
	// newer, incompatible format version.
	ErrUnsupportedVersion = errors.New("treeoflife: unsupported format version")

	// ErrInvalidEntry is returned when an entry cannot be logged: an empty
	// message, invalid UTF-8, an unknown level, or metadata JSON cannot encode
	// (NaN, Inf, channels, functions, cycles). Nothing is written.
	ErrInvalidEntry = errors.New("treeoflife: invalid entry")

	// ErrEntryTooLarge is returned when an encoded entry exceeds
	// Options.MaxEntrySize. Nothing is written.
	ErrEntryTooLarge = errors.New("treeoflife: entry too large")

	// ErrInvalidOptions is returned by Open when an Options field is out of
	// range; the message names the field.
	ErrInvalidOptions = errors.New("treeoflife: invalid options")

	// ErrTampered is matched (errors.Is) by every *TamperError.
	ErrTampered = errors.New("treeoflife: log failed verification")

	// ErrKeyRequired is returned by Open for an encrypted log when Options
	// gives no key, and when reading a record whose data key is wrapped by a
	// master key that was not given. A KeyProvider returns it (wrapped) for
	// a key ID it does not hold.
	ErrKeyRequired = errors.New("treeoflife: encryption key required")

	// ErrWrongKey is returned by Open when none of the keys given opens the
	// log's data keys: a wrong key, passphrase or keyring.
	ErrWrongKey = errors.New("treeoflife: wrong encryption key")

	// ErrDecrypt is returned when a sealed record does not open: its bytes
	// were modified or cut, or it was moved from another position or log.
	ErrDecrypt = errors.New("treeoflife: record does not decrypt")

	// ErrErased is returned for a log whose data keys were erased
	// (Tenants.Erase): its records can no longer be decrypted.
	ErrErased = errors.New("treeoflife: data key erased")

	// ErrDiskFull is returned while the log's file system is full (ENOSPC,
	// or EDQUOT for a quota); it wraps syscall.ENOSPC, so errors.Is matches
	// either. The logger does not fail: it cuts off the partial write, keeps
	// every record it had accepted, in order, and refuses new ones with
	// ErrDiskFull; it tries again every 200 ms and, once a write succeeds,
	// writes the held-back records and accepts new ones, with no reopen.
	// A Sync-mode call whose record was accepted but could not be written
	// returns the Record (with its Seq) and an error matching ErrDiskFull:
	// the record is not durable yet, and becomes durable when space is
	// available, unless the logger is closed first (Close then returns the
	// error, and the held-back records are not written).
	ErrDiskFull = fmt.Errorf("treeoflife: disk full: %w", syscall.ENOSPC)

	// ErrKeyExhausted is returned for a record of an encrypted log whose
	// data key has sealed as many records as one AES-GCM key with random
	// nonces safely may (just under 2^32), because starting a new data key
	// (every 2^30 records) kept failing. RotateDataKey ends it.
	ErrKeyExhausted = errors.New("treeoflife: data key exhausted")

	// ErrInvalidTenant is returned for a tenant ID that is not allowed (see
	// ValidateTenantID), and by Open when Options.Tenant does not match the
	// tenant the log was created for.
	ErrInvalidTenant = errors.New("treeoflife: invalid tenant ID")
)

// A TamperError reports the first place where the files on disk are not what
// the hash chain, the framing or the checkpoint says they must be: a record
// changed, inserted, deleted or reordered, a damaged frame, a missing,
// renamed or foreign segment, or a log cut short.
//
// Segment is the segment's file name ("" when the problem is not in one
// segment, such as a missing tail), Seq the sequence number of the record
// where verification failed (or that was expected there), Offset the byte
// offset of its frame in the uncompressed segment (-1 when not applicable).
type TamperError struct {
	Segment string
	Seq     uint64
	Offset  int64
	Reason  string
}

func (e *TamperError) Error() string {
	if e.Segment == "" {
		return fmt.Sprintf("treeoflife: tampering detected at seq %d: %s", e.Seq, e.Reason)
	}
	return fmt.Sprintf("treeoflife: tampering detected in segment %s at seq %d (offset %d): %s",
		e.Segment, e.Seq, e.Offset, e.Reason)
}

// Is reports whether target is ErrTampered.
func (e *TamperError) Is(target error) bool { return target == ErrTampered }

// A NotWaitedError is returned by a Sync-mode logging call whose context
// ended while it waited for its record's fsync. The record was sequenced
// before that: it is in the log at Seq and is written with the others, so
// it becomes durable unless the logger fails (Close then reports it). A
// retry would log it twice; wait with Sync instead, or look for the Seq.
// Err is the context's error, and errors.Is(err, context.Canceled) or
// context.DeadlineExceeded matches through Unwrap.
type NotWaitedError struct {
	Seq uint64
	Err error
}

func (e *NotWaitedError) Error() string {
	return fmt.Sprintf("treeoflife: stopped waiting for the fsync of record %d, which is in the log and will be stored: %v", e.Seq, e.Err)
}

// Unwrap returns Err.
func (e *NotWaitedError) Unwrap() error { return e.Err }
