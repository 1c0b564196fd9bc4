// Package backup defines Sink, the object store that the backup shipper
// writes batches of records to, and the rules every sink follows.
//
// Each backend lives in its own package so that a program links only the SDK
// it uses: backup/file (a local directory), backup/s3 (Amazon S3 and
// S3-compatible stores such as MinIO), backup/gcs (Google Cloud Storage) and
// backup/azblob (Azure Blob Storage).
// backup/backuptest is a conformance suite that every sink, including one
// written outside this module, can run.
//
// # Write-once objects
//
// The write path never deletes and never overwrites: the shipper puts each
// batch once, under a key derived from its sequence range, with
// [PutOptions.IfNotExists] set. A Put whose first attempt reached the store but
// whose answer was lost is retried (by the SDK or by the shipper) and then
// fails with [ErrExist]; the caller tells "I already uploaded this" from "a
// different object is there" by comparing [Sink.Stat]'s SHA256 with its own.
//
// # Replaced objects
//
// One small object, a lease, is replaced rather than written once: it is
// created with [PutOptions.Mutable] and replaced with [PutOptions.IfMatch],
// a compare-and-swap on the [ObjectInfo.Version] that Get or Stat returned.
//
// # Keys and metadata
//
// Keys are '/'-separated paths that mean the same thing on every backend; see
// [ValidateKey]. Metadata keys are lower case so that S3 (which lower-cases
// them) and GCS (which does not) return what was put; see [ValidateMetadata].
package backup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"strings"
	"time"
)

// Errors returned by every Sink, wrapped with the backend and the key.
// Test them with errors.Is.
var (
	// ErrNotExist means the object does not exist. It matches fs.ErrNotExist
	// too, so callers that only know io/fs can test for it.
	ErrNotExist = fmt.Errorf("backup: object does not exist: %w", fs.ErrNotExist)

	// ErrExist means Put was asked to create an object only if it did not
	// exist (PutOptions.IfNotExists) and it did. The existing object is
	// unchanged. It matches fs.ErrExist too.
	ErrExist = fmt.Errorf("backup: object already exists: %w", fs.ErrExist)

	// ErrChanged means Put was asked to replace an object only at a given
	// version (PutOptions.IfMatch) and the key holds another version, or
	// nothing. Nothing was stored.
	ErrChanged = errors.New("backup: object changed since it was read")

	// ErrChecksum means the body does not match the checksum given to Put (the
	// store or the sink refused it, and nothing was stored), or that an
	// object read by Get does not match the checksum stored with it.
	ErrChecksum = errors.New("backup: checksum mismatch")

	// ErrInvalidKey means a key breaks the rules of ValidateKey.
	ErrInvalidKey = errors.New("backup: invalid key")

	// ErrInvalidMetadata means metadata breaks the rules of ValidateMetadata.
	ErrInvalidMetadata = errors.New("backup: invalid metadata")
)

// Sink is a cloud object store (or a stand-in for one) used as a backup
// target. Objects are written once and read back whole.
//
// All methods are safe for concurrent use by multiple goroutines. A Sink holds
// no per-call state: two goroutines may Put distinct keys at the same time,
// and a Put racing a Get of the same key returns the old or the new state,
// never a mix.
//
// Methods honour ctx cancellation and deadlines; an error caused by ctx wraps
// ctx.Err(). Errors name the backend and the key, and wrap the sentinels
// above where one applies; any other error (network, permission, quota) is
// the caller's to retry later.
//
// Sinks that hold resources (connection pools) also implement io.Closer; the
// code that created the sink closes it.
type Sink interface {
	// Put stores body under key.
	//
	// sum must be the SHA-256 of body, computed by the caller from the data
	// it means to back up. The sink sends it (or, where the store has no
	// SHA-256 support, a checksum derived from the same bytes together with
	// a local check of sum) so that the store refuses a body damaged on the
	// way; a mismatch returns an error wrapping ErrChecksum and stores
	// nothing.
	//
	// Put neither modifies nor retains body or opts.Metadata after it
	// returns; the caller may reuse them at once.
	//
	// Put is atomic: a reader sees either no object (or the previous one)
	// or the complete new one with its metadata, never a partial body.
	// When Put returns nil the object is durable as far as the store
	// promises durability.
	//
	// With opts.IfNotExists, Put fails with an error wrapping ErrExist if
	// key already holds an object, and leaves that object unchanged. Two
	// concurrent conditional Puts of the same key: exactly one succeeds.
	// Without it, Put replaces any existing object.
	//
	// An invalid key or metadata returns ErrInvalidKey or ErrInvalidMetadata
	// before anything is sent.
	Put(ctx context.Context, key string, body []byte, sum [sha256.Size]byte, opts PutOptions) error

	// Get opens the object stored under key for reading.
	//
	// If there is none, Get returns an error wrapping ErrNotExist (and so
	// fs.ErrNotExist) and a nil reader. Otherwise the caller owns the
	// returned reader and must Close it. When the sink knows the object's
	// checksum, the reader verifies the body as it is read and returns an
	// error wrapping ErrChecksum instead of io.EOF on a mismatch: only a
	// body read to io.EOF is known to be intact.
	//
	// The ObjectInfo describes the object that the reader reads; the caller
	// owns it.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)

	// Stat returns the ObjectInfo of the object stored under key without
	// reading its body, or an error wrapping ErrNotExist if there is none.
	// The caller owns the returned ObjectInfo.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List yields the objects whose keys begin with prefix, in ascending
	// byte order of key. prefix is a plain string prefix, not a directory:
	// "seg/1" matches "seg/1/a" and "seg/10". The empty prefix lists
	// everything.
	//
	// The sink fetches the listing page by page (however many objects there
	// are) as the loop asks for more; breaking out of the loop stops it.
	// Each yielded ObjectInfo has Key, Size and ModTime; Metadata and SHA256
	// may be nil, since most stores do not list them: call Stat for those.
	//
	// On an error, List yields it once with a zero ObjectInfo and stops.
	// Objects put or removed while a listing runs may or may not appear.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
}

// VersionLister is implemented by sinks on stores that keep earlier
// versions of an object (an S3 bucket with versioning, which Object Lock
// turns on; a GCS bucket with object versioning). On such a store a plain
// delete does not remove an object, it hides it (S3 adds a delete marker,
// GCS makes the live version noncurrent), and List no longer shows it. A
// reader that must notice objects being removed asks ListDeleted.
//
// Its method is safe for concurrent use, like Sink's.
type VersionLister interface {
	// ListDeleted yields the objects whose keys begin with prefix and that
	// were deleted while the store still holds an earlier version of them:
	// the key's current version is a delete marker (S3) or the key has
	// noncurrent versions only (GCS). It yields each such key once, in
	// ascending byte order, with the ObjectInfo (Size, ModTime) of its
	// newest stored version; a key whose current version is a live object
	// (deleted and put again, or overwritten) is not yielded.
	//
	// On a store without versioning, it yields nothing. On an error (for
	// example a credential allowed to list objects but not their versions:
	// S3's s3:ListBucketVersions), it yields the error once, with a zero
	// ObjectInfo, and stops.
	ListDeleted(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
}

// Deleter is implemented by sinks that can remove an object for good. The
// backup itself is never deleted from (its objects are write-once); a
// Deleter is for the few mutable objects kept beside it, such as a tenant's
// wrapped key, whose removal is the point (crypto-shredding).
//
// Its method is safe for concurrent use, like Sink's.
type Deleter interface {
	// Delete removes the object stored under key and every earlier version
	// of it the store holds (S3 object versions and delete markers, GCS
	// noncurrent generations, Azure blob versions and snapshots), so that
	// nothing stored under key can be read again. A key that holds nothing
	// is not an error. An object under retention or a legal hold cannot be
	// removed, and the error says so: put such objects with
	// PutOptions.Mutable, in a bucket without a default retention period.
	Delete(ctx context.Context, key string) error
}

// PutOptions are the optional parts of a Put. The zero value puts an object
// with no metadata, replacing any existing one.
type PutOptions struct {
	// Metadata is stored with the object and returned by Get and Stat.
	// Keys and values must satisfy ValidateMetadata. Nil and empty are the
	// same.
	Metadata map[string]string

	// IfNotExists makes Put fail with ErrExist, and store nothing, if an
	// object already exists under the key (S3 If-None-Match: *, GCS
	// DoesNotExist, O_EXCL/link on a file system).
	IfNotExists bool

	// IfMatch, when not empty, makes Put replace the object only if it is
	// still the version that Get or Stat reported as ObjectInfo.Version
	// (S3 If-Match with the ETag, GCS ifGenerationMatch, a lock and a
	// rename on a file system). If the key holds another version, or
	// nothing, Put fails with ErrChanged and stores nothing. It cannot be
	// combined with IfNotExists.
	IfMatch string

	// Mutable marks an object that is meant to be replaced (with IfMatch)
	// later: a sink that puts objects under retention or a hold (S3 Object
	// Lock, GCS holds and object retention) leaves this one out, or it
	// could not be replaced.
	Mutable bool
}

// CheckPutOptions returns an error if opts combines conditions that
// exclude each other.
func CheckPutOptions(opts PutOptions) error {
	if opts.IfNotExists && opts.IfMatch != "" {
		return errors.New("backup: PutOptions.IfNotExists and IfMatch cannot both be set")
	}
	return nil
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key as given to Put (without any prefix a sink
	// adds on the store).
	Key string

	// Size is the length of the body in bytes.
	Size int64

	// Metadata is what Put stored, or nil when there was none or when the
	// ObjectInfo comes from List.
	Metadata map[string]string

	// SHA256 is the SHA-256 of the body as recorded by the store or the
	// sink (32 bytes), or nil when it is not known (for example from List,
	// or for an object that some other tool wrote).
	SHA256 []byte

	// ModTime is when the store last wrote the object.
	ModTime time.Time

	// Version identifies this version of the object, for
	// PutOptions.IfMatch: the S3 ETag, the GCS generation, a digest of a
	// file's header. Get and Stat set it; List may leave it empty. It is
	// opaque: compare it only for equality.
	Version string
}

// MaxKeyLen is the longest key, in bytes, that every sink accepts (the S3 and
// GCS limit). A sink that adds a prefix of its own leaves less room.
const MaxKeyLen = 1024

// ReservedMetadataPrefix starts metadata keys that sinks use for themselves
// (for example to keep a SHA-256 that the store cannot). Callers may not use
// such keys; sinks strip them from the Metadata they return.
const ReservedMetadataPrefix = "tol-"

// ValidateKey reports whether key can name an object on every sink, and
// returns an error wrapping ErrInvalidKey if not.
//
// A key is one or more elements separated by '/'. Each element is non-empty,
// does not begin with '.' (which rules out "." and ".." and leaves dot names
// to sinks for temporary files), and is made of printable ASCII other than
// '\'. So there is no leading or trailing '/', no "//", and a key can be used
// as a relative file path on any system. The whole key is at most MaxKeyLen
// bytes.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key is %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for elem := range strings.SplitSeq(key, "/") {
		if elem == "" {
			return fmt.Errorf("%w: %q has an empty path element", ErrInvalidKey, key)
		}
		if elem[0] == '.' {
			return fmt.Errorf("%w: %q has a path element beginning with '.'", ErrInvalidKey, key)
		}
		for i := 0; i < len(elem); i++ {
			if c := elem[i]; c <= ' ' || c >= 0x7f || c == '\\' {
				return fmt.Errorf("%w: %q has byte %#x", ErrInvalidKey, key, c)
			}
		}
	}
	return nil
}

// Limits on metadata, chosen to fit within S3's 2 KiB of user metadata.
const (
	MaxMetadataKeyLen = 64
	MaxMetadataLen    = 1536 // sum of len(key)+len(value) over all entries
)

// ValidateMetadata reports whether md can be stored by every sink, and
// returns an error wrapping ErrInvalidMetadata if not.
//
// Keys are 1 to MaxMetadataKeyLen bytes of lower-case ASCII letters, digits
// and '-', start with a letter, and do not begin with ReservedMetadataPrefix.
// Values are printable ASCII (space included). All keys and values together
// are at most MaxMetadataLen bytes. Binary values must be encoded (hex,
// base64) by the caller.
func ValidateMetadata(md map[string]string) error {
	total := 0
	for k, v := range md {
		if k == "" || len(k) > MaxMetadataKeyLen {
			return fmt.Errorf("%w: key %q must be 1 to %d bytes", ErrInvalidMetadata, k, MaxMetadataKeyLen)
		}
		if k[0] < 'a' || k[0] > 'z' {
			return fmt.Errorf("%w: key %q must start with a lower-case letter", ErrInvalidMetadata, k)
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("%w: key %q has byte %#x", ErrInvalidMetadata, k, c)
			}
		}
		if strings.HasPrefix(k, ReservedMetadataPrefix) {
			return fmt.Errorf("%w: key %q uses the reserved prefix %q", ErrInvalidMetadata, k, ReservedMetadataPrefix)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' || c >= 0x7f {
				return fmt.Errorf("%w: value of %q has byte %#x", ErrInvalidMetadata, k, c)
			}
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataLen {
		return fmt.Errorf("%w: %d bytes in all, more than %d", ErrInvalidMetadata, total, MaxMetadataLen)
	}
	return nil
}
